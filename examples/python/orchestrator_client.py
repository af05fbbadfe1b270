#!/usr/bin/env python3
"""Submit a task to Orchestrator over gRPC from Python and stream its result.

The client code is generated from Orchestrator's own proto at start-up (grpcio-tools), so it
always matches the server it talks to. On Debian: apt-get install python3-grpcio python3-grpc-tools.

    python3 examples/python/orchestrator_client.py --addr 127.0.0.1:50052 \
        --task-class cpu_short --payload text=hello [--logs]

With --logs, the task's captured output (GetTaskLogs, every attempt) is printed after its result.
"""
import argparse
import importlib
import os
import sys
import tempfile

import grpc
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))


def load_stubs():
    """Generates orchestrator_pb2 / orchestrator_pb2_grpc into a temporary directory and imports them."""
    out = tempfile.mkdtemp(prefix="orq-py-")
    proto = os.path.join("orchestrator", "v1", "orchestrator.proto")
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    code = protoc.main(["grpc_tools.protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", proto])
    if code != 0:
        sys.exit(f"protoc failed on {proto} (exit {code})")
    sys.path.insert(0, out)
    return importlib.import_module("orchestrator.v1.orchestrator_pb2"), importlib.import_module("orchestrator.v1.orchestrator_pb2_grpc")


def print_logs(pb, stub, task_id, metadata):
    """Every attempt's captured lines: "log <attempt> <stream> <text>"."""
    logs = stub.GetTaskLogs(pb.GetTaskLogsRequest(task_id=task_id, all_attempts=True), timeout=10, metadata=metadata)
    for line in logs.lines:
        print(f"log {line.attempt} {pb.LogStream.Name(line.stream)} {line.text}")
    if logs.truncated:
        print("log (truncated: a SYSTEM line says how many lines were dropped)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50052")
    parser.add_argument("--task-class", default="cpu_short")
    parser.add_argument("--payload", action="append", default=[], help="key=value (repeatable)")
    parser.add_argument("--handler", default="echo")
    parser.add_argument("--token", default="", help="bearer token, when the server requires one")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the result")
    parser.add_argument("--logs", action="store_true", help="print the task's logs (every attempt) after its result")
    args = parser.parse_args()

    pb, pb_grpc = load_stubs()
    payload = dict(p.split("=", 1) for p in args.payload) or {"from": "python"}
    metadata = [("authorization", f"Bearer {args.token}")] if args.token else []

    with grpc.insecure_channel(args.addr) as channel:
        stub = pb_grpc.OrchestratorServiceStub(channel)
        task = pb.TaskSpec(task_class=args.task_class, payload=payload, executor=pb.ExecutorSpec(handler=pb.HandlerExecutor(name=args.handler)))
        try:
            submitted = stub.SubmitTask(pb.SubmitTaskRequest(task=task), timeout=10, metadata=metadata)
        except grpc.RpcError as err:
            print(f"submit failed: {err.code().name}: {err.details()}", file=sys.stderr)
            return 2
        print(f"submitted {submitted.task_id} ({pb.TaskState.Name(submitted.state)})")
        results = stub.StreamTaskResults(
            pb.StreamTaskResultsRequest(task_ids=[submitted.task_id], close_when_done=True), timeout=args.timeout, metadata=metadata
        )
        for result in results:
            state = pb.TaskState.Name(result.state)
            print(f"result {result.task_id} {state} attempt={result.attempt} {result.result_json if result.state == pb.TASK_STATE_SUCCEEDED else result.error}")
            if result.HasField("failure"):
                # The task's own failure: kind, exit code (a process's), whether a retry could help, output tail.
                f = result.failure
                code = f" exit_code={f.exit_code.value}" if f.HasField("exit_code") else ""
                print(f"failure kind={f.kind}{code} retryable={f.retryable}")
                for line in f.output_tail.splitlines():
                    print(f"  {line}")
            if args.logs:
                print_logs(pb, stub, result.task_id, metadata)
            return 0 if result.state == pb.TASK_STATE_SUCCEEDED else 1
    return 1


if __name__ == "__main__":
    sys.exit(main())
