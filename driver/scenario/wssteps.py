"""The WebSocket steps of YAML flows (driver.config.wssteps writes them) at run time.

A step works on the user's current connection (`self.ws.current`, the last one a
connect step opened or reused), which outlives the flow: the next iteration's flow
finds it open unless a step closed it or the server ended it. A connect step closes
the user's open connection of the same name first, or keeps it with `reuse: true`. Each step returns whether it
went well, as the HTTP steps do (driver.scenario.yamltasks), so a failed step ends
its flow and counts against `flow:NAME`.
"""
from __future__ import annotations

import asyncio
import re

import orjson

from driver.payloads.templates import compile_template
from driver.scenario.session import json_path

NO_CONNECTION = "no open WebSocket connection"


class WsStep:
    """One `ws:` step of a flow, its templates compiled."""

    def __init__(self, step: dict):
        ws = step["ws"]
        self.name = step["name"]
        self.op = ws["op"]
        self.timeout = ws["timeout"]
        self.think = step["think"]
        self.capture = {var: (source, re.compile(arg) if source == "regex" else arg)
                        for var, how in step["capture"].items() for source, arg in how.items()}
        if self.op == "connect":
            self.path = compile_template(ws["path"])
            self.headers = [(k, compile_template(v)) for k, v in ws["headers"].items()]
            self.subprotocols = list(ws["subprotocols"])
            self.conn_name = ws["as"]
            self.ts_path = ws["ts_path"]
            self.reuse = ws["reuse"]
        elif self.op == "send":
            (self.kind, body), = ws["body"].items()
            self.body = compile_template(body)
            self.id_path = ws["id"]
        if self.op in ("send", "receive"):
            self.expect = ws["expect"]
            self.waits = self.op == "receive" or self.id_path is not None or self.expect is not None

    async def run(self, user) -> bool:
        op = self.op
        if op == "connect":
            ok = await self._connect(user)
        else:
            conn = user.ws.current
            if conn is None or not conn.open:
                context = user.http.context
                context.checks(context.slot(self.name), 1, (NO_CONNECTION,))
                return False
            if op == "send":
                ok = await self._send(user, conn)
            elif op == "receive":
                ok = self._got(user, await conn.receive(self.timeout, name=self.name))
            elif op == "ping":
                ok = await conn.ping(self.timeout, name=self.name) is not None
            else:
                await conn.close()
                ok = True
        if self.think is not None:
            pause = self.think.pause(0.0, user.rng.random)
            if pause > 0:
                await asyncio.sleep(pause)
        return ok

    async def _connect(self, user) -> bool:
        client = user.ws
        ident, captured, rng = user.user, user.captured, user.rng
        path = self.path.render_str(ident, captured, rng)
        conn = client.find(self.conn_name or client.default_name(path))
        if conn is not None:
            if self.reuse:
                client.current = conn
                return True
            await conn.close()
        headers = {k: t.render_str(ident, captured, rng) for k, t in self.headers}
        conn = await client.connect(path, headers=headers, subprotocols=self.subprotocols, name=self.conn_name,
                                    ts_path=self.ts_path, timeout=self.timeout)
        return conn.error is None

    async def _send(self, user, conn) -> bool:
        ident, captured, rng = user.user, user.captured, user.rng
        if not self.waits:
            if self.kind == "json":
                return await conn.send_text(self.body.render_json(ident, captured, rng).decode())
            return await conn.send_text(self.body.render_str(ident, captured, rng))
        if self.id_path is not None:
            message = self.body.render(ident, captured, rng)
        elif self.kind == "json":
            message = self.body.render_json(ident, captured, rng).decode()
        else:
            message = self.body.render_str(ident, captured, rng)
        msg = await conn.request(message, id_path=self.id_path, name=self.name, timeout=self.timeout)
        return self._got(user, msg)

    def _got(self, user, msg) -> bool:
        """Check and capture from a message (or its absence, already counted)."""
        ok = msg.error is None
        if self.expect:
            ok = msg.expect(**self.expect) and ok
        if self.capture and ok:
            ok = self._capture(user, msg)
        return ok

    def _capture(self, user, msg) -> bool:
        missing = []
        for var, (source, arg) in self.capture.items():
            value = None
            if source == "json":
                try:
                    value = json_path(msg.json(), arg)
                except orjson.JSONDecodeError:
                    value = None
            else:
                m = arg.search(msg.text)
                value = (m.group(1) if m.groups() else m.group(0)) if m else None
            if value is None:
                missing.append(f"capture {var}: {source} {getattr(arg, 'pattern', arg)} not found")
            else:
                user.captured[var] = value
        msg.check(not missing, missing[0] if missing else "")
        return not missing
