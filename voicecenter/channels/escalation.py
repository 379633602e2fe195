"""Escalating a chat or SMS conversation into a call, keeping its context.

The agent asks; the server calls the customer (a SIP URI, or the SMS
number through the edge or trunk, within the dial plan), then the agent's
softphone, and bridges them. The call legs join the same interaction, the
agent's routing load moves from the text channel to voice for the call and
back afterwards, and the text conversation stays open with the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from ..distribution.connect import OfferFailed
from ..distribution.dialplan import DestinationNotAllowed, DialPlan
from ..routing.model import Channel
from .conversation import SYSTEM, Conversation

if TYPE_CHECKING:
    from ..server import Services

log = logging.getLogger("voicecenter.channels")


class Escalator:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.tasks: set[asyncio.Task[Any]] = set()

    async def escalate(self, conversation: Conversation, agent: str, target: Any) -> None:
        """Check and start the escalation; the calls are placed in the background.

        Raises ValueError (answered to the agent as invalid-escalation) when the
        destination is not allowed or the agent cannot take a call now.
        """
        services = self.services
        distribution = services.distribution
        assert distribution is not None
        destination = str(target or (conversation.address if conversation.channel == "sms"
                                     else "")).strip()
        if not destination:
            raise ValueError("a chat escalation needs uri: the customer's SIP URI or number")
        if conversation.escalation and conversation.escalation.get("state") in (
                "calling", "connected"):
            raise ValueError("this conversation already has a call")
        settings = services.settings
        plan = DialPlan.from_patterns(settings.dialplan.allow,
                                      settings.dialplan.trunk or distribution.edge)
        try:
            uri = plan.uri_for(destination)
        except DestinationNotAllowed as exc:
            raise ValueError(f"the dial plan does not allow calling {destination!r}") from exc
        if not distribution.router.escalate(conversation.id, Channel.VOICE, distribution.now()):
            raise ValueError("the agent cannot take a call now (voice capacity)")
        conversation.escalation = {"state": "calling", "to": uri, "agent": agent}
        hub = services.extras["conversations"]
        hub.writer.add(conversation.id, "interaction.escalated",
                       {"from": conversation.channel, "to": uri, "agent": agent})
        task = asyncio.ensure_future(self._call(conversation, agent, uri))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _call(self, conversation: Conversation, agent: str, uri: str) -> None:
        from ..distribution.outbound import NoWorker, dial, pick_link

        services = self.services
        distribution = services.distribution
        hub = services.extras["conversations"]
        assert distribution is not None and services.pool is not None
        pool = services.pool
        links = [pool.link(t.worker_id) for t in pool.targets()]
        await hub.say(conversation, SYSTEM, "We are calling you now.")
        try:
            link = pick_link(links)
            customer = await dial(distribution, link, uri, conversation.id,
                                  {"called_number": conversation.address})
            try:
                leg = await dial(distribution, link, f"sip:{agent}@{distribution.edge}",
                                 conversation.id, {"agent": agent, "called_number": agent})
            except OfferFailed:
                await customer.hangup()
                raise
        except (OfferFailed, NoWorker) as exc:
            log.info("conversation=%s escalation failed: %s", conversation.id, exc)
            await self._back(conversation, {"state": "failed", "reason": str(exc)})
            await hub.say(conversation, SYSTEM, "We could not reach you by phone.")
            return
        await distribution.connect_outside_routing(customer, agent, leg,
                                                   escalated_from=conversation.channel)
        conversation.escalation = {"state": "connected", "to": uri, "agent": agent,
                                   "call_id": customer.call_id, "agent_leg": leg.call_id}
        await hub.desk.push(agent, {"type": "escalation", "conversation": conversation.id,
                                    **conversation.escalation})
        ends = [asyncio.ensure_future(customer.ended.wait()),
                asyncio.ensure_future(leg.ended.wait())]
        try:
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for end in ends:
                end.cancel()
        await self._back(conversation, {"state": "ended", "call_id": customer.call_id})

    async def _back(self, conversation: Conversation, escalation: dict[str, Any]) -> None:
        """The call is over (or never was): the agent's load returns to the text channel."""
        distribution = self.services.distribution
        assert distribution is not None
        agent = (conversation.escalation or {}).get("agent") or conversation.agent
        conversation.escalation = {**(conversation.escalation or {}), **escalation}
        with contextlib.suppress(Exception):
            distribution.router.escalate(conversation.id, Channel(conversation.channel),
                                         distribution.now())
        distribution.wake.set()
        hub = self.services.extras["conversations"]
        if agent:
            await hub.desk.push(agent, {"type": "escalation", "conversation": conversation.id,
                                        **conversation.escalation})
