"""The agent desk's rules without a server: presence, IVR answers, who may see what."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from voicecenter.distribution.desk_context import involves, ivr_answers, visible
from voicecenter.distribution.desk_offers import VoiceOffer, matches, ringing_leg
from voicecenter.distribution.presence import (
    DESK_CLOSED,
    Closing,
    DeskPresence,
    on_desk_closed,
)
from voicecenter.distribution.wrapup import WrapUps
from voicecenter.routing.decisions import Assign
from voicecenter.routing.model import Agent, AgentState, Channel, Interaction
from voicecenter.routing.router import Router


def test_a_closed_desk_sends_working_agents_away_but_never_cuts_a_call() -> None:
    for state in (AgentState.AVAILABLE, AgentState.RESERVED, AgentState.BUSY,
                  AgentState.WRAP_UP):
        assert on_desk_closed(state, in_call=False) is Closing.AWAY
        assert on_desk_closed(state, in_call=True) is Closing.AFTER_CALL
    for state in (AgentState.AWAY, AgentState.OFFLINE):
        assert on_desk_closed(state, in_call=False) is Closing.NOTHING


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"kind": kind, "data": data, "at": "2024-01-01T00:00:00+00:00"}


def test_ivr_answers_pair_each_variable_with_the_input_that_set_it() -> None:
    events = [
        event("dtmf.received", digit="2"),
        event("flow.input", node="department", digits="2", reason="max_digits"),
        event("flow.variable_set", node="department", name="department", value="billing"),
        event("flow.input", node="pin", digits="***", reason="max_digits"),
        event("flow.variable_set", node="pin", name="pin", value="***"),
        event("flow.input", node="ask", text="상담원", reason="match"),
        event("flow.variable_set", node="ask", name="intent", value="agent"),
        event("flow.variable_set", node="segment", name="segment", value="gold"),
    ]
    answers = [(a["name"], a["value"], a["input"]) for a in ivr_answers(events)]
    assert answers == [("department", "billing", "2"), ("pin", "***", "***"),
                       ("intent", "agent", "상담원"), ("segment", "gold", None)]
    # Raw digits would show a PIN the flow masked: agents never get them.
    assert [e["kind"] for e in visible(events)].count("dtmf.received") == 0


def test_an_agent_is_involved_when_offered_given_or_consulted() -> None:
    events = [event("interaction.assigned", agent="dana"),
              event("call.transferred", **{"from": "dana", "to": "bob"}),
              event("recording.completed", agents=["dana", "bob", "cleo"])]
    assert involves("dana", events[:1]) and involves("bob", events[1:2])
    assert involves("cleo", events) and not involves("eve", events)


def session(agent: str | None, interaction: str, up: bool = False,
            ended: bool = False) -> SimpleNamespace:
    media_up, done = asyncio.Event(), asyncio.Event()
    if up:
        media_up.set()
    if ended:
        done.set()
    return SimpleNamespace(info={"agent": agent} if agent else {}, interaction_id=interaction,
                           media_up=media_up, ended=done)


def test_the_ringing_leg_is_the_unanswered_one_of_that_agent_and_interaction() -> None:
    caller = session(None, "i1", up=True)
    answered = session("dana", "i1", up=True)
    other_agent = session("bob", "i1")
    other_call = session("dana", "i2")
    gone = session("dana", "i1", ended=True)
    ringing = session("dana", "i1")
    legs = [caller, answered, other_agent, other_call, gone, ringing]
    assert ringing_leg(legs, "dana", caller) is ringing  # type: ignore[arg-type]
    assert ringing_leg(legs[:5], "dana", caller) is None  # type: ignore[arg-type]
    offer = VoiceOffer("dana", "c1", "i1", "sip:x@y")
    assert matches(offer, "i1") and matches(offer, "c1") and not matches(offer, "i2")
    assert offer.frame()["type"] == "offer" and offer.frame()["channel"] == "voice"


def routing() -> SimpleNamespace:
    router = Router()
    router.add_agent(Agent(id="dana", skills={"support": 1}))
    wake = asyncio.Event()
    return SimpleNamespace(router=router, conversations={}, wake=wake, now=lambda: 1.0,
                           wrapups=WrapUps(router, lambda: 1.0, wake, 0.0, []))


async def test_closing_the_last_desk_sets_the_agent_away_after_the_grace() -> None:
    dist = routing()
    dist.router.set_agent_state("dana", AgentState.AVAILABLE, 0.0)
    presence = DeskPresence(dist, grace_s=0.02)  # type: ignore[arg-type]
    presence.opened("dana")
    presence.opened("dana")  # a second tab
    presence.closed("dana")
    await asyncio.sleep(0.05)
    assert dist.router.agent("dana").state is AgentState.AVAILABLE
    presence.closed("dana")
    presence.opened("dana")  # a reload within the grace
    await asyncio.sleep(0.05)
    assert dist.router.agent("dana").state is AgentState.AVAILABLE
    presence.closed("dana")
    await asyncio.sleep(0.05)
    agent = dist.router.agent("dana")
    assert agent.state is AgentState.AWAY and agent.reason == DESK_CLOSED


async def test_an_agent_in_a_call_goes_away_when_it_ends_not_before() -> None:
    dist = routing()
    router = dist.router
    router.set_agent_state("dana", AgentState.AVAILABLE, 0.0)
    router.enqueue(Interaction(id="c1", channel=Channel.VOICE, skills={"support": 1},
                               enqueued_at=0.0))
    assert any(isinstance(d, Assign) for d in router.decide(0.5))
    router.offer_accepted("c1", 0.6)
    presence = DeskPresence(dist, grace_s=0.01)  # type: ignore[arg-type]
    presence.opened("dana")
    presence.closed("dana")
    await asyncio.sleep(0.05)
    assert router.agent("dana").state is AgentState.BUSY
    assert "dana" in presence.after_call
    router.agent_released("dana", "c1", 2.0)
    presence.freed("dana")  # what the routing service calls right after the release
    agent = router.agent("dana")
    assert agent.state is AgentState.AWAY and agent.reason == DESK_CLOSED
