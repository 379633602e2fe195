"""Desk presence: an agent whose desk page is closed gets no more offers.

The agent's state follows the desk page. When the last desk WebSocket of an
agent closes (the tab closed, the laptop slept, the network went), an agent
who could take calls is set away with the reason "desk closed", so the
router stops ringing a phone nobody watches. An agent in a call is never
disturbed: the call goes on, and when it ends the agent goes away instead
of available. A short grace period lets a page reload reconnect first.

Only desk sockets count (GET /agents/{name}/desk/ws): scripts and CRMs on
the plain agent socket come and go without changing anyone's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from enum import StrEnum
from typing import TYPE_CHECKING

from ..routing.errors import UnknownAgent
from ..routing.model import AgentState, Channel

if TYPE_CHECKING:
    from .service import DistributionService

log = logging.getLogger("voicecenter.distribution")

DESK_CLOSED = "desk closed"
# States in which a closed desk would still get offers (or sits in wrap-up that
# nobody will finish): these go away. Offline and away stay as they are.
_ACTIVE = frozenset({AgentState.AVAILABLE, AgentState.RESERVED, AgentState.BUSY,
                     AgentState.WRAP_UP})


class Closing(StrEnum):
    """What happens to an agent whose last desk closed."""

    AWAY = "away"  # now
    AFTER_CALL = "after_call"  # when the call in progress ends
    NOTHING = "nothing"  # already offline or away


def on_desk_closed(state: AgentState, in_call: bool) -> Closing:
    """The rule, kept pure so it is tested without a server."""
    if state not in _ACTIVE:
        return Closing.NOTHING
    return Closing.AFTER_CALL if in_call else Closing.AWAY


class DeskPresence:
    def __init__(self, distribution: DistributionService, grace_s: float = 2.0) -> None:
        self.distribution = distribution
        self.grace_s = grace_s
        self.sockets: dict[str, int] = {}
        self.after_call: set[str] = set()
        self._timers: dict[str, asyncio.Task[None]] = {}

    def open(self, agent: str) -> bool:
        return self.sockets.get(agent, 0) > 0

    def opened(self, agent: str) -> None:
        self.sockets[agent] = self.sockets.get(agent, 0) + 1
        timer = self._timers.pop(agent, None)
        if timer is not None:
            timer.cancel()
        self.after_call.discard(agent)

    def closed(self, agent: str) -> None:
        left = max(0, self.sockets.get(agent, 0) - 1)
        if left:
            self.sockets[agent] = left
            return
        self.sockets.pop(agent, None)
        if agent not in self._timers:
            self._timers[agent] = asyncio.create_task(self._gone(agent),
                                                      name=f"desk-closed-{agent}")

    def in_call(self, agent: str) -> bool:
        """A voice call offered to, ringing at or talking with the agent."""
        dist = self.distribution
        try:
            load = dist.router.agent(agent).load.get(Channel.VOICE, 0)
        except UnknownAgent:
            return False
        return load > 0 or any(c.agent == agent for c in dist.conversations.values())

    def freed(self, agent: str) -> None:
        """The agent's call ended (called before the router decides again)."""
        if agent in self.after_call and not self.open(agent):
            self.after_call.discard(agent)
            self._away(agent)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def _gone(self, agent: str) -> None:
        try:
            await asyncio.sleep(self.grace_s)
        finally:
            self._timers.pop(agent, None)
        if self.open(agent):
            return
        try:
            state = self.distribution.router.agent(agent).state
        except UnknownAgent:
            return
        action = on_desk_closed(state, self.in_call(agent))
        log.info("agent=%s desk closed in state %s: %s", agent, state, action)
        if action is Closing.AWAY:
            self._away(agent)
        elif action is Closing.AFTER_CALL:
            self.after_call.add(agent)

    def _away(self, agent: str) -> None:
        dist = self.distribution
        dist.wrapups.cancel(agent)  # nobody is left to set a disposition
        with contextlib.suppress(UnknownAgent):
            dist.router.set_agent_state(agent, AgentState.AWAY, dist.now(), DESK_CLOSED)
            log.info("agent=%s set away: %s", agent, DESK_CLOSED)
        dist.wake.set()
