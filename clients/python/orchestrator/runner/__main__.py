"""Serves a Runner defined in a module:

    python -m orchestrator.runner MODULE[:OBJECT] [--address HOST:PORT] [--grace-seconds S]

MODULE is a dotted module name (importable from the current directory) or a path to a .py
file; OBJECT names the Runner in it (default ``runner``). The token comes from --token-file or
the ORCHESTRATOR_RUNNER_TOKEN environment variable (never from the command line, where other
users can read it); flags override what the Runner was built with.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from pathlib import Path

from orchestrator.runner.runner import DEFAULT_ADDRESS, Runner, RunnerTls

TOKEN_ENV = "ORCHESTRATOR_RUNNER_TOKEN"


class UsageError(Exception):
    """A bad argument, reported with the flag it came from."""


def load_runner(target: str) -> Runner:
    """Imports MODULE[:OBJECT] and returns the Runner it names."""
    module_name, _, attr = target.partition(":")
    attr = attr or "runner"
    if not module_name:
        raise UsageError(f"target: {target!r} names no module (MODULE[:OBJECT])")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise UsageError(f"target: no file {module_name}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"target: cannot load {module_name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    else:
        sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name and module_name.startswith(err.name):
                raise UsageError(f"target: no module named {module_name!r}") from err
            raise
    runner = getattr(module, attr, None)
    if not isinstance(runner, Runner):
        raise UsageError(f"target: {module_name}:{attr} is {type(runner).__name__}, not an orchestrator.runner.Runner")
    return runner


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m orchestrator.runner", description="Serve an Orchestrator task runner.")
    parser.add_argument("target", help="MODULE[:OBJECT], the Runner to serve (OBJECT defaults to runner)")
    parser.add_argument("--address", default=DEFAULT_ADDRESS, help=f"host:port to listen on (default {DEFAULT_ADDRESS}; port 0 picks one)")
    parser.add_argument("--max-concurrency", type=int, help="most tasks run at once (default: the Runner's)")
    parser.add_argument("--grace-seconds", type=float, default=25.0, help="on SIGTERM/SIGINT, how long running tasks may finish (default 25)")
    parser.add_argument("--force-seconds", type=float, default=5.0, help="then how long cancelled tasks may take to stop (default 5)")
    parser.add_argument("--token-file", help=f"file holding the bearer token pools must send (or ${TOKEN_ENV})")
    parser.add_argument("--tls-cert", help="PEM certificate chain: serve TLS")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument("--tls-client-ca", help="PEM CA that pools' client certificates must be signed by")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        runner = load_runner(args.target)
        if args.max_concurrency is not None:
            if args.max_concurrency < 1:
                raise UsageError("--max-concurrency: must be at least 1")
            runner.max_concurrency = args.max_concurrency
        if args.grace_seconds < 0 or args.force_seconds < 0:
            raise UsageError("--grace-seconds/--force-seconds: must not be negative")
        token = os.environ.get(TOKEN_ENV, "")
        if args.token_file:
            try:
                token = Path(args.token_file).read_text().strip()
            except OSError as err:
                raise UsageError(f"--token-file: cannot read {args.token_file}: {err.strerror}") from err
            if not token:
                raise UsageError(f"--token-file: {args.token_file} is empty")
        if token:
            runner.token = token.strip()
        if args.tls_cert or args.tls_key:
            if not (args.tls_cert and args.tls_key):
                raise UsageError("--tls-cert and --tls-key: give both")
            runner.tls = RunnerTls(args.tls_cert, args.tls_key, args.tls_client_ca)
        elif args.tls_client_ca:
            raise UsageError("--tls-client-ca: needs --tls-cert and --tls-key")
        runner.serve(args.address, grace_seconds=args.grace_seconds, force_seconds=args.force_seconds)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
