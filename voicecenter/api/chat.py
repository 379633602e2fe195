"""Web chat: the widget page, the visitors' and the agents' WebSockets.

Visitors: GET /chat/ws?visitor=ID&last_seq=N. The server answers with a
welcome naming the conversation, then every line after N, then lines as
they come. A visitor sends {"type": "message", "text", "client_id"} (acked
with its seq; resent lines are kept once), {"type": "typing", "on"} and
{"type": "end"}. Agents: GET /agents/{name}/ws, see AgentDesk.handle.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from ..channels.agents import MAX_TEXT
from ..channels.conversation import CUSTOMER
from ..channels.hub import ConversationHub
from ..channels.limits import RateLimiter
from ..store.errors import NoSuchAgent, NotFound
from .auth import allow, public
from .errors import ApiError, bad_request, not_found
from .keys import SERVICES

routes = web.RouteTableDef()

WEB = Path(__file__).resolve().parent.parent / "web" / "chat"
VISITOR = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
STATIC = {"widget.js": "application/javascript", "widget.css": "text/css"}
HUB_KEY = "conversations"
_visitor_limits = RateLimiter(per_second=5.0, burst=20.0)


def hub_of(request: web.Request) -> ConversationHub:
    hub = request.app[SERVICES].extras.get(HUB_KEY)
    if hub is None:
        raise ApiError(503, "chat-unavailable", "the chat service is not running")
    return hub  # type: ignore[no-any-return]


@routes.get("/chat")
@public
async def widget_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB / "index.html", headers={"Content-Type": "text/html"})


@routes.get("/chat/{name:widget\\.(js|css)}")
@public
async def widget_asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    return web.FileResponse(WEB / name, headers={"Content-Type": STATIC[name]})


@routes.get("/conversations/{conversation_id}")
@allow("supervisor", "agent", own_conversation=True)
async def conversation(request: web.Request) -> web.Response:
    """A live conversation with its lines (ended ones: see the interaction's timeline)."""
    hub = hub_of(request)
    found = hub.conversations.get(request.match_info["conversation_id"])
    if found is None:
        raise not_found("no-such-conversation", "no live conversation with this id")
    return web.json_response({**found.summary(),
                              "lines": [line.to_dict() for line in found.lines]})


@routes.get("/conversations/{conversation_id}/timeline")
@allow("supervisor", "qa", "agent", own_conversation=True)
async def conversation_timeline(request: web.Request) -> web.Response:
    """Everything on the interaction, every channel, oldest first (live or ended)."""
    hub = hub_of(request)
    await hub.writer.flush()
    try:
        events = await hub.store.interactions.timeline(request.match_info["conversation_id"])
    except NotFound as exc:
        raise not_found("no-such-interaction", "no interaction with this id") from exc
    return web.json_response({"items": [e.to_dict() for e in events]})


@routes.get("/profiles/{profile_id}")
# Agents see a customer through the interactions offered to them
# (GET /agents/{name}/interactions/{id}), never by browsing profiles.
@allow("supervisor", "qa")
async def profile(request: web.Request) -> web.Response:
    """A customer profile: identities on every channel and the interaction history."""
    found = await request.app[SERVICES].store.identities.profile(
        request.match_info["profile_id"])
    if found is None:
        raise not_found("no-such-profile", "no customer profile with this id")
    return web.json_response(found)


def _frame(raw: str) -> dict[str, Any] | None:
    try:
        frame = json.loads(raw)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


@routes.get("/chat/ws")
@public
async def visitor_socket(request: web.Request) -> web.WebSocketResponse:
    hub = hub_of(request)
    visitor = request.query.get("visitor", "")
    if not VISITOR.match(visitor):
        raise bad_request("visitor must be 8-64 letters, digits, '-' or '_'")
    try:
        last_seq = int(request.query.get("last_seq", "0"))
    except ValueError as exc:
        raise bad_request("last_seq must be an integer") from exc
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=16 * 1024)
    await ws.prepare(request)
    conv = await hub.open("chat", visitor)

    async def listener(frame: dict[str, Any]) -> None:
        if not ws.closed:
            await ws.send_json(frame)

    missed = conv.since(last_seq)
    conv.listeners.add(listener)
    try:
        await ws.send_json({"type": "welcome", "conversation": conv.id,
                            "last_seq": conv.last_seq, "agent": conv.agent})
        for line in missed:
            await ws.send_json(line.to_dict())
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = _frame(msg.data)
            answer = await _visitor_frame(hub, conv, visitor, frame)
            if answer is not None:
                await ws.send_json(answer)
            if conv.ended:
                break
    finally:
        conv.listeners.discard(listener)
    await ws.close()
    return ws


async def _visitor_frame(hub: ConversationHub, conv: Any, visitor: str,
                         frame: dict[str, Any] | None) -> dict[str, Any] | None:
    kind = frame.get("type") if frame else None
    if kind == "message":
        assert frame is not None
        text, client_id = frame.get("text"), frame.get("client_id")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            return {"type": "error", "error": "invalid-message",
                    "message": f"text must be 1..{MAX_TEXT} characters",
                    "client_id": client_id}
        if not _visitor_limits.allow(visitor):
            return {"type": "error", "error": "rate-limited",
                    "message": "too many messages; slow down and resend",
                    "client_id": client_id}
        line = await hub.from_customer(conv, text, str(client_id) if client_id else None)
        return {"type": "ack", "client_id": client_id, "seq": line.seq}
    if kind == "typing":
        assert frame is not None
        await hub.typing(conv, CUSTOMER, bool(frame.get("on", True)))
        return None
    if kind == "call_me":
        # The customer asks for a call: the agent holding the chat gets it, like an
        # agent's escalation (same dial plan), so a visitor alone dials nothing.
        assert frame is not None
        if not conv.agent or hub.escalate is None:
            return {"type": "error", "error": "no-agent",
                    "message": "a call can be asked for once an agent has the chat"}
        try:
            await hub.escalate(conv, conv.agent, frame.get("uri"))
        except ValueError as exc:
            return {"type": "error", "error": "invalid-escalation", "message": str(exc)}
        await hub.desk.push(conv.agent, {"type": "call_requested",
                                         "conversation": conv.id})
        return {"type": "calling"}
    if kind == "end":
        await hub.end(conv, "closed by customer")
        return None
    return {"type": "error", "error": "invalid-frame", "message": "unknown or malformed frame"}


@routes.get("/agents/{name}/ws")
@allow("supervisor", "agent", own_agent=True)
async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    hub = hub_of(request)
    name = request.match_info["name"]
    try:
        await request.app[SERVICES].store.agents.get(name)
    except NoSuchAgent as exc:
        raise not_found("no-such-agent", f"no agent named {name!r}") from exc
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=16 * 1024)
    await ws.prepare(request)
    await hub.desk.attach(name, ws)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = _frame(msg.data)
            answer = await hub.desk.handle(name, frame) if frame else \
                {"type": "error", "error": "invalid-frame", "message": "not a JSON object"}
            if answer is not None:
                await ws.send_json(answer)
    finally:
        hub.desk.detach(name, ws)
    return ws
