#!/usr/bin/env python3
"""Follow the results of a task class with the blocking client, resumable across restarts.

    python3 examples/python/stream_results.py --addr 127.0.0.1:50052 --task-class cpu_short \
        --cursor-file results.cursor [--count 10]

Each result's cursor is saved after it is handled, so a restarted program goes on after the
last result it handled: nothing missed, nothing handled twice (while the server retains them).
A break in the connection is resumed from the cursor by the client itself.
"""

from __future__ import annotations

import argparse
import os
import sys

from orchestrator import Client


def main(args: argparse.Namespace) -> int:
    cursor = ""
    if args.cursor_file and os.path.exists(args.cursor_file):
        with open(args.cursor_file) as f:
            cursor = f.read().strip()
    handled = 0
    with Client(args.addr, token=args.token or os.environ.get("ORCHESTRATOR_TOKEN")) as client:
        with client.results(task_class=args.task_class, cursor=cursor) as results:
            for result in results:
                print(f"result {result.task_id} {result.state} {result.result_json or result.error}")
                if args.cursor_file:
                    with open(args.cursor_file, "w") as f:
                        f.write(result.cursor)
                handled += 1
                if handled == args.count:
                    break
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50052")
    parser.add_argument("--token", default="", help="bearer token (default: $ORCHESTRATOR_TOKEN)")
    parser.add_argument("--task-class", default="cpu_short")
    parser.add_argument("--cursor-file", default="", help="where the last handled result's cursor is kept")
    parser.add_argument("--count", type=int, default=0, help="stop after this many results (0: never)")
    sys.exit(main(parser.parse_args()))
