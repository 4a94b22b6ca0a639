"""The demo call API: calls set up over HTTP, their audio streamed over a WebSocket, with
faults for tests.

Routes:

- `POST /calls` — a JSON object (`codec`: pcm16|pcmu, `sample_rate`, `frame_ms`: what the
  media will carry; the defaults are the server's) makes a call: 201 `{"id", "state":
  "ringing", "media": "/calls/ID/media", "media_url": "ws://HOST/calls/ID/media"}` after
  `setup_ms`; `busy_status` (503 or 429, with `Retry-After: 1` for 429) and `{"error":
  "at capacity"}` when `max_calls` calls are not ended; 400 for a bad body.
- `WS /calls/{id}/media` — binary frames of audio: the call turns `active` with the
  first connection; each frame is counted, its size checked against the codec, rate and
  frame length (`bad_frames` otherwise), and its arrival against real time from the
  first frame: more than `late_ms` behind its slot is a late frame, more than one frame
  ahead an early one (a client that does not pace). Every `event_every` frames the server
  sends a text message `{"type": "transcript", "frames": N, "text": "..."}`. When the
  call is hung up the server closes the socket (1000).
- `GET /calls/{id}` — `{"id", "state": ringing|active|ended|failed, "frames",
  "bad_frames", "late_frames", "early_frames", "max_late_ms", "bytes", "reason"}`.
- `DELETE /calls/{id}` or `POST /calls/{id}/hangup` — ends the call: 200 and its
  document (a call already ended or failed keeps its state); 404 for an unknown id.
- `GET /stats` — `{"active", "calls", "rejected", "ended", "failed", "dropped",
  "frames"}`; `GET /health` — `{"ok": true}`.

Faults: `max_calls` (capacity; 0: none); `setup_ms` (a slow setup); `drop_every=N` —
every Nth call's media socket is cut (a TCP reset, no close frame) after `drop_after`
frames, the call then `ended` with the reason `media lost`; `fail_every=N` — every Nth
call fails after `drop_after` frames: its state `failed`, its socket closed with 1011;
`stall_status_every=N` — every Nth `GET /calls/{id}` is never answered.

Run it with `python -m driver.targets.calls_demo --port 8092`; the tests use
`driver.targets.process.CallsDemoTargetProcess` for one in its own process.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from driver.targets.serving import LISTENING_PREFIX, serve_app

__all__ = ["CallsConfig", "LISTENING_PREFIX", "main", "make_app", "parser", "serve"]

CODECS = {"pcm16": 2, "pcmu": 1}  # bytes per sample (as driver.payloads.audio)
ENDED = ("ended", "failed")
KEEP_CALLS = 100_000  # calls remembered; the oldest ended ones are forgotten past it
STALL_S = 3600.0
_JSON = "application/json"


@dataclass(frozen=True)
class CallsConfig:
    """How the call API behaves (see the module docstring); checked on creation."""

    max_calls: int = 0
    busy_status: int = 503
    setup_ms: float = 0.0
    codec: str = "pcm16"
    sample_rate: int = 8000
    frame_ms: float = 20.0
    late_ms: float = 60.0
    event_every: int = 50
    drop_every: int = 0
    fail_every: int = 0
    drop_after: int = 10
    stall_status_every: int = 0

    def __post_init__(self) -> None:
        for name in ("max_calls", "drop_every", "fail_every", "stall_status_every", "drop_after", "event_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {getattr(self, name)!r}")
        if self.busy_status not in (429, 503):
            raise ValueError(f"busy_status must be 429 or 503, got {self.busy_status!r}")
        if self.setup_ms < 0 or self.late_ms <= 0 or self.frame_ms <= 0 or self.sample_rate <= 0:
            raise ValueError("setup_ms must be >= 0, and late_ms, frame_ms and sample_rate > 0")
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of {', '.join(CODECS)}, got {self.codec!r}")


class _Call:
    __slots__ = ("id", "number", "state", "reason", "frame_bytes", "frame_s", "frames", "bad_frames", "late_frames",
                 "early_frames", "max_late_s", "bytes", "first_at", "socket")

    def __init__(self, call_id: str, number: int, frame_bytes: int, frame_s: float) -> None:
        self.id, self.number = call_id, number
        self.state, self.reason = "ringing", None
        self.frame_bytes, self.frame_s = frame_bytes, frame_s
        self.frames = self.bad_frames = self.late_frames = self.early_frames = self.bytes = 0
        self.max_late_s = 0.0
        self.first_at = 0.0
        self.socket: web.WebSocketResponse | None = None

    def doc(self) -> dict:
        return {"id": self.id, "state": self.state, "frames": self.frames, "bad_frames": self.bad_frames,
                "late_frames": self.late_frames, "early_frames": self.early_frames,
                "max_late_ms": round(self.max_late_s * 1000.0, 3), "bytes": self.bytes, "reason": self.reason}

    def frame(self, size: int, now: float, late_s: float) -> None:
        """One frame in: counted, its size and its arrival against the frame's real-time slot."""
        if self.frames == 0:
            self.first_at = now
        behind = now - (self.first_at + self.frames * self.frame_s)
        self.frames += 1
        self.bytes += size
        if size != self.frame_bytes:
            self.bad_frames += 1
        if behind > late_s:
            self.late_frames += 1
        elif behind < -self.frame_s:
            self.early_frames += 1
        self.max_late_s = max(self.max_late_s, behind)


class _Calls:
    """The calls and the counts."""

    def __init__(self, config: CallsConfig) -> None:
        self.config = config
        self.calls: dict[str, _Call] = {}
        self.numbers = itertools.count(1)
        self.polls = itertools.count(1)
        self.active = self.rejected = self.ended = self.failed = self.dropped = self.total = 0

    def open(self, frame_bytes: int, frame_s: float) -> _Call | None:
        if self.config.max_calls and self.active >= self.config.max_calls:
            self.rejected += 1
            return None
        n = next(self.numbers)
        call = _Call(f"c{n}", n, frame_bytes, frame_s)
        self.calls[call.id] = call
        if len(self.calls) > KEEP_CALLS:
            oldest = next(iter(self.calls.values()))
            if oldest.state in ENDED:
                del self.calls[oldest.id]
        self.active += 1
        self.total += 1
        return call

    def end(self, call: _Call, state: str = "ended", reason: str | None = None) -> None:
        if call.state in ENDED:
            return
        call.state, call.reason = state, reason
        self.active -= 1
        if state == "failed":
            self.failed += 1
        elif reason == "media lost":
            self.dropped += 1
        else:
            self.ended += 1

    def counts(self) -> dict:
        return {"active": self.active, "calls": self.total, "rejected": self.rejected, "ended": self.ended,
                "failed": self.failed, "dropped": self.dropped,
                "frames": sum(c.frames for c in self.calls.values())}


def _json(doc: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(doc), status=status, content_type=_JSON, headers=headers)


def _media_format(body: dict, c: CallsConfig) -> tuple[int, float] | None:
    """(frame bytes, frame seconds) for the call's declared format; None when it is not valid."""
    codec, rate, frame_ms = body.get("codec", c.codec), body.get("sample_rate", c.sample_rate), \
        body.get("frame_ms", c.frame_ms)
    if codec not in CODECS or not isinstance(rate, int) or isinstance(rate, bool) or not 1000 <= rate <= 192000:
        return None
    if not isinstance(frame_ms, (int, float)) or not 0 < frame_ms <= 1000:
        return None
    return round(rate * frame_ms / 1000.0) * CODECS[codec], frame_ms / 1000.0


def make_app(config: CallsConfig | None = None, **options: Any) -> web.Application:
    """The aiohttp application: a CallsConfig, or its fields as keywords (checked here)."""
    config = config or CallsConfig(**options)
    calls = _Calls(config)
    closing: set[asyncio.Task] = set()  # media sockets being closed after a hangup
    app = web.Application()

    async def initiate(request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read() or b"{}")
        except orjson.JSONDecodeError:
            body = None
        fmt = _media_format(body, config) if isinstance(body, dict) else None
        if fmt is None:
            return _json({"error": "the body must be a JSON object with a valid codec, sample_rate and frame_ms"},
                         400)
        call = calls.open(*fmt)
        if call is None:
            return _json({"error": "at capacity"}, config.busy_status,
                         {"Retry-After": "1"} if config.busy_status == 429 else None)
        if config.setup_ms:
            await asyncio.sleep(config.setup_ms / 1000.0)
        media = f"/calls/{call.id}/media"
        return _json({"id": call.id, "state": call.state, "media": media,
                      "media_url": f"ws://{request.host}{media}"}, 201)

    async def media(request: web.Request) -> web.StreamResponse:
        call = calls.calls.get(request.match_info["id"])
        if call is None or call.state in ENDED or call.socket is not None:
            return _json({"error": "no such call, or it has media already"}, 404)
        ws = web.WebSocketResponse(max_msg_size=1 << 20)
        await ws.prepare(request)
        call.socket = ws
        call.state = "active"
        c = config
        cut = c.drop_every and call.number % c.drop_every == 0
        fail = c.fail_every and call.number % c.fail_every == 0
        late_s = c.late_ms / 1000.0
        async for msg in ws:
            if msg.type != WSMsgType.BINARY:
                continue
            call.frame(len(msg.data), time.perf_counter(), late_s)
            if c.event_every and call.frames % c.event_every == 0:
                await ws.send_str(orjson.dumps({"type": "transcript", "frames": call.frames,
                                                "text": f"{call.frames} frames heard"}).decode())
            if (cut or fail) and call.frames >= c.drop_after:
                if fail:
                    calls.end(call, "failed", "simulated failure")
                    await ws.close(code=1011, message=b"call failed")
                elif request.transport is not None:
                    calls.end(call, "ended", "media lost")
                    request.transport.abort()  # RST: no close frame
                break
        if call.state not in ENDED:  # the client went away without hanging up
            calls.end(call, "ended", "media lost")
        return ws

    async def status(request: web.Request) -> web.Response:
        n = next(calls.polls)
        if config.stall_status_every and n % config.stall_status_every == 0:
            await asyncio.sleep(STALL_S)
        call = calls.calls.get(request.match_info["id"])
        if call is None:
            return _json({"error": "no such call"}, 404)
        return _json(call.doc())

    async def hangup(request: web.Request) -> web.Response:
        call = calls.calls.get(request.match_info["id"])
        if call is None:
            return _json({"error": "no such call"}, 404)
        calls.end(call, "ended", "hung up")
        if call.socket is not None and not call.socket.closed:  # the close handshake is not the hangup's answer
            task = asyncio.get_running_loop().create_task(call.socket.close(code=1000, message=b"hung up"))
            closing.add(task)
            task.add_done_callback(closing.discard)
        return _json(call.doc())

    async def stats(request: web.Request) -> web.Response:
        return _json(calls.counts())

    async def health(request: web.Request) -> web.Response:
        return _json({"ok": True})

    app.router.add_post("/calls", initiate)
    app.router.add_get("/calls/{id}/media", media)
    app.router.add_get("/calls/{id}", status)
    app.router.add_delete("/calls/{id}", hangup)
    app.router.add_post("/calls/{id}/hangup", hangup)
    app.router.add_get("/stats", stats)
    app.router.add_get("/health", health)
    app["calls"] = calls
    return app


def serve(host: str = "127.0.0.1", port: int = 0, config: CallsConfig | None = None) -> None:
    """Run on uvloop until SIGTERM/SIGINT; prints `demo target listening on http://HOST:PORT`."""
    import uvloop

    uvloop.run(serve_app(host, port, make_app(config or CallsConfig())))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m driver.targets.calls_demo",
                                description="A call API with audio over WebSocket to point driver at.")
    add = p.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8092, help="0 picks a free port")
    add("--max-calls", type=int, default=0, metavar="N", help="calls at the same time before refusing (0: no limit)")
    add("--busy-status", type=int, default=503, choices=(429, 503), help="the answer at capacity")
    add("--setup-ms", type=float, default=0.0, metavar="MS", help="how long POST /calls takes")
    add("--codec", default="pcm16", choices=tuple(CODECS), help="the default media codec")
    add("--sample-rate", type=int, default=8000, metavar="HZ", help="the default sample rate")
    add("--frame-ms", type=float, default=20.0, metavar="MS", help="the default frame length")
    add("--late-ms", type=float, default=60.0, metavar="MS", help="a frame this far behind real time is late")
    add("--event-every", type=int, default=50, metavar="N", help="a transcript message every N frames (0: none)")
    f = p.add_argument_group("faults", "each on every Nth call or status poll (0 = none)")
    f.add_argument("--drop-every", type=int, default=0, metavar="N", help="cut these calls' media sockets")
    f.add_argument("--fail-every", type=int, default=0, metavar="N", help="these calls fail")
    f.add_argument("--drop-after", type=int, default=10, metavar="FRAMES", help="... after this many frames")
    f.add_argument("--stall-status-every", type=int, default=0, metavar="N", help="never answer these GET /calls/{id}")
    return p


def parse(argv: list[str] | None = None) -> dict[str, Any]:
    """Flags -> `serve`'s keywords; a bad value exits 2 with one error line."""
    p = parser()
    a = p.parse_args(argv)
    try:
        config = CallsConfig(a.max_calls, a.busy_status, a.setup_ms, a.codec, a.sample_rate, a.frame_ms, a.late_ms,
                             a.event_every, a.drop_every, a.fail_every, a.drop_after, a.stall_status_every)
    except ValueError as e:
        name, rest = str(e).split(" ", 1)
        p.error(f"--{name.replace('_', '-')} {rest}")
    return {"host": a.host, "port": a.port, "config": config}


def main(argv: list[str] | None = None) -> None:
    """`python -m driver.targets.calls_demo [flags]`."""
    serve(**parse(argv))


if __name__ == "__main__":
    main()
