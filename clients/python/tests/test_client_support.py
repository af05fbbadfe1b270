"""What the client suites share: the live system's address and credentials from the
environment (test/python-client.int.test.ts sets them), a TCP proxy that can cut every
connection through it, and a poll with a deadline.

Environment: ORQ_TEST_ADDR (host:port of a live orchestrator with a pool serving cpu_short and
the test handlers), ORQ_TEST_TOKEN (an admin token), ORQ_TEST_READ_TOKEN (a read-only one),
ORQ_TEST_SLOW_TOKEN (a submit token allowed one task, then one per 100 s),
ORQ_TEST_TLS_ADDR with ORQ_TEST_TLS_CA, ORQ_TEST_TLS_CERT, ORQ_TEST_TLS_KEY (the same system
behind mutual TLS). Without ORQ_TEST_ADDR the suites skip.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
import unittest
import uuid
from typing import Callable, TypeVar

T = TypeVar("T")

ADDR = os.environ.get("ORQ_TEST_ADDR", "")
TOKEN = os.environ.get("ORQ_TEST_TOKEN", "")
READ_TOKEN = os.environ.get("ORQ_TEST_READ_TOKEN", "")
SLOW_TOKEN = os.environ.get("ORQ_TEST_SLOW_TOKEN", "")
TLS_ADDR = os.environ.get("ORQ_TEST_TLS_ADDR", "")
TLS_CA = os.environ.get("ORQ_TEST_TLS_CA", "")
TLS_CERT = os.environ.get("ORQ_TEST_TLS_CERT", "")
TLS_KEY = os.environ.get("ORQ_TEST_TLS_KEY", "")
#: The class the system's pool serves.
CLASS = "cpu_short"


def require_system() -> None:
    """Skips the calling module when no live system was given."""
    if not ADDR:
        raise unittest.SkipTest("ORQ_TEST_ADDR is not set: run through test/python-client.int.test.ts")


def unique(prefix: str) -> str:
    """An id no other test (or run) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_until(fn: Callable[[], T], timeout: float = 20.0, message: str = "condition") -> T:
    """Calls `fn` until it returns something truthy, or fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout} s")
        time.sleep(0.05)


class CuttingProxy:
    """A TCP proxy to `target` on 127.0.0.1 that can cut every connection through it at once
    (as a server going away or a network break does) while it goes on accepting new ones."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._cut = 0  # sockets before this index are cut already
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._spawn(self._accept)

    def _spawn(self, fn: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            self._spawn(self._pipe, client, upstream)
            self._spawn(self._pipe, upstream, client)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    @property
    def connections(self) -> int:
        """Connections made through the proxy so far."""
        with self._lock:
            return len(self._sockets) // 2

    def cut(self) -> None:
        """Resets every open connection (SO_LINGER 0: an RST, as a dead peer's kernel sends)."""
        with self._lock:
            sockets, self._cut = self._sockets[self._cut :], len(self._sockets)
        for s in sockets:
            # shutdown wakes the pipe threads blocked in recv (close alone would not, on Linux);
            # closing with SO_LINGER 0 then resets the connection.
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        """Stops accepting, cuts what is open and waits for its threads."""
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept thread
        except OSError:
            pass
        self._listener.close()
        self.cut()
        for t in self._threads:
            t.join(timeout=5)
