"""A pull worker written with the official Python SDK (ironflow-py), used by
ironflow-engine/tests/interop.rs against `ironflow serve --dev`: three steps and a
durable sleep, and a managed projection counting the events that start it
(the SDK's projection runner: binary Connect calls, a runner lease, the
connect+json event stream). With `IRONFLOW_STREAMING=1` it is the SDK's
streaming worker (`WorkerService/Connect` over h2c), else its REST polling
worker."""

import asyncio
import os
import sys

from ironflow.projection import create_projection
from ironflow.worker import StreamingWorker, Worker, function


@function(id="py-three-steps", triggers=[{"event": "interop.started"}])
async def three_steps(ctx):
    n = ctx.event.data["n"]
    doubled = await ctx.step.run("double", lambda: n * 2)
    await ctx.step.sleep("nap", 1)
    plus = await ctx.step.run("add-one", lambda: doubled + 1)
    squared = await ctx.step.run("square", lambda: plus * plus)
    return {"doubled": doubled, "plus": plus, "squared": squared}


def count_started(state, event, ctx):
    return {"count": state["count"] + 1, "last_n": event.data["n"]}


started = create_projection(
    name="py-started",
    events=["interop.started"],
    handler=count_started,
    initial_state=lambda: {"count": 0},
)


async def main():
    if os.environ.get("IRONFLOW_STREAMING") == "1":
        worker = StreamingWorker(
            functions=[three_steps],
            projections=[started],
            server_url=os.environ["IRONFLOW_SERVER_URL"],
            heartbeat_interval=1,
            reconnect_delay=1,
        )
    else:
        worker = Worker(
            functions=[three_steps],
            projections=[started],
            server_url=os.environ["IRONFLOW_SERVER_URL"],
            heartbeat_interval=1,
            poll_wait=2,
            checkpoint_interval=0.2,
        )
    await worker.start()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
