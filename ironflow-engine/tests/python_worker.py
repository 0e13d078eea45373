"""A pull worker written with the official Python SDK (ironflow-py), used by
ironflow-engine/tests/interop.rs against `ironflow serve --dev`: three steps and a
durable sleep. With `IRONFLOW_STREAMING=1` it is the SDK's streaming worker
(`WorkerService/Connect` over h2c), else its REST polling worker."""

import asyncio
import os
import sys

from ironflow.worker import StreamingWorker, Worker, function


@function(id="py-three-steps", triggers=[{"event": "interop.started"}])
async def three_steps(ctx):
    n = ctx.event.data["n"]
    doubled = await ctx.step.run("double", lambda: n * 2)
    await ctx.step.sleep("nap", 1)
    plus = await ctx.step.run("add-one", lambda: doubled + 1)
    squared = await ctx.step.run("square", lambda: plus * plus)
    return {"doubled": doubled, "plus": plus, "squared": squared}


async def main():
    if os.environ.get("IRONFLOW_STREAMING") == "1":
        worker = StreamingWorker(
            functions=[three_steps],
            server_url=os.environ["IRONFLOW_SERVER_URL"],
            heartbeat_interval=1,
            reconnect_delay=1,
        )
    else:
        worker = Worker(
            functions=[three_steps],
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
