"""Blind transfer to a queue or to an outside destination (the agent case is
DistributionService.blind_transfer).

To a queue: the caller goes back to routing exactly as a caller of the flows
does. The queue is one a flow's queue node names, so its skills, hold prompt,
announcements, maximum wait and what happens after it (voicemail...) are the
ones that node has: the transfer runs the flow again from that node, on the
same call and the same interaction. The agent's leg is hung up first and the
agent freed (or sent to wrap-up) as after any conversation.

To an outside destination: it must pass the dial plan (no toll fraud through
the API). It is dialed from the caller's own worker; once it answers the
caller is bridged to it, recorded on the right channel as an agent would
be, and the agent is freed. The conversation then has no agent, so call
control no longer applies to it.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..calls.session import CallSession
from ..flows.context import CallEnded, FlowContext, FlowServices
from ..flows.model import Flow
from ..flows.runner import run_flow
from ..flows.runtime import FlowRuntime, call_variables
from ..media.worker_link import CommandFailed, WorkerUnavailable
from ..routing.model import AgentState
from .connect import Conversation, OfferFailed, record_leg, swap_leg
from .dialplan import DialPlan
from .outbound import dial
from .service import DistributionService

log = logging.getLogger("voicecenter.distribution")

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class NoSuchQueue(Exception):
    """No flow's queue node serves this queue name (maps to 404 no-such-queue)."""


@dataclass(frozen=True)
class QueueTarget:
    """Where a transferred caller waits: a flow's queue node, with its skills resolved."""

    name: str
    flow: Flow
    node: str
    skills: tuple[str, ...]


def _literal(value: Any) -> bool:
    return isinstance(value, str) and not _PLACEHOLDER.search(value)


def _writes(flow: Flow, variable: str) -> set[str]:
    """Values nodes of the flow put into `variable` (a menu's options' values, a set)."""
    values: set[str] = set()
    for spec in flow.nodes.values():
        params = spec.params
        if params.get("into") == variable and isinstance(params.get("options"), dict):
            for option in params["options"].values():
                if isinstance(option, dict) and _literal(option.get("value")):
                    values.add(option["value"])
        if spec.type == "set" and isinstance(params.get("values"), dict):
            value = params["values"].get(variable)
            if _literal(value):
                values.add(value)
    return values


def _segment_skills(flow: Flow, node_id: str) -> list[Any] | None:
    """The skills of the segment node(s) leading straight to the queue node."""
    for spec in flow.nodes.values():
        if spec.type == "segment" and node_id in spec.transitions.values() \
                and spec.params.get("skills") is not None:
            skills = spec.params["skills"]
            return list(skills) if isinstance(skills, dict | list) else None
    return None


def find_queue(flows: Mapping[str, Flow], name: str, variables: Mapping[str, Any],
               known: set[str] | None = None) -> QueueTarget:
    """The queue node serving queue `name`, with its skills rendered for this caller.

    A node with a literal `queue: sales` serves "sales". A node with
    `queue: "{department}"` serves every value the flow writes into
    `department` (its menu's options) and every queue name in `known` (queues
    routing has seen callers in). Skills are the node's own, else those of the
    segment node before it, rendered with the caller's variables and the
    queue name; a placeholder left empty is dropped. NoSuchQueue otherwise.
    """
    templated: QueueTarget | None = None
    for flow in flows.values():
        for spec in flow.nodes.values():
            if spec.type != "queue":
                continue
            queue = spec.params.get("queue")
            values = dict(variables)
            if queue == name:
                pass
            elif isinstance(queue, str) and (whole := re.fullmatch(r"\{([A-Za-z_]\w*)\}", queue)) \
                    and (name in _writes(flow, whole[1]) or name in (known or set())):
                values[whole[1]] = name
            else:
                continue
            raw = spec.params.get("skills")
            skills = list(raw) if isinstance(raw, list) else _segment_skills(flow, spec.id) or []
            rendered = tuple(s for s in (_render(str(v), values) for v in skills) if s)
            target = QueueTarget(name, flow, spec.id, rendered)
            if queue == name:
                return target
            templated = templated or target
    if templated is None:
        raise NoSuchQueue(name)
    return templated


def _render(template: str, values: Mapping[str, Any]) -> str:
    """A skill template with the caller's values; empty when a placeholder has none."""
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        found = values.get(match[1])
        if found in (None, ""):
            missing = True
            return ""
        return str(found)

    rendered = _PLACEHOLDER.sub(value, template)
    return "" if missing else rendered


async def caller_variables(distribution: DistributionService,
                           caller: CallSession) -> dict[str, Any]:
    """What the caller's flow knew about them: call facts plus the interaction's data."""
    variables = call_variables(caller.call_id, caller.info)
    if caller.interaction_id:
        with contextlib.suppress(Exception):
            record = await distribution.store.interactions.get(caller.interaction_id)
            variables.update({k: v for k, v in record.attached.items() if v not in (None, "")})
    return variables


async def transfer_to_queue(distribution: DistributionService, runtime: FlowRuntime,
                            call_id: str, name: str, by: str = "api") -> QueueTarget:
    """Hand the caller of `call_id` back to routing in queue `name`; the queue used.

    NotConnected, NoSuchQueue before anything changes. Returns once the agent's
    leg is gone and the caller is waiting again (the queue node then runs on).
    """
    conversation = distribution.conversation(call_id)
    caller = conversation.caller
    variables = await caller_variables(distribution, caller)
    flows = runtime.registry.snapshot()
    target = find_queue(flows, name, variables, set(distribution.figures.names()))
    first = conversation.agent
    await caller.record_event("call.transfer_started", {
        "from": first, "to": name, "kind": "queue", "queue": name,
        "skills": list(target.skills), "by": by})
    music = runtime.sounds / "moh.wav"
    await _music_alone(conversation, music)
    conversation.requeued = True
    conversation.on_agent_hangup = None  # nobody takes the caller over: the queue does
    conversation.transferred_from.append(first)
    with contextlib.suppress(Exception):
        await conversation.leg.hangup()
    await conversation.over.wait()  # the agent is freed (or in wrap-up) by the service
    if caller.ended.is_set():
        raise CallEnded(f"call {call_id} ended during the transfer")
    caller.connected_to = None
    await caller.record_event("call.transferred", {
        "from": first, "to": name, "kind": "queue", "queue": name,
        "skills": list(target.skills), "by": by})
    log.info("call=%s transferred by %s from %s to queue %s (skills %s)", call_id, by, first,
             name, ",".join(target.skills) or "-")
    spec = target.flow.nodes[target.node]
    node = replace(spec, params={**spec.params, "queue": name, "skills": list(target.skills)})
    flow = replace(target.flow, start=target.node,
                   nodes={**target.flow.nodes, target.node: node})
    services = FlowServices(**{**vars(runtime.services), "flows": flows})
    ctx = FlowContext(call=caller, sounds=runtime.sounds, services=services,
                      variables={**variables, "queue": name})
    distribution._spawn(_wait_again(caller, flow, ctx))
    return target


async def _music_alone(conversation: Conversation, music: Path) -> None:
    """The caller leaves the agent and hears music until the queue node takes over."""
    caller = conversation.caller
    with contextlib.suppress(CommandFailed, WorkerUnavailable):
        if not conversation.held:
            await caller.link.command("unbridge", call=caller.number,
                                      other=conversation.leg.number)
        await caller.link.command("play", call=caller.number, files=[str(music)], loop=True)


async def _wait_again(caller: CallSession, flow: Flow, ctx: FlowContext) -> None:
    """The flow from the queue node on; a caller left without an agent is hung up."""
    try:
        await run_flow(flow, ctx)
    except Exception:
        log.exception("call=%s queue after transfer failed", caller.call_id)
    if caller.connected_to is None and not caller.ended.is_set():
        with contextlib.suppress(Exception):
            await caller.hangup()


async def transfer_outside(distribution: DistributionService, plan: DialPlan, call_id: str,
                           destination: str, flows: Mapping[str, str] | None = None,
                           by: str = "api") -> CallSession:
    """Dial `destination` from the caller's worker and give the caller to it; its leg.

    NotConnected, DestinationNotAllowed (before anything is dialed) or
    OfferFailed (nobody answered; the caller stays with the agent).
    """
    conversation = distribution.conversation(call_id)
    uri = plan.uri_for(destination)
    number = destination.strip()
    if flows and number in flows:  # an entry point: the edge routes workers' calls to agents
        uri = f"sip:{number}@{flows[number]}"
    caller, first = conversation.caller, conversation.agent
    await caller.record_event("call.transfer_started", {
        "from": first, "to": destination, "kind": "external", "uri": uri, "by": by})
    try:
        leg = await dial(distribution, caller.link, uri, caller.interaction_id,
                         {"called_number": number, "outside": destination})
    except OfferFailed as exc:
        await caller.record_event("call.transfer_failed", {
            "to": destination, "kind": "external", "by": by, "reason": str(exc)})
        raise
    if caller.ended.is_set() or distribution.conversations.get(call_id) is not conversation:
        await leg.hangup()
        raise CallEnded(f"call {call_id} ended while {destination} rang")
    old = await swap_leg(conversation, leg, first)
    conversation.outside = destination
    conversation.on_agent_hangup = None
    conversation.transferred_from.append(first)
    # No agent is on it now: hold, transfer and the rest answer 409 not-connected.
    distribution.conversations.pop(call_id, None)
    _free(distribution, conversation, first)
    await record_leg(conversation, leg, distribution.recordings)
    with contextlib.suppress(Exception):
        await old.hangup()
    await caller.record_event("call.transferred", {
        "from": first, "to": destination, "kind": "external", "uri": uri,
        "leg": leg.call_id, "by": by})
    log.info("call=%s transferred by %s from %s to %s", call_id, by, first, uri)
    return leg


def _free(distribution: DistributionService, conversation: Conversation, agent: str) -> None:
    """The transferring agent is done: available, or wrap-up (as after blind_transfer)."""
    now = distribution.now()
    if conversation.routed:
        distribution.router.agent_released(agent, conversation.interaction, now,
                                           wrap_up=distribution.wrap_up)
        conversation.routed = False
    else:
        state = AgentState.WRAP_UP if distribution.wrap_up else AgentState.AVAILABLE
        distribution.router.set_agent_state(agent, state, now)
    if distribution.router.agent(agent).state is AgentState.WRAP_UP:
        distribution.wrapups.started(agent, conversation.caller.call_id)
    if distribution.desk is not None:
        distribution.desk.freed(agent, conversation.caller)
    distribution.wake.set()
