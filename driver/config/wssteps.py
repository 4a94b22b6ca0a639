"""WebSocket steps of a YAML flow (`ws:`) -> the normalised dicts driver.scenario.wssteps runs.

    flows:
      - name: chat
        steps:
          - ws: {connect: /chat, headers: {Authorization: "Bearer ${TOKEN}"}, as: chat, ts_path: ts_ns}
          - name: join
            ws: {send: {json: {op: join, room: "{{user.id}}"}}, id: id, expect: {json: {ok: true}}}
          - ws: {send: {text: hello}}
          - name: news
            ws: {receive: true, expect: {contains: headline}, timeout: 5s}
          - ws: {ping: true}
          - ws: {close: true}

A step does one thing, named by its one key among `connect`, `send`, `receive`, `ping`
and `close`. The user keeps its connection between steps and flows (`connect` with
`reuse: true` keeps one that is still open). Every node is read with a
driver.config.schema.Doc, so an error names file:line.
"""
from __future__ import annotations

from yaml.nodes import MappingNode, Node, ScalarNode

from driver.config.schema import Doc, join
from driver.engine.ws import lifetime_name

OPS = ("connect", "send", "receive", "ping", "close")
OP_KEYS = {  # the keys each kind of step takes beside its own
    "connect": ("headers", "subprotocols", "as", "ts_path", "reuse", "timeout"),
    "send": ("id", "expect", "timeout"),
    "receive": ("expect", "timeout"),
    "ping": ("timeout",),
    "close": (),
}
STEP_KEYS = ("name", "ws", "capture", "think")
SEND_BODIES = ("json", "text")
EXPECT_KEYS = ("json", "contains")


def is_ws_step(node: Node) -> bool:
    """Whether a flow step is a WebSocket step (it has a `ws:` key)."""
    return isinstance(node, MappingNode) and any(
        isinstance(k, ScalarNode) and k.value == "ws" for k, _ in node.value)


def ws_step(doc: Doc, node: Node, where: str, ctx: dict, step_name: str, conn_name: str | None) -> dict:
    """One WebSocket step, normalised: {"name", "also", "ws": {...}, "capture", "think"}.

    `conn_name`: the endpoint of the connection an earlier step of the flow opened (None
    when none did). A step records where its work is counted: a connect on `ws:connect`,
    a send that waits for no answer and a close on the connection's endpoint, the rest
    (a send with `id` or `expect`, a receive, a ping) on the step's own name.
    """
    from driver.config.tasks import _capture  # the HTTP steps' reader: the same {var: {json|regex: ...}}

    got = doc.fields(node, where, STEP_KEYS, required=("ws",))
    at = join(where, "ws")
    items = doc.items(got["ws"], at)
    ops = [name for name, _, _ in items if name in OPS]
    if len(ops) != 1:
        raise doc.error(got["ws"], f"{at} takes exactly one of {', '.join(OPS)}"
                                   + (f", got {', '.join(ops)}" if ops else ""))
    op = ops[0]
    fields = doc.fields(got["ws"], at, (op, *OP_KEYS[op]))
    out: dict = {"op": op, "timeout": None}
    if "timeout" in fields:
        out["timeout"] = doc.duration(fields["timeout"], join(at, "timeout"))
    named = doc.string(got["name"], join(where, "name")) if "name" in got else None
    if op == "connect":
        out.update(_connect(doc, fields, at, ctx))
        default = "ws:connect"
    elif op == "send":
        out.update(_send(doc, fields, at))
        waits = out["id"] is not None or out["expect"] is not None
        default = step_name if waits or conn_name is None else conn_name
    elif op == "receive":
        _true(doc, fields["receive"], join(at, "receive"))
        out["expect"] = _expect(doc, fields["expect"], join(at, "expect")) if "expect" in fields else None
        default = step_name
    elif op == "ping":
        _true(doc, fields["ping"], join(at, "ping"))
        default = step_name
    else:
        _true(doc, fields["close"], join(at, "close"))
        default = conn_name or step_name
    capture = _capture(doc, got["capture"], join(where, "capture")) if "capture" in got else {}
    if capture and not (op == "receive" or (op == "send" and (out["id"] or out["expect"] is not None))):
        raise doc.error(got["capture"], f"{join(where, 'capture')}: only a step that gets a message "
                                        "(receive, or a send with id or expect) captures")
    if any("header" in how for how in capture.values()):
        raise doc.error(got["capture"], f"{join(where, 'capture')}: a WebSocket message has no headers "
                                        "(capture json or regex)")
    also = ()
    if op == "connect":  # where its messages and its timed pushes count
        conn = out["as"] or _default_name(out["path"])
        also = (conn, "push:" + conn) if out["ts_path"] else (conn,)
        life = lifetime_name(conn)  # its connections' lifetimes, where the stats keep them apart
        also += (life,) if life is not None else ()
    return {
        "name": named or default,
        "also": also,  # endpoints the step records on beside its name
        "ws": out,
        "capture": capture,
        "think": doc.think(got["think"], join(where, "think")) if "think" in got else None,
    }


def connection_name(step: dict) -> str | None:
    """The endpoint of the connection a normalised connect step opens (None for other steps)."""
    ws = step["ws"]
    if ws["op"] != "connect":
        return None
    return ws["as"] or _default_name(ws["path"])


def _default_name(path: str) -> str:
    """driver.scenario.ws.WsClient.default_name: `WS /path`, without the query."""
    path = path.split("?", 1)[0]
    return "WS " + (path if path.startswith(("/", "ws:", "wss:")) else "/" + path)


def _true(doc: Doc, node: Node, where: str) -> None:
    if not doc.boolean(node, where):
        raise doc.error(node, f"{where} must be true (leave the step out otherwise)")


def _connect(doc: Doc, fields: dict, at: str, ctx: dict) -> dict:
    path_node = fields["connect"]
    path = doc.string(path_node, join(at, "connect"), template=True)
    if path.lower().startswith(("http://", "https://")) or any(c.isspace() for c in path):
        raise doc.error(path_node, f"{join(at, 'connect')} must be a path like /chat (the host comes from "
                                   f"target.base_url) or a ws:// or wss:// URL, got {path!r}")
    if not path.lower().startswith(("ws://", "wss://")):
        path = ctx["base_path"] + "/" + path.lstrip("/")
    headers = dict(ctx["headers"])
    if "headers" in fields:
        own = doc.headers(fields["headers"], join(at, "headers"))
        lowered = {k.lower() for k in own}
        headers = {k: v for k, v in headers.items() if k.lower() not in lowered} | own
    protocols = ()
    if "subprotocols" in fields:
        where = join(at, "subprotocols")
        protocols = tuple(doc.string(n, join(where, i)) for i, n in enumerate(doc.seq(fields["subprotocols"], where)))
    return {
        "path": path,
        "headers": headers,
        "subprotocols": protocols,
        "as": doc.string(fields["as"], join(at, "as")) if "as" in fields else None,
        "ts_path": doc.string(fields["ts_path"], join(at, "ts_path")) if "ts_path" in fields else None,
        "reuse": doc.boolean(fields["reuse"], join(at, "reuse")) if "reuse" in fields else False,
    }


def _send(doc: Doc, fields: dict, at: str) -> dict:
    where = join(at, "send")
    body = doc.fields(fields["send"], where, SEND_BODIES)
    if len(body) != 1:
        raise doc.error(fields["send"], f"{where} takes exactly one of {', '.join(SEND_BODIES)}")
    (kind, node), = body.items()
    value = (doc.data(node, join(where, kind), template=True) if kind == "json"
             else doc.string(node, join(where, kind), empty=True, template=True))
    msg_id = doc.string(fields["id"], join(at, "id")) if "id" in fields else None
    if msg_id is not None and not (kind == "json" and isinstance(value, dict)):
        raise doc.error(fields["id"], f"{join(at, 'id')}: matching an answer by id needs a JSON object "
                                      f"in {where}.json")
    if msg_id is not None and "[" in msg_id:
        raise doc.error(fields["id"], f"{join(at, 'id')} must be a dotted path of keys like id or "
                                      f"meta.request_id, got {msg_id!r}")
    return {
        "body": {kind: value},
        "id": msg_id,
        "expect": _expect(doc, fields["expect"], join(at, "expect")) if "expect" in fields else None,
    }


def _expect(doc: Doc, node: Node, where: str) -> dict:
    got = doc.fields(node, where, EXPECT_KEYS)
    out = {"json": {}, "contains": None}
    if "json" in got:
        out["json"] = {path: doc.data(v, join(join(where, "json"), path))
                       for path, _, v in doc.items(got["json"], join(where, "json"))}
    if "contains" in got:
        out["contains"] = doc.string(got["contains"], join(where, "contains"))
    return out
