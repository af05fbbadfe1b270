"""How the clients connect: TLS settings, channel options and the metadata every call carries."""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from typing import Any, Mapping, Sequence

import grpc

from ..errors import InvalidArgumentError

#: The server's default ``grpc.maxMessageBytes``: results and batches up to it get through.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: Deadline of unary calls when a call gives none, in seconds.
DEFAULT_TIMEOUT_S = 30.0
#: Interval of HTTP/2 keepalive pings, in seconds: long streams through NATs and load balancers
#: that drop idle connections stay up, and a dead peer is noticed within about this plus
#: KEEPALIVE_TIMEOUT_S. The server permits pings without calls (grpc.keepalive_permit_without_calls).
KEEPALIVE_TIME_S = 30.0
KEEPALIVE_TIMEOUT_S = 10.0


def _read(value: bytes | str | PathLike[str] | None, name: str) -> bytes | None:
    """PEM bytes as given, or read from a path."""
    if value is None or isinstance(value, bytes):
        return value
    try:
        with open(value, "rb") as f:
            return f.read()
    except OSError as err:
        raise InvalidArgumentError(f"tls.{name}: cannot read {value}: {err.strerror}", field=f"tls.{name}") from err


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """TLS to the server. Each certificate or key is PEM ``bytes`` or a path to a PEM file.

    Attributes:
        ca: The CA certificate(s) that signed the server's certificate; ``None``: the system's roots.
        cert_chain: This client's certificate chain, for mutual TLS (with ``private_key``).
        private_key: The private key of ``cert_chain``.
        server_name: The name to check the server's certificate against, when it is not the
            host of the address (``grpc.ssl_target_name_override``).
    """

    ca: bytes | str | PathLike[str] | None = None
    cert_chain: bytes | str | PathLike[str] | None = None
    private_key: bytes | str | PathLike[str] | None = None
    server_name: str | None = None

    def _credentials(self) -> grpc.ChannelCredentials:
        cert, key = _read(self.cert_chain, "cert_chain"), _read(self.private_key, "private_key")
        if (cert is None) != (key is None):
            raise InvalidArgumentError("tls: cert_chain and private_key go together (mutual TLS)", field="tls.private_key")
        return grpc.ssl_channel_credentials(root_certificates=_read(self.ca, "ca"), private_key=key, certificate_chain=cert)


def channel_options(
    tls: TlsConfig | None, max_message_bytes: int, extra: Sequence[tuple[str, Any]]
) -> list[tuple[str, Any]]:
    """The channel arguments: message limits, keepalive, the TLS name override, then `extra`."""
    opts: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", int(KEEPALIVE_TIME_S * 1000)),
        ("grpc.keepalive_timeout_ms", int(KEEPALIVE_TIMEOUT_S * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    if tls is not None and tls.server_name:
        opts.append(("grpc.ssl_target_name_override", tls.server_name))
    return opts + list(extra)


def call_metadata(token: str | None, metadata: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """Metadata of every call: the bearer token, when there is one, and the caller's own.

    The token travels as per-call metadata rather than call credentials: grpc sends call
    credentials only over TLS, and a token over plain TCP on a trusted network is allowed.
    """
    out = [(k.lower(), v) for k, v in (metadata or {}).items() if k.lower() != "authorization"]
    if token:
        out.append(("authorization", f"Bearer {token}"))
    return tuple(out)
