"""The virtual users of `driver demo --ws` and `driver demo --jobs`: what a user of the
demo WebSocket server (driver.targets.ws_demo) and of the demo job API
(driver.targets.jobs_demo) does, as Python scenarios (`driver.scenario.wsdemo:WsDemo`,
`driver.scenario.wsdemo:JobsDemo`).

WsDemo: one connection to /echo for JSON round trips matched by their id (`echo`), one
to /push whose messages are timed from their `ts_ns` (`push:feed`) and counted as they
come, and a ping on the echo connection every tenth round trip (`echo ping`).

JobsDemo: each iteration submits a batch of jobs (`job:report:submit`) and follows each
to its end by polling (`job:report`, `job:report:first_progress`,
`job:report:processing`).
"""
from __future__ import annotations

from driver.scenario.api import User, constant, task

__all__ = ["WsDemo", "JobsDemo", "PUSH_INTERVAL_MS"]

PUSH_INTERVAL_MS = 100  # one push a tenth of a second per user


class WsDemo(User):
    wait = constant(0.05)

    async def on_start(self):
        self.echo = await self.ws.connect("/echo", name="echo")
        self.feed = await self.ws.connect(f"/push?interval_ms={PUSH_INTERVAL_MS}", name="feed", ts_path="ts_ns")
        self.feed.on_push(_keep_none)  # timed and counted as they come, not queued for a receive
        self.round_trips = 0

    @task
    async def round_trip(self):
        self.round_trips += 1
        answer = await self.echo.request({"op": "echo", "n": self.round_trips}, id_path="id", name="echo")
        answer.expect(json={"op": "echo"})
        if self.round_trips % 10 == 0:
            await self.echo.ping(timeout=2)


def _keep_none(msg) -> None:
    """A push needs nothing more than being timed and counted."""


class JobsDemo(User):
    wait = constant(0.2)

    @task
    async def report(self):
        await self.jobs.run("report", {"path": "/jobs", "json": {"kind": "report"}}, poll="/jobs/{id}",
                            interval=0.05, backoff=1.5, max_interval=0.5, processing="processing_ms",
                            jobs=10, batch_size=5, timeout=10)
