"""Simulated voice calls as a scenario building block: initiate over HTTP, stream audio
frames over a WebSocket at real-time pace, poll the call's status, hang up.

    class Caller(User):
        @task
        async def call(self):
            await self.calls.run("support", initiate={"path": "/calls", "json": {"codec": "pcmu"}},
                                 media="/calls/{id}/media", status="/calls/{id}", hangup="/calls/{id}",
                                 duration=30, frame_ms=20, sample_rate=8000, codec="pcmu", audio="tone")

One `run` is one call, from its (intended) start to its end; a user runs one call at a
time, so closed-loop users are concurrent calls. Frames go out on an absolute schedule:
frame k is due `k * frame_ms` after the media socket opened, whatever the earlier frames
cost, and how far behind its slot each frame went out is its lateness. The audio is
encoded once per call kind and worker (driver.payloads.audio.Frames).

What is recorded, through the worker's ScenarioContext (NAME is the call's name):

- `call:NAME:initiate`, `call:NAME:status`, `call:NAME:hangup` — the requests (latency,
  status classes, 429/503 throttled). One check per initiate answer: passed when the
  call was accepted (a status in `accept`, 2xx by default, and an id at the `id` json
  path), failed with `call rejected: status 503` or `call id: nothing at json path id`;
  one per hangup answer (`hangup: status 500`). A status poll past the plan's request
  timeout is a request timeout there (and polled again on a new connection).
- `call:NAME:setup` — an aggregate: the time from the call's start to its media socket
  open (the initiate's answer and the WebSocket handshake); sent: calls accepted; count:
  media connected.
- `call:NAME:lateness` — an aggregate of frames: sent and count the frames sent, the
  latency each frame's lateness; bytes out the audio, messages and bytes in what the
  server sent back on the media socket (events, transcripts).
- `call:NAME` — an aggregate of calls: sent the calls started, count the calls
  completed (every frame sent, the hangup answered), latency the call's length from its
  start to the hangup's answer. A call ends exactly one way: completed, dropped (the
  server ended the media socket early: a `connection_reset` error with the reason `call
  dropped: closed without a close frame after 12 of 50 frames`), failed (an `other`
  error with its reason: `call rejected: status 503`, `initiate: connect_refused`,
  `media connect: protocol_error`, `call failed: state failed`, `hangup: status 500`),
  or unfinished (the run ended during it: its age recorded).

So calls started = completed + dropped + failed + unfinished (`call:NAME` sent =
count + its connection_reset, other and unfinished errors). A media socket that ends
early is followed by one status request: a failure state there makes the call failed,
anything else dropped (and hung up, as a client would).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson

from driver._speedups import now_ns
from driver.layout import C_BYTES_OUT, C_ERR_CONN_RESET, C_ERR_OTHER, C_FLOWS, C_SENT, C_UNFINISHED, H_LATENCY
from driver.payloads.audio import AudioSpec, Frames
from driver.plan import call_endpoints as endpoint_names  # the names a YAML plan knows
from driver.scenario.api import User, constant, task
from driver.scenario.callmedia import connect_media
from driver.scenario.session import HttpSession, RunOver, json_path, status_matches

__all__ = ["CallSpec", "CallResult", "Calls", "DemoCaller", "OUTCOMES", "endpoint_names"]

OUTCOMES = ("completed", "dropped", "failed", "unfinished")
MAX_DURATION_S = 24 * 3600.0


@dataclass(frozen=True)
class CallSpec:
    """One kind of call (see the module docstring); checked on creation (ValueError)."""

    name: str
    media: str = "/calls/{id}/media"  # the media socket's path (or ws:// URL); {id}: the call's id
    status: str | None = "/calls/{id}"  # polled while the call runs; None: never
    hangup: str | None = "/calls/{id}"  # None: the call ends by closing its media socket
    hangup_method: str = "DELETE"
    id: str = "id"  # json path of the id in the initiate's answer
    state: str = "state"  # json path of the state in a status answer
    failure: tuple = ("failed",)  # states that end the call as failed
    accept: tuple = ("2xx",)  # initiate statuses that mean accepted
    duration_s: float = 10.0  # audio streamed per call
    poll_interval_s: float = 1.0
    codec: str = "pcm16"
    sample_rate: int = 8000
    frame_ms: float = 20.0
    audio: str = "tone"  # or a WAV file's path
    headers: tuple = ()  # (name, value) pairs for the media socket, polls and hangup (the target's auth)

    def __post_init__(self) -> None:
        for key in ("duration_s", "poll_interval_s"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_DURATION_S:
                raise ValueError(f"{key[:-2]} must be a number of seconds above 0 and at most 24h, got {value!r}")
        for key in ("media", "status", "hangup"):
            path = getattr(self, key)
            if path is not None and (not isinstance(path, str) or not path.startswith(("/", "ws://", "wss://"))
                                     or (key != "media" and path.startswith(("ws://", "wss://")))):
                raise ValueError(f"{key} must be a path like /calls/{{id}}, got {path!r}")
        if self.hangup_method not in ("DELETE", "POST", "PUT", "PATCH", "GET"):
            raise ValueError(f"hangup method must be DELETE, POST, PUT, PATCH or GET, got {self.hangup_method!r}")
        self.audio_spec()  # codec, rate, frame length, audio

    def audio_spec(self) -> AudioSpec:
        return AudioSpec(self.codec, self.sample_rate, self.frame_ms, self.audio)

    @property
    def frames(self) -> int:
        """Frames per call: the duration in whole frames (at least one)."""
        return max(1, round(self.duration_s * 1000.0 / self.frame_ms))


@dataclass
class CallResult:
    """What one call did (what its endpoints counted)."""

    outcome: str = "unfinished"
    reason: str | None = None
    id: str | None = None
    frames_due: int = 0
    frames_sent: int = 0
    messages: int = 0  # what the server sent on the media socket
    setup_ns: int | None = None
    state: object = None  # the last state a status answer gave


class _Endpoints:
    """The names and slots of one call name in one worker."""

    def __init__(self, ctx, name: str) -> None:
        base = "call:" + name
        self.initiate, self.status, self.hangup = base + ":initiate", base + ":status", base + ":hangup"
        self.setup, self.lateness, self.call = ctx.slot(base + ":setup"), ctx.slot(base + ":lateness"), ctx.slot(base)


class Calls:
    """`self.calls` of a virtual user: runs calls and records them (module docstring)."""

    def __init__(self, user) -> None:
        self.user = user
        self.ctx = user.http.context

    async def run(self, name: str, initiate, **options) -> CallResult:
        """One call of kind `name`; `initiate` is a dict (`method` POST by default, `path`,
        `json` or `body`, `headers`) or a function returning one; `options` are CallSpec's
        fields (`duration`, `poll_interval` in seconds also under those names; `hangup` a
        path, or a dict with `method` and `path`)."""
        for short in ("duration", "poll_interval"):
            if short in options:
                options[short + "_s"] = options.pop(short)
        hangup = options.get("hangup")
        if isinstance(hangup, dict):
            options["hangup"] = hangup["path"]
            options["hangup_method"] = hangup.get("method", "DELETE").upper()
        return await self.run_spec(CallSpec(name, **options), initiate)

    def _kind(self, spec: CallSpec) -> tuple[_Endpoints, Frames]:
        """The endpoints and the encoded audio of a call kind, made once per worker."""
        key = ("calls", spec.name, spec.audio_spec())
        got = self.ctx.shared.get(key)
        if got is None:
            got = self.ctx.shared[key] = (_Endpoints(self.ctx, spec.name), Frames(spec.audio_spec()))
        return got

    async def run_spec(self, spec: CallSpec, initiate) -> CallResult:
        ctx = self.ctx
        eps, frames = self._kind(spec)
        # open loop: from the iteration's intended start (its arrival), as every latency is
        start = (getattr(self.user, "iteration_start_ns", None) if ctx.open_loop else None) or now_ns()
        call = _Call(spec, eps, start)
        ctx.count(eps.call, C_SENT, 1)
        try:
            await self._call(call, frames, initiate() if callable(initiate) else initiate)
        except (asyncio.CancelledError, RunOver):  # the run ended during the call
            call.abandon(ctx)
            raise
        return call.result

    async def _call(self, call: "_Call", frames: Frames, req: dict) -> None:
        spec, eps, ctx, session = call.spec, call.eps, self.ctx, self.user.http
        resp = await _timed(ctx, session, req.get("method", "POST"), req["path"], eps.initiate,
                            json=req.get("json"), body=req.get("body"), headers=req.get("headers"))
        if resp.error is not None:
            return call.end(ctx, "failed", f"initiate: {resp.error}")
        reason = None if status_matches(resp.status, spec.accept) else f"call rejected: status {resp.status}"
        if reason is None:
            try:
                call_id = json_path(resp.json(), spec.id)
            except orjson.JSONDecodeError:
                call_id = None
            if call_id is None or isinstance(call_id, (dict, list)):
                reason = f"call id: nothing at json path {spec.id}"
            else:
                call.result.id = str(call_id)
        ctx.checks(resp.slot, 1, [reason] if reason else ())
        if reason:
            return call.end(ctx, "failed", reason)
        ctx.count(eps.setup, C_SENT, 1)
        call.media, error = await connect_media(ctx, call.path(spec.media), eps.lateness, spec.headers)
        if error is not None:
            await self._hangup(call, session)
            return call.end(ctx, "failed", f"media connect: {error}")
        setup = now_ns() - call.start_ns
        call.result.setup_ns = setup
        ctx.count(eps.setup, C_FLOWS, 1)
        ctx.record(eps.setup, H_LATENCY, setup)
        polls = HttpSession(ctx) if spec.status else None
        poller = ctx.loop.create_task(self._poll(call, polls)) if polls is not None else None
        try:
            await self._stream(call, frames)
            call.polling = False
            await self._finish(call, session)
            if poller is not None:  # a poll in flight ends within its timeout
                await poller
        except BaseException:
            if poller is not None:
                poller.cancel()
                polls.abandon(now_ns())
            raise
        finally:
            if polls is not None:
                polls.close()

    async def _stream(self, call: "_Call", frames: Frames) -> None:
        """Frames at real-time pace: frame k is due k frame lengths after the socket opened."""
        spec, media, slot, rec = call.spec, call.media, call.eps.lateness, self.ctx.rec
        n, frame_ns = spec.frames, spec.audio_spec().frame_ns
        call.result.frames_due = n
        sleep = asyncio.sleep
        sent = 0
        t0 = now_ns()
        try:
            for k in range(n):
                due = t0 + k * frame_ns
                now = now_ns()
                if due > now:
                    await sleep((due - now) / 1e9)
                    now = now_ns()
                if call.failed_state or not media.send(frames.frame(k)):
                    break
                sent += 1
                rec.count(slot, C_SENT, 1)
                rec.count(slot, C_FLOWS, 1)
                rec.record(slot, H_LATENCY, now - due)  # its lateness: behind its real-time slot
        finally:
            call.result.frames_sent = sent
            rec.count(slot, C_BYTES_OUT, sent * frames.frame_bytes)

    async def _finish(self, call: "_Call", session: HttpSession) -> None:
        """After the last frame (or the media's early end): the call's one outcome."""
        spec, ctx, media, result = call.spec, self.ctx, call.media, call.result
        if call.failed_state:
            await media.close()
            return call.end(ctx, "failed", f"call failed: state {call.failed_state}")
        if result.frames_sent < result.frames_due or media.why is not None:  # the server ended it early
            why = media.why or "closed"
            state = await self._state(call, session) if spec.status else None
            if state is not None and state in spec.failure:
                return call.end(ctx, "failed", f"call failed: state {state}")
            await self._hangup(call, session)
            return call.end(ctx, "dropped", f"call dropped: {why} after {result.frames_sent} of "
                                            f"{result.frames_due} frames")
        reason = await self._hangup(call, session)
        await media.close()
        call.end(ctx, "failed", reason) if reason is not None else call.end(ctx, "completed")

    async def _hangup(self, call: "_Call", session: HttpSession) -> str | None:
        """Hang up (when the spec says how): None when it was accepted, else why not."""
        spec, ctx = call.spec, self.ctx
        if spec.hangup is None:
            return None
        if call.media is not None:  # from now on the server may close the media socket
            call.media.hung_up()
        resp = await _timed(ctx, session, spec.hangup_method, call.path(spec.hangup), call.eps.hangup,
                            headers=dict(spec.headers) or None)
        if resp.error is not None:
            return f"hangup: {resp.error}"
        reason = None if 200 <= resp.status < 300 else f"hangup: status {resp.status}"
        ctx.checks(resp.slot, 1, [reason] if reason else ())
        return reason

    async def _state(self, call: "_Call", session: HttpSession):
        """The call's state from one status request (None when there was no answer)."""
        resp = await _timed(self.ctx, session, "GET", call.path(call.spec.status), call.eps.status,
                            headers=dict(call.spec.headers) or None)
        if resp.error is not None or resp.status != 200:
            return None
        try:
            state = json_path(resp.json(), call.spec.state)
        except orjson.JSONDecodeError:
            return None
        call.result.state = state
        return state

    async def _poll(self, call: "_Call", session: HttpSession) -> None:
        """Poll the status every `poll_interval` while the frames go; a failure state stops them."""
        while True:
            await asyncio.sleep(call.spec.poll_interval_s)
            if not call.polling:
                return
            state = await self._state(call, session)
            if state is not None and state in call.spec.failure:
                call.failed_state = str(state)
                return


async def _timed(ctx, session: HttpSession, method: str, path: str, name: str, **kw):
    """A request that gives up after the plan's request timeout: a request timeout on its
    endpoint, its connection dropped (the next request opens another)."""
    timer = ctx.loop.call_later(ctx.plan.request_timeout_s, _expire, session)
    try:
        return await session.request(method, path, name=name, **kw)
    finally:
        timer.cancel()


def _expire(session: HttpSession) -> None:
    conn = session.conn
    if conn is not None and conn.busy:
        conn.timed_out()


class _Call:
    """One call: its spec, endpoints, start, media socket and result; it ends once."""

    __slots__ = ("spec", "eps", "start_ns", "media", "result", "polling", "failed_state")

    def __init__(self, spec: CallSpec, eps: _Endpoints, start_ns: int) -> None:
        self.spec, self.eps, self.start_ns = spec, eps, start_ns
        self.media = None
        self.result = CallResult()
        self.polling = True
        self.failed_state: str | None = None  # a failure state a poll saw

    def path(self, template: str) -> str:
        return template.replace("{id}", self.result.id or "")

    def end(self, ctx, outcome: str, reason: str | None = None) -> None:
        """The call's one outcome on `call:NAME` (reasons kept as jobs keep theirs: in the
        reasons table, not as checks, so that the error rate alone judges calls)."""
        result = self.result
        if result.outcome != "unfinished" or outcome == "unfinished":
            return
        result.outcome, result.reason = outcome, reason
        if self.media is not None:
            result.messages = self.media.messages
        slot = self.eps.call
        if outcome == "completed":
            ctx.count(slot, C_FLOWS, 1)
            ctx.record(slot, H_LATENCY, now_ns() - self.start_ns)
            return
        ctx.count(slot, C_ERR_CONN_RESET if outcome == "dropped" else C_ERR_OTHER, 1)
        ctx.registry.check_failed(slot, reason)

    def abandon(self, ctx) -> None:
        """The run ended during the call: unfinished, its age recorded; its socket closed."""
        if self.media is not None:
            self.media.abandon()
        if self.result.outcome == "unfinished" and self.result.reason is None:
            self.result.reason = "the run ended"
            ctx.count(self.eps.call, C_UNFINISHED, 1)
            ctx.record(self.eps.call, H_LATENCY, now_ns() - self.start_ns)


class DemoCaller(User):
    """The caller `driver demo --calls` runs against the demo call API
    (driver.targets.calls_demo): 3 s calls of 8 kHz µ-law tone, polled every second and
    hung up, one after another (a refused caller tries again after 100 ms)."""

    wait = constant(0.1)

    @task
    async def call(self) -> None:
        await self.calls.run("demo", initiate={"path": "/calls", "json": {"codec": "pcmu", "sample_rate": 8000,
                                                                          "frame_ms": 20}},
                             codec="pcmu", sample_rate=8000, frame_ms=20, duration=3, poll_interval=1)
