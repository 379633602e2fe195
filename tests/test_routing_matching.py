"""Router matching rules: skills and levels, agent state, capacity per channel, strategies."""

from __future__ import annotations

import pytest

from voicecenter.routing import (
    Agent,
    AgentState,
    Assign,
    Channel,
    Interaction,
    InvalidRouting,
    Router,
    RouterConfig,
    Strategy,
    UnknownInteraction,
)

VOICE, CHAT, SMS = Channel.VOICE, Channel.CHAT, Channel.SMS


def agent(agent_id: str, skills: dict[str, int] | None = None, *, idle_since: float = 0.0,
          state: AgentState = AgentState.AVAILABLE, **kw: object) -> Agent:
    return Agent(agent_id, skills if skills is not None else {"sales": 5}, state=state,
                 idle_since=idle_since, **kw)  # type: ignore[arg-type]


def call(iid: str, skills: dict[str, int] | None = None, *, at: float = 0.0,
         channel: Channel = VOICE, **kw: object) -> Interaction:
    return Interaction(iid, channel, skills if skills is not None else {"sales": 1},
                       enqueued_at=at, **kw)  # type: ignore[arg-type]


def assigned(decisions: list) -> list[tuple[str, str]]:
    return [(d.interaction_id, d.agent_id) for d in decisions if isinstance(d, Assign)]


def router(*agents: Agent, **config: object) -> Router:
    r = Router(RouterConfig(**config))  # type: ignore[arg-type]
    for a in agents:
        r.add_agent(a)
    return r


# -- skills and levels ----------------------------------------------------------------

def test_agent_without_the_skill_or_below_the_level_is_not_matched() -> None:
    r = router(agent("support", {"support": 9}), agent("junior", {"sales": 2}))
    r.enqueue(call("c1", {"sales": 3}))
    assert r.decide(1.0) == []
    r.add_agent(agent("senior", {"sales": 3}))
    assert assigned(r.decide(2.0)) == [("c1", "senior")]


def test_every_required_skill_must_be_met() -> None:
    r = router(agent("a", {"sales": 9}), agent("b", {"sales": 4, "french": 2}))
    r.enqueue(call("c1", {"sales": 4, "french": 3}))
    assert r.decide(1.0) == []
    r.add_agent(agent("c", {"sales": 4, "french": 3, "spanish": 1}))
    assert assigned(r.decide(1.0)) == [("c1", "c")]


def test_level_zero_still_needs_the_skill() -> None:
    r = router(agent("a", {"sales": 5}))
    r.enqueue(call("c1", {"billing": 0}))
    assert r.decide(1.0) == []


def test_interaction_without_requirements_goes_to_anyone() -> None:
    r = router(agent("a", {}))
    r.enqueue(call("c1", {}))
    assert assigned(r.decide(1.0)) == [("c1", "a")]


# -- agent state -------------------------------------------------------------------------

@pytest.mark.parametrize("state", [AgentState.OFFLINE, AgentState.AWAY, AgentState.WRAP_UP])
def test_agents_not_offerable_get_nothing(state: AgentState) -> None:
    r = router(agent("a", state=state))
    r.enqueue(call("t1", channel=CHAT, at=0.0))
    r.enqueue(call("c1", at=0.5))
    assert r.decide(1.0) == []
    assert assigned(r.on_agent_available("a", 2.0)) == [("t1", "a"), ("c1", "a")]


def test_busy_without_routed_work_gets_no_offers() -> None:
    # Set busy from outside (a direct or transferred call): nothing routed, nothing offered.
    r = router(agent("a", state=AgentState.BUSY))
    r.enqueue(call("t1", channel=CHAT))
    assert r.decide(1.0) == []
    assert [d.agent_id for d in r.on_agent_available("a", 2.0)] == ["a"]


def test_assignment_reserves_the_agent_and_accept_makes_it_busy() -> None:
    r = router(agent("a"))
    r.enqueue(call("c1"))
    r.decide(1.0)
    assert r.agent("a").state is AgentState.RESERVED
    assert r.holder("c1") == "a" and "c1" not in r.queue
    r.offer_accepted("c1", 2.0)
    assert r.agent("a").state is AgentState.BUSY
    r.agent_released("a", "c1", 50.0, wrap_up=True)
    assert (r.agent("a").state, r.agent("a").idle_since) == (AgentState.WRAP_UP, 50.0)
    r.enqueue(call("c2", at=51.0))
    assert r.decide(52.0) == []
    assert assigned(r.on_agent_available("a", 60.0)) == [("c2", "a")]


def test_state_sequence_is_recorded_in_order() -> None:
    r = router(agent("a", state=AgentState.OFFLINE))
    seen = [r.agent("a").state]
    r.set_agent_state("a", AgentState.AVAILABLE, 1.0)
    seen.append(r.agent("a").state)
    r.enqueue(call("c1", at=1.0))
    r.decide(2.0)
    seen.append(r.agent("a").state)
    r.offer_accepted("c1", 3.0)
    seen.append(r.agent("a").state)
    r.agent_released("a", "c1", 4.0, wrap_up=True)
    seen.append(r.agent("a").state)
    r.set_agent_state("a", AgentState.AWAY, 5.0, reason="lunch")
    seen.append(r.agent("a").state)
    assert [str(s) for s in seen] == ["offline", "available", "reserved", "busy", "wrap_up",
                                      "away"]
    assert r.agent("a").reason == "lunch" and r.agent("a").state_since == 5.0


# -- capacity per channel -------------------------------------------------------------

def test_at_most_one_call() -> None:
    with pytest.raises(InvalidRouting):
        Agent("a", capacity={VOICE: 2})
    r = router(agent("a"))
    r.enqueue(call("c1"))
    r.enqueue(call("c2"))
    assert assigned(r.decide(1.0)) == [("c1", "a")]
    r.offer_accepted("c1", 1.0)
    assert r.decide(2.0) == []


def test_several_chats_up_to_capacity_while_busy() -> None:
    r = router(agent("a", capacity={VOICE: 1, CHAT: 3, SMS: 0}))
    for i in range(5):
        r.enqueue(call(f"t{i}", channel=CHAT, at=i))
    assert assigned(r.decide(10.0)) == [("t0", "a"), ("t1", "a"), ("t2", "a")]
    r.offer_accepted("t0", 11.0)
    assert r.agent("a").state is AgentState.BUSY
    assert r.decide(12.0) == []
    r.agent_released("a", "t1", 13.0)
    assert assigned(r.decide(13.0)) == [("t3", "a")]
    assert r.agent("a").load[CHAT] == 3


def test_chat_and_sms_capacities_are_separate() -> None:
    r = router(agent("a", capacity={VOICE: 0, CHAT: 1, SMS: 2}))
    r.enqueue(call("t1", channel=CHAT))
    r.enqueue(call("t2", channel=CHAT))
    r.enqueue(call("s1", channel=SMS))
    r.enqueue(call("s2", channel=SMS))
    assert sorted(assigned(r.decide(1.0))) == [("s1", "a"), ("s2", "a"), ("t1", "a")]


def test_no_chat_during_a_call_by_default() -> None:
    r = router(agent("a"))
    r.enqueue(call("c1", at=0.0))
    r.enqueue(call("t1", channel=CHAT, at=1.0))
    assert assigned(r.decide(2.0)) == [("c1", "a")]
    r.agent_released("a", "c1", 3.0)
    assert assigned(r.decide(3.0)) == [("t1", "a")]


def test_call_while_holding_chats_is_configurable() -> None:
    allowed = router(agent("a"))
    refused = router(agent("a"), call_during_digital=False)
    for r in (allowed, refused):
        r.enqueue(call("t1", channel=CHAT, at=0.0))
        r.enqueue(call("c1", at=1.0))
    assert assigned(allowed.decide(2.0)) == [("t1", "a"), ("c1", "a")]
    assert assigned(refused.decide(2.0)) == [("t1", "a")]
    refused.agent_released("a", "t1", 3.0)
    assert assigned(refused.decide(3.0)) == [("c1", "a")]


def test_agent_override_of_channel_rules() -> None:
    r = router(agent("multi", digital_during_call=True))
    r.enqueue(call("c1", at=0.0))
    r.enqueue(call("t1", channel=CHAT, at=1.0))
    assert assigned(r.decide(2.0)) == [("c1", "multi"), ("t1", "multi")]


def test_escalation_moves_the_load_from_chat_to_voice() -> None:
    r = router(agent("a", capacity={VOICE: 1, CHAT: 2, SMS: 0}))
    r.enqueue(call("t1", channel=CHAT))
    r.decide(1.0)
    r.offer_accepted("t1", 1.0)
    assert r.escalate("t1", VOICE, 2.0)
    assert r.agent("a").load == {VOICE: 1, CHAT: 0, SMS: 0}
    assert r.interaction("t1").channel is VOICE
    r.enqueue(call("c2", at=3.0))
    assert r.decide(3.0) == []
    with pytest.raises(UnknownInteraction):
        r.escalate("c2", VOICE, 3.0)  # waiting, not held by an agent


def test_escalation_refused_when_voice_is_taken() -> None:
    r = router(agent("a", capacity={VOICE: 1, CHAT: 2, SMS: 0}))
    r.enqueue(call("t1", channel=CHAT, at=0.0))
    r.enqueue(call("c1", at=1.0))
    r.decide(2.0)
    assert r.agent("a").load[VOICE] == 1
    assert not r.escalate("t1", VOICE, 3.0)
    assert r.agent("a").load == {VOICE: 1, CHAT: 1, SMS: 0}


# -- strategies -----------------------------------------------------------------------

def test_longest_idle() -> None:
    r = router(agent("a", idle_since=30.0), agent("b", idle_since=10.0),
               agent("c", idle_since=20.0))
    r.enqueue(call("c1", at=40.0))
    r.enqueue(call("c2", at=41.0))
    assert assigned(r.decide(42.0)) == [("c1", "b"), ("c2", "c")]


def test_least_occupied() -> None:
    r = router(agent("a", capacity={VOICE: 1, CHAT: 4, SMS: 0}),
               agent("b", capacity={VOICE: 1, CHAT: 4, SMS: 0}, idle_since=5.0),
               strategy=Strategy.LEAST_OCCUPIED)
    for i in range(4):
        r.enqueue(call(f"t{i}", channel=CHAT, at=i))
    # a is idle longest, then both alternate as each one's occupancy grows
    assert assigned(r.decide(10.0)) == [("t0", "a"), ("t1", "b"), ("t2", "a"), ("t3", "b")]


def test_highest_skill_level() -> None:
    r = router(agent("a", {"sales": 4}), agent("b", {"sales": 9}), agent("c", {"sales": 6}),
               strategy=Strategy.SKILL_LEVEL)
    r.enqueue(call("c1", {"sales": 3}))
    r.enqueue(call("c2", {"sales": 3}, at=1.0))
    assert assigned(r.decide(2.0)) == [("c1", "b"), ("c2", "c")]


def test_round_robin_rotates_through_agents() -> None:
    r = router(agent("a"), agent("b"), agent("c"), strategy=Strategy.ROUND_ROBIN)
    order = []
    for i in range(7):
        r.enqueue(call(f"c{i}", at=float(i)))
        [(iid, aid)] = assigned(r.decide(float(i)))
        order.append(aid)
        r.offer_accepted(iid, float(i))
        r.agent_released(aid, iid, float(i))
    assert order == ["a", "b", "c", "a", "b", "c", "a"]
