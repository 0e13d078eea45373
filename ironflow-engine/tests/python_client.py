"""The official Python SDK's client facade (`IronflowRPC`: Connect unary in
binary protobuf, gzipped requests) against `ironflow serve --dev`, used by
ironflow-engine/tests/interop.rs after a run of the Python worker completed:
reads that run, lists runs, emits idempotently, appends to and reads an
entity stream, reads the state the worker's projection runner saved.
Prints what it saw as one JSON line."""

import json
import os
import sys
import time

from ironflow import IronflowRPC
from ironflow.rpc.v1 import (
    AppendEventRequest,
    GetProjectionRequest,
    GetRunRequest,
    GetRunStepsRequest,
    ListRunsRequest,
    ReadStreamRequest,
    TriggerRequest,
)
from protobuf.wkt import Struct


def main():
    run_id = sys.argv[1]
    seen = {}
    with IronflowRPC(server_url=os.environ["IRONFLOW_SERVER_URL"]) as rpc:
        run = rpc.runs.get(GetRunRequest(id=run_id))
        seen["run"] = {
            "id": run.id,
            "function_id": run.function_id,
            "status": int(run.status),
            "output": run.output.to_python() if run.output is not None else None,
        }
        steps = rpc.runs.get_steps(GetRunStepsRequest(run_id=run_id))
        seen["steps"] = [s.id.rsplit(":", 2)[1] for s in steps.steps]
        listed = rpc.runs.list(ListRunsRequest(function_id="py-three-steps", limit=10))
        seen["listed"] = [r.id for r in listed.runs]

        data = Struct.from_python({"n": 1})
        first = rpc.events.emit(
            TriggerRequest(event="interop.other", data=data, idempotency_key="facade-1")
        )
        again = rpc.events.emit(
            TriggerRequest(event="interop.other", data=data, idempotency_key="facade-1")
        )
        seen["idempotent"] = first.event_id != "" and again.event_id == first.event_id

        item = Struct.from_python({"item": "book"})
        appended = rpc.streams.append_event(
            AppendEventRequest(
                entity_id="cart-1",
                entity_type="cart",
                event_name="item.added",
                data=item,
                expected_version=-1,
            )
        )
        seen["entity_version"] = int(appended.entity_version)
        read = rpc.streams.read_stream(ReadStreamRequest(entity_id="cart-1"))
        seen["read"] = [[e.name, e.data.to_python()] for e in read.events]

        # The worker's projection runner folded the event that started the run.
        deadline = time.monotonic() + 30
        while True:
            try:
                got = rpc.projections.get(GetProjectionRequest(name="py-started"))
                state = got.state.to_python() if got.state is not None else None
            except Exception as e:  # not registered or no state yet
                state = repr(e)
            if isinstance(state, dict) and state.get("count", 0) >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        seen["projection"] = state
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
