"""Click to call: an agent's outbound call placed by the server.

The agent's softphone rings first (so an agent never hears a customer pick
up before they are there), then the destination is dialed from the same
worker and the two are bridged and recorded like an inbound conversation.
The destination must pass the dial plan before anything is dialed.
"""

from __future__ import annotations

import asyncio

from ..calls.session import CallSession
from ..calls.waiting import first_set
from ..media.worker_link import CommandFailed, WorkerLink, WorkerUnavailable
from ..routing.errors import UnknownAgent
from ..routing.model import AgentState
from ..store.errors import NoSuchAgent
from .connect import AgentNotAvailable, Conversation, OfferFailed
from .dialplan import DialPlan
from .service import DistributionService


class NoWorker(Exception):
    """No media worker has two free call slots (maps to 503 no-capacity)."""


def pick_link(links: list[WorkerLink | None]) -> WorkerLink:
    """The live worker with the most free slots; both legs must fit on it."""
    live = [link for link in links if link is not None and not link.closed]
    best = max(live, key=lambda link: link.capacity - link.active_calls, default=None)
    if best is None or best.capacity - best.active_calls < 2:
        raise NoWorker("no media worker has room for two calls")
    return best


async def dial(distribution: DistributionService, link: WorkerLink, uri: str,
               interaction_id: str | None, info: dict[str, str],
               abort: asyncio.Event | None = None) -> CallSession:
    """Place one outbound leg and wait for its answer; OfferFailed when it is not taken
    (or when `abort` is set first: the agent hung up while the destination rang)."""
    try:
        leg = await distribution.voice.dial_leg(
            link, uri, interaction_id=interaction_id, called_number=info.get("called_number"),
            info=info)
    except (CommandFailed, WorkerUnavailable) as exc:
        raise OfferFailed(f"cannot dial {uri}: {exc}") from exc
    extra = [abort] if abort is not None else []
    await first_set(leg.media_up, leg.ended, *extra, timeout=distribution.ring_timeout_s)
    aborted = abort is not None and abort.is_set()
    if leg.media_up.is_set() and not leg.ended.is_set() and not aborted:
        return leg
    reason = leg.end_reason or ("the agent hung up" if aborted else
                                f"no answer in {distribution.ring_timeout_s:g} s")
    if not leg.ended.is_set():
        await leg.hangup()
    raise OfferFailed(f"{uri} did not answer: {reason}")


async def click_to_call(distribution: DistributionService, links: list[WorkerLink | None],
                        plan: DialPlan, agent: str, destination: str,
                        flows: dict[str, str] | None = None) -> Conversation:
    """Ring `agent`, then `destination`, bridge them; the conversation (keyed by the
    destination leg's call id, so hold, transfer and the rest work on it).

    `flows` maps the numbers of entry points (IVR flows) to a worker's host:port:
    the edge routes calls from workers to registered agents only, so a flow's
    number is dialed at a worker directly.
    """
    uri = plan.uri_for(destination)  # DestinationNotAllowed before anything else
    if flows and destination.strip() in flows:
        uri = f"sip:{destination.strip()}@{flows[destination.strip()]}"
    try:
        record = await distribution.ensure_agent(agent)
    except NoSuchAgent as exc:
        raise UnknownAgent(agent) from exc
    if record.state in (AgentState.BUSY, AgentState.RESERVED):
        raise AgentNotAvailable(agent, str(record.state))
    link = pick_link(links)
    previous = record.state
    distribution.router.set_agent_state(agent, AgentState.BUSY, distribution.now())
    try:
        agent_leg = await dial(distribution, link, f"sip:{agent}@{distribution.edge}", None,
                               {"agent": agent, "called_number": agent})
        try:
            customer = await dial(distribution, link, uri, agent_leg.interaction_id,
                                  {"called_number": destination}, abort=agent_leg.ended)
        except OfferFailed:
            await agent_leg.hangup()
            raise
    except OfferFailed:
        distribution.router.set_agent_state(agent, previous, distribution.now())
        distribution.wake.set()
        raise
    return await distribution.connect_outside_routing(customer, agent, agent_leg,
                                                      direction="outbound")
