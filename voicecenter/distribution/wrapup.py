"""Wrap-up: the time an agent gets after a conversation, ended by a disposition.

An agent in wrap-up gets no offers. It ends when the agent sets a
disposition (and notes) for the conversation, or when the configured
wrap-up time runs out; either way the agent is available again and the
disposition, if any, lands on the interaction's timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..routing.model import AgentState
from ..routing.router import Router

log = logging.getLogger("voicecenter.distribution")


class NotInWrapUp(Exception):
    """The agent has no conversation to wrap up (maps to 409 not-in-wrap-up)."""


class InvalidDisposition(ValueError):
    """A disposition code that is not configured (maps to 400)."""


@dataclass
class WrapUp:
    agent: str
    call_id: str
    timer: asyncio.Task[None] | None = None


class WrapUps:
    def __init__(self, router: Router, now: Callable[[], float], wake: asyncio.Event,
                 seconds: float, dispositions: list[str]) -> None:
        self.router = router
        self.now = now
        self.wake = wake
        self.seconds = seconds
        self.dispositions = dispositions
        self.open: dict[str, WrapUp] = {}

    def started(self, agent: str, call_id: str) -> None:
        """The agent entered wrap-up after `call_id`; time it if configured."""
        self.cancel(agent)
        wrap = WrapUp(agent, call_id)
        if self.seconds > 0:
            wrap.timer = asyncio.create_task(self._expire(wrap), name=f"wrap-up-{agent}")
        self.open[agent] = wrap

    def finish(self, agent: str, disposition: str | None) -> str:
        """End the agent's wrap-up; the call it was for."""
        wrap = self.open.get(agent)
        if wrap is None or self.router.agent(agent).state is not AgentState.WRAP_UP:
            raise NotInWrapUp(agent)
        if disposition is not None and self.dispositions and \
                disposition not in self.dispositions:
            raise InvalidDisposition(f"disposition {disposition!r} is not one of "
                                     f"{', '.join(self.dispositions)}")
        self.cancel(agent)
        self.router.set_agent_state(agent, AgentState.AVAILABLE, self.now())
        self.wake.set()
        return wrap.call_id

    def cancel(self, agent: str) -> None:
        wrap = self.open.pop(agent, None)
        if wrap is not None and wrap.timer is not None:
            wrap.timer.cancel()

    async def _expire(self, wrap: WrapUp) -> None:
        await asyncio.sleep(self.seconds)
        if self.open.get(wrap.agent) is not wrap:
            return
        self.open.pop(wrap.agent, None)
        with contextlib.suppress(Exception):
            if self.router.agent(wrap.agent).state is AgentState.WRAP_UP:
                log.info("agent=%s wrap-up after call=%s timed out", wrap.agent, wrap.call_id)
                self.router.set_agent_state(wrap.agent, AgentState.AVAILABLE, self.now())
                self.wake.set()

    def close(self) -> None:
        for agent in list(self.open):
            self.cancel(agent)
