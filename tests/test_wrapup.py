"""Wrap-up after a conversation: ended by a disposition or by its timer."""

from __future__ import annotations

import asyncio

import pytest

from voicecenter.distribution.wrapup import InvalidDisposition, NotInWrapUp, WrapUps
from voicecenter.routing.config import RouterConfig
from voicecenter.routing.model import Agent, AgentState, Channel, Interaction
from voicecenter.routing.router import Router


def router_with_wrapping_agent() -> Router:
    router = Router(RouterConfig())
    router.add_agent(Agent(id="ann", skills={"sales": 5}))
    router.set_agent_state("ann", AgentState.AVAILABLE, 0.0)
    router.enqueue(Interaction(id="c1", channel=Channel.VOICE, skills={"sales": 1}))
    (assign,) = router.decide(1.0)
    router.offer_accepted(assign.interaction_id, 2.0)
    router.agent_released("ann", "c1", 3.0, wrap_up=True)
    assert router.agent("ann").state is AgentState.WRAP_UP
    return router


async def test_a_disposition_ends_wrap_up_and_names_the_call() -> None:
    router = router_with_wrapping_agent()
    wrapups = WrapUps(router, lambda: 4.0, asyncio.Event(), 0.0, ["sale", "no_sale"])
    wrapups.started("ann", "c1")
    with pytest.raises(InvalidDisposition):
        wrapups.finish("ann", "maybe")
    assert router.agent("ann").state is AgentState.WRAP_UP
    assert wrapups.finish("ann", "sale") == "c1"
    assert router.agent("ann").state is AgentState.AVAILABLE
    with pytest.raises(NotInWrapUp):
        wrapups.finish("ann", "sale")


async def test_wrap_up_times_out_and_the_agent_gets_work_again() -> None:
    router = router_with_wrapping_agent()
    wake = asyncio.Event()
    wrapups = WrapUps(router, lambda: 5.0, wake, 0.05, [])
    wrapups.started("ann", "c1")
    router.enqueue(Interaction(id="c2", channel=Channel.VOICE, skills={"sales": 1}))
    assert router.decide(4.0) == []  # no offers during wrap-up
    await asyncio.sleep(0.15)
    assert router.agent("ann").state is AgentState.AVAILABLE and wake.is_set()
    (assign,) = router.decide(6.0)
    assert (assign.interaction_id, assign.agent_id) == ("c2", "ann")
