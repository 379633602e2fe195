"""Voice offers as agents' desks see them, and rejecting one.

When the router gives a call to an agent, the server rings the agent's phone
(connect.dial_agent). The desk page must show that offer at once, with the
customer's context, and learn how it ended: answered (the call is the
agent's), missed (rang out) or rejected. These frames go to the agent's
WebSockets (channels/agents.py), the same ones that carry chat offers:

- ``{"type": "offer", "channel": "voice", "interaction", "call_id", "from", ...}``
- ``{"type": "offer_withdrawn", "interaction", "call_id", "reason": "missed"|"rejected"}``
- ``{"type": "call", "state": "connected", "interaction", "call_id", ...}``
- ``{"type": "call", "state": "ended", "interaction", "call_id"}``

Rejecting hangs up the ringing agent leg; the routing service then counts the
offer as rejected (interaction.offer_rejected) and the router hands the call
to another agent (the rejecting agent is passed over for
``routing.missed_retry_after`` seconds, as after a miss).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..calls.session import CallSession
from .presence import DeskPresence

if TYPE_CHECKING:
    from .service import DistributionService

log = logging.getLogger("voicecenter.distribution")

Push = Callable[[str, dict[str, Any]], Awaitable[bool]]


class NoSuchOffer(Exception):
    """Nothing is ringing for this agent and interaction (maps to 404 no-such-offer)."""


@dataclass
class VoiceOffer:
    agent: str
    call_id: str  # the caller's leg: what /calls/{call_id}/... act on
    interaction: str
    caller: str  # the caller's From
    offered_at: float = field(default_factory=time.time)
    rejected: bool = False

    def frame(self) -> dict[str, Any]:
        return {"type": "offer", "channel": "voice", "interaction": self.interaction,
                "call_id": self.call_id, "from": self.caller, "agent": self.agent,
                "offered_at": self.offered_at}


def ringing_leg(sessions: Iterable[CallSession], agent: str, caller: CallSession
                ) -> CallSession | None:
    """The agent leg dialed for `caller`'s offer that has not answered yet."""
    for session in sessions:
        if session is caller or session.info.get("agent") != agent:
            continue
        if session.interaction_id != caller.interaction_id:
            continue
        if not session.media_up.is_set() and not session.ended.is_set():
            return session
    return None


def matches(offer: VoiceOffer, ident: str) -> bool:
    """An offer is named by its interaction id or by the caller's call id."""
    return ident in (offer.interaction, offer.call_id)


class DeskOffers:
    def __init__(self, distribution: DistributionService, push: Push,
                 presence: DeskPresence | None = None) -> None:
        self.distribution = distribution
        self.push = push
        self.presence = presence or DeskPresence(distribution)
        self.open: dict[str, VoiceOffer] = {}  # caller call id -> offer
        self.calls: dict[str, dict[str, Any]] = {}  # agent -> its connected call frame
        self.rejections: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- hooks the routing service calls ------------------------------------
    async def offered(self, caller: CallSession, agent: str) -> None:
        offer = VoiceOffer(agent, caller.call_id, caller.interaction_id or caller.call_id,
                           str(caller.info.get("from", "")))
        self.open[caller.call_id] = offer
        log.info("call=%s interaction=%s offered to agent=%s", caller.call_id,
                 offer.interaction, agent)
        await self._send(agent, offer.frame())

    async def withdrawn(self, caller: CallSession, agent: str) -> bool:
        """The offer ended unanswered; True when the agent rejected it."""
        offer = self.open.pop(caller.call_id, None)
        rejected = offer is not None and offer.agent == agent and offer.rejected
        if rejected:
            self.rejections[agent] += 1
        await self._send(agent, {"type": "offer_withdrawn", "channel": "voice",
                                 "interaction": caller.interaction_id or caller.call_id,
                                 "call_id": caller.call_id,
                                 "reason": "rejected" if rejected else "missed"})
        self.presence.freed(agent)  # a closed desk must not get the next offer
        return rejected

    async def connected(self, caller: CallSession, agent: str) -> None:
        self.open.pop(caller.call_id, None)
        frame = {"type": "call", "state": "connected", "channel": "voice",
                 "interaction": caller.interaction_id or caller.call_id,
                 "call_id": caller.call_id, "from": str(caller.info.get("from", "")),
                 "agent": agent, "since": time.time()}
        self.calls[agent] = frame
        await self._send(agent, frame)

    def freed(self, agent: str, caller: CallSession) -> None:
        """The agent is done with the call (hung up, transferred it away).

        Synchronous on purpose: the service calls it right after releasing the
        agent and before the router decides again, so a desk closed during the
        call sets the agent away before the next offer can be made.
        """
        current = self.calls.get(agent)
        if current is not None and current["call_id"] == caller.call_id:
            del self.calls[agent]
        self.presence.freed(agent)
        self._spawn(self._send(agent, {
            "type": "call", "state": "ended", "channel": "voice",
            "interaction": caller.interaction_id or caller.call_id,
            "call_id": caller.call_id}))

    # -- what agents ask -----------------------------------------------------
    def offer_for(self, agent: str) -> VoiceOffer | None:
        return next((o for o in self.open.values() if o.agent == agent), None)

    def involved(self, agent: str, ident: str) -> bool:
        """Whether the agent has the interaction (or call) `ident` on offer or in hand now.

        The timeline tells the same a moment later: call events are written in
        batches, so a desk asking right after an offer may not find it there yet.
        """
        if any(o.agent == agent and matches(o, ident) for o in self.open.values()):
            return True
        call = self.calls.get(agent)
        if call is not None and ident in (call["interaction"], call["call_id"]):
            return True
        dist = self.distribution
        if dist.router.holder(ident) == agent:  # chats and SMS: routed by interaction id
            return True
        return any(c.agent == agent and ident in (c.caller.interaction_id, c.caller.call_id)
                   for c in dist.conversations.values())

    async def reject(self, agent: str, ident: str) -> VoiceOffer:
        """Hang up the ringing leg of the agent's offer named `ident`."""
        offer = next((o for o in self.open.values()
                      if o.agent == agent and matches(o, ident)), None)
        caller = self.distribution.voice.by_id.get(offer.call_id) if offer else None
        leg = ringing_leg(list(self.distribution.voice.by_id.values()), agent, caller) \
            if caller is not None else None
        if offer is None or leg is None:
            raise NoSuchOffer(ident)
        offer.rejected = True
        log.info("call=%s interaction=%s rejected by agent=%s", offer.call_id,
                 offer.interaction, agent)
        try:
            await leg.hangup()
        except Exception:
            offer.rejected = False
            raise
        return offer

    def close(self) -> None:
        self.presence.close()
        for task in self._tasks:
            task.cancel()

    async def _send(self, agent: str, frame: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # a desk that went away misses nothing stored
            await self.push(agent, frame)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
