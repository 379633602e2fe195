"""Agents' WebSockets: offers and lines out, accepts, replies and closes in.

An agent may have several sockets open (two tabs, a reconnect racing the
old socket's close); every frame goes to all of them. The frames an agent
sends are handled here; what they do to a conversation is the hub's job.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .conversation import AGENT, SYSTEM, Conversation

if TYPE_CHECKING:
    from .hub import ConversationHub

log = logging.getLogger("voicecenter.channels")

MAX_TEXT = 4096


class AgentDesk:
    def __init__(self, hub: ConversationHub) -> None:
        self.hub = hub
        self.sockets: dict[str, set[web.WebSocketResponse]] = {}

    def connected(self, agent: str) -> bool:
        return bool(self.sockets.get(agent))

    async def push(self, agent: str, frame: dict[str, Any]) -> bool:
        """Send to every socket of the agent; False when none is open."""
        sent = False
        for ws in list(self.sockets.get(agent, ())):
            if ws.closed:
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json(frame)
                sent = True
        return sent

    def held(self, agent: str) -> list[Conversation]:
        return [c for c in self.hub.conversations.values()
                if c.agent == agent and not c.ended]

    async def attach(self, agent: str, ws: web.WebSocketResponse) -> None:
        self.sockets.setdefault(agent, set()).add(ws)
        await ws.send_json({"type": "hello", "agent": agent,
                            "conversations": [c.summary() for c in self.held(agent)]})

    def detach(self, agent: str, ws: web.WebSocketResponse) -> None:
        sockets = self.sockets.get(agent)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                self.sockets.pop(agent, None)

    async def handle(self, agent: str, frame: dict[str, Any]) -> dict[str, Any] | None:
        """One frame from the agent; the answer to send back, if any."""
        kind = frame.get("type")
        hub = self.hub
        if kind == "state":
            if hub.distribution is None:
                return _error("no-router", "routing is not running")
            try:
                state = await hub.distribution.set_agent_state(agent, str(frame.get("state")),
                                                               frame.get("reason"))
            except ValueError as exc:
                return _error("invalid-state", str(exc))
            return {"type": "state", "state": str(state.state)}
        conversation = hub.conversations.get(str(frame.get("conversation")))
        if conversation is None:
            return _error("no-such-conversation", "unknown conversation")
        if kind in ("accept", "decline"):
            offer = hub.offers.get(conversation.id)
            if offer is None or offer.done():
                return _error("no-offer", "no offer is open for this conversation")
            offer.set_result(kind == "accept")
            return None
        if conversation.agent != agent:
            return _error("not-yours", "this conversation is not assigned to you")
        if kind == "message":
            text = frame.get("text")
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
                return _error("invalid-message", f"text must be 1..{MAX_TEXT} characters")
            line = await hub.from_agent(agent, conversation, text)
            return {"type": "sent", "conversation": conversation.id, "seq": line.seq,
                    "client_id": frame.get("client_id")}
        if kind == "typing":
            await hub.typing(conversation, AGENT, bool(frame.get("on", True)))
            return None
        if kind == "history":
            since = frame.get("since") or 0
            if not isinstance(since, int):
                return _error("invalid-frame", "since must be an integer")
            return {"type": "history", "conversation": conversation.id,
                    "lines": [line.to_dict() for line in conversation.since(since)]}
        if kind == "close":
            await hub.end(conversation, "closed by agent")
            return None
        if kind == "escalate":
            escalate = hub.escalate
            if escalate is None:
                return _error("escalation-unavailable", "no voice service to call from")
            try:
                await escalate(conversation, agent, frame.get("uri"))
            except ValueError as exc:
                return _error("invalid-escalation", str(exc))
            return {"type": "escalating", "conversation": conversation.id}
        if kind == "call_in_code":
            return await self._call_in_code(agent, conversation)
        return _error("unknown-type", f"unknown frame type {kind!r}")

    async def _call_in_code(self, agent: str, conversation: Conversation) -> dict[str, Any]:
        """Text the customer a code to call in with; that call comes to this agent first."""
        codes = self.hub.call_in
        if codes is None:
            return _error("call-in-unavailable", "no call-in number is set (sms.call_in_number)")
        phone = conversation.address if conversation.channel == "sms" else ""
        ticket = codes.issue(conversation.id, agent, phone)
        minutes = max(1, round(codes.window_s / 60))
        self.hub.writer.add(conversation.id, "interaction.call_in_code",
                            {"agent": agent, "expires_s": codes.window_s})
        await self.hub.say(conversation, SYSTEM,
                           f"To talk to {agent}, call {codes.number} and enter code "
                           f"{ticket.code}, or dial {codes.number}{ticket.code}. "
                           f"The code works for {minutes} minutes.")
        log.info("conversation=%s agent=%s call-in code sent", conversation.id, agent)
        return {"type": "call_in_code", "conversation": conversation.id,
                "number": codes.number, "code": ticket.code, "expires_s": codes.window_s}


def _error(error: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": error, "message": message}
