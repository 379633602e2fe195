"""Router queue rules: priority and aging, VIP, FIFO, stickiness, expanding targets,
overflow, missed offers, explanations."""

from __future__ import annotations

import json

import pytest

from voicecenter.routing import (
    Agent,
    AgentState,
    Assign,
    Channel,
    DuplicateId,
    Interaction,
    Overflow,
    OverflowRule,
    Router,
    RouterConfig,
    TargetStep,
    UnknownAgent,
    UnknownInteraction,
)

VOICE, CHAT = Channel.VOICE, Channel.CHAT


def router(**config: object) -> Router:
    return Router(RouterConfig(**config))  # type: ignore[arg-type]


def call(iid: str, at: float = 0.0, skills: dict[str, int] | None = None,
         **kw: object) -> Interaction:
    return Interaction(iid, VOICE, {"sales": 1} if skills is None else skills, enqueued_at=at,
                       **kw)  # type: ignore[arg-type]


def free(r: Router, agent_id: str, now: float, skills: dict[str, int] | None = None) -> None:
    """Add an available agent (or make an existing one available)."""
    if agent_id in [a.id for a in r.agents()]:
        r.set_agent_state(agent_id, AgentState.AVAILABLE, now)
    else:
        r.add_agent(Agent(agent_id, {"sales": 5} if skills is None else skills,
                          state=AgentState.AVAILABLE, idle_since=now))


def serve_one_by_one(r: Router, now: float) -> list[str]:
    """Free one agent at a time and list which interaction each one gets."""
    order = []
    for n in range(len(r.queue)):
        free(r, f"agent{n}", now)
        order += [d.interaction_id for d in r.decide(now) if isinstance(d, Assign)]
    return order


# -- order of the universal queue -----------------------------------------------------

def test_higher_priority_first_then_fifo() -> None:
    r = router()
    r.enqueue(call("low-early", 0.0, priority=1))
    r.enqueue(call("high", 5.0, priority=3))
    r.enqueue(call("low-late", 6.0, priority=1))
    r.enqueue(call("low-late-same-time", 6.0, priority=1))
    assert serve_one_by_one(r, 10.0) == ["high", "low-early", "low-late", "low-late-same-time"]


def test_aging_lets_a_long_wait_overtake_higher_priority() -> None:
    # 1 point per 10 s waited: "old" (priority 0, 100 s) outranks "new" (priority 5, 10 s)
    r = router(aging_per_second=0.1)
    r.enqueue(call("old", 0.0, priority=0))
    r.enqueue(call("new", 90.0, priority=5))
    r.enqueue(call("newer", 95.0, priority=5))
    assert serve_one_by_one(r, 100.0) == ["old", "new", "newer"]
    assert r.queue.effective_priority(call("x", 0.0, priority=2), 30.0) == pytest.approx(5.0)


def test_aging_below_the_crossover_keeps_priority_order() -> None:
    r = router(aging_per_second=0.01)
    r.enqueue(call("old", 0.0, priority=0))
    r.enqueue(call("new", 90.0, priority=5))
    assert serve_one_by_one(r, 100.0) == ["new", "old"]


def test_vip_segment_ahead_of_any_priority() -> None:
    r = router(aging_per_second=1.0)
    r.enqueue(call("urgent", 0.0, priority=100))
    r.enqueue(call("vip", 50.0, priority=0, segment="vip"))
    r.enqueue(call("gold", 55.0, segment="gold"))
    assert serve_one_by_one(r, 60.0) == ["vip", "urgent", "gold"]


def test_custom_segment_ranks() -> None:
    r = router(segment_rank={"platinum": 2, "vip": 1})
    r.enqueue(call("vip", 0.0, segment="vip"))
    r.enqueue(call("plat", 1.0, segment="platinum"))
    r.enqueue(call("plain", 0.0))
    assert [it.id for it in r.queue.ordered()] == ["plat", "vip", "plain"]
    assert r.queue.position("plain") == 3


# -- sticky agent ---------------------------------------------------------------------

def test_sticky_agent_preferred_within_its_window_then_anyone() -> None:
    r = router(sticky_seconds=20.0)
    free(r, "other", 0.0)
    r.add_agent(Agent("bob", {"sales": 5}, state=AgentState.WRAP_UP, idle_since=0.0))
    r.enqueue(call("c1", 0.0, preferred_agent="bob"))
    assert r.decide(1.0) == []
    assert r.next_due() == 20.0
    decisions = r.decide(20.0)
    assert [(d.interaction_id, d.agent_id) for d in decisions] == [("c1", "other")]


def test_sticky_agent_gets_it_when_free_and_skills_do_not_matter() -> None:
    r = router()
    free(r, "other", 0.0)
    r.add_agent(Agent("bob", {"billing": 1}, state=AgentState.WRAP_UP))
    r.enqueue(call("c1", 0.0, preferred_agent="bob"))
    assert r.decide(1.0) == []
    [decision] = r.on_agent_available("bob", 5.0)
    assert (decision.agent_id, decision.reason.rule) == ("bob", "sticky")


def test_sticky_window_per_interaction() -> None:
    r = router(sticky_seconds=300.0)
    free(r, "other", 0.0)
    r.add_agent(Agent("bob", {"sales": 5}, state=AgentState.WRAP_UP))
    r.enqueue(call("c1", 0.0, preferred_agent="bob", sticky_for=5.0))
    assert r.decide(4.9) == []
    assert [d.agent_id for d in r.decide(5.0)] == ["other"]


def test_sticky_agent_offline_or_going_away_releases_the_interaction() -> None:
    r = router()
    free(r, "other", 0.0)
    r.add_agent(Agent("gone", {"sales": 5}, state=AgentState.OFFLINE))
    r.enqueue(call("c1", 0.0, preferred_agent="gone"))
    assert [d.agent_id for d in r.decide(0.0)] == ["other"]

    r2 = router()
    r2.add_agent(Agent("bob", {"sales": 5}, state=AgentState.WRAP_UP))
    r2.enqueue(call("c2", 0.0, preferred_agent="bob"))
    free(r2, "other", 0.0)
    assert r2.decide(1.0) == []
    r2.set_agent_state("bob", AgentState.AWAY, 2.0, reason="break")
    assert [d.agent_id for d in r2.decide(2.0)] == ["other"]


# -- expanding targets ----------------------------------------------------------------

def test_expanding_targets_widen_after_configured_waits() -> None:
    steps = (TargetStep(0.0, {"sales": 5}), TargetStep(30.0, {"sales": 3}), TargetStep(60.0, {}))
    r = router()
    r.add_agent(Agent("sales3", {"sales": 3}, state=AgentState.AVAILABLE))
    r.enqueue(call("c1", 0.0, skills={"sales": 5}, widen=steps))
    assert r.decide(29.9) == []
    [d] = r.decide(30.0)
    assert (d.agent_id, d.reason.stage, dict(d.reason.requirements)) == ("sales3", 2, {"sales": 3})

    r2 = router()
    r2.add_agent(Agent("support", {"support": 9}, state=AgentState.AVAILABLE))
    r2.enqueue(call("c2", 0.0, skills={"sales": 5}, widen=steps))
    assert r2.decide(59.0) == []
    assert r2.next_due() == 60.0
    assert [d.agent_id for d in r2.decide(61.0)] == ["support"]


def test_enqueue_later_applies_steps_already_passed() -> None:
    r = router()
    r.add_agent(Agent("a", {"sales": 1}, state=AgentState.AVAILABLE))
    it = call("cb", 0.0, skills={"sales": 5}, widen=(TargetStep(30.0, {"sales": 1}),))
    r.enqueue(it, now=45.0)  # a callback restored after a restart keeps its wait
    assert [d.interaction_id for d in r.decide(45.0)] == ["cb"]


def test_widening_steps_must_grow() -> None:
    with pytest.raises(ValueError):
        call("x", widen=(TargetStep(30.0, {}), TargetStep(10.0, {})))


# -- overflow --------------------------------------------------------------------------

def test_overflow_to_voicemail_after_maximum_wait() -> None:
    r = router()
    r.enqueue(call("c1", 0.0, overflow=OverflowRule(120.0, "voicemail")))
    assert r.decide(119.0) == []
    [d] = r.decide(120.5)
    assert isinstance(d, Overflow)
    assert (d.interaction_id, d.target, d.requeued) == ("c1", "voicemail", False)
    assert d.reason.rule == "overflow" and d.reason.waited == 120.5
    assert "c1" not in r.queue and r.interaction("c1") is None
    assert r.decide(500.0) == []


def test_overflow_to_another_target_keeps_the_place() -> None:
    r = router()
    r.add_agent(Agent("support", {"support": 2}, state=AgentState.AVAILABLE))
    r.enqueue(call("c1", 0.0, overflow=OverflowRule(60.0, "support", {"support": 1})))
    r.enqueue(call("c2", 10.0, skills={"support": 1}))
    overflow, assign = r.decide(60.0)
    assert isinstance(overflow, Overflow) and overflow.requeued
    assert (assign.interaction_id, assign.agent_id) == ("c1", "support")  # ahead of c2


# -- missed offers ------------------------------------------------------------------------

def test_missed_offer_returns_the_interaction_to_its_place() -> None:
    r = router()
    r.add_agent(Agent("a", {"sales": 5}, state=AgentState.AVAILABLE))
    for i, at in enumerate((0.0, 1.0, 2.0)):
        r.enqueue(call(f"c{i}", at))
    [d] = r.decide(3.0)
    assert d.interaction_id == "c0"
    r.offer_missed("c0", "a", 20.0)
    assert [it.id for it in r.queue.ordered()] == ["c0", "c1", "c2"]
    assert r.agent("a").misses == 1
    free(r, "b", 21.0)
    assert [(d.interaction_id, d.agent_id) for d in r.decide(21.0)] == [("c0", "b"), ("c1", "a")]


def test_agent_goes_away_after_n_misses_and_accept_resets_the_count() -> None:
    r = router(max_misses=2, missed_retry_after=0.0)
    r.add_agent(Agent("a", {"sales": 5}, state=AgentState.AVAILABLE))
    r.enqueue(call("c1", 0.0))
    r.decide(1.0)
    r.offer_missed("c1", "a", 15.0)
    assert r.agent("a").state is AgentState.AVAILABLE
    assert [d.agent_id for d in r.decide(15.0)] == ["a"]
    r.offer_accepted("c1", 16.0)
    assert r.agent("a").misses == 0
    r.agent_released("a", "c1", 20.0)
    r.enqueue(call("c2", 21.0))
    r.decide(21.0)
    r.offer_missed("c2", "a", 35.0)
    assert [d.agent_id for d in r.decide(35.0)] == ["a"]  # alone, so offered again
    r.offer_missed("c2", "a", 50.0)
    agent = r.agent("a")
    assert (agent.state, agent.reason, agent.misses) == (AgentState.AWAY, "missed_offers", 2)
    assert r.decide(51.0) == [] and "c2" in r.queue
    r.set_agent_state("a", AgentState.AVAILABLE, 60.0)
    assert r.agent("a").misses == 0
    assert [d.interaction_id for d in r.decide(60.0)] == ["c2"]


def test_missed_agent_gets_it_again_only_after_the_retry_delay() -> None:
    r = router(missed_retry_after=30.0, max_misses=5)
    r.add_agent(Agent("a", {"sales": 5}, state=AgentState.AVAILABLE))
    r.enqueue(call("c1", 0.0))
    r.decide(0.0)
    r.offer_missed("c1", "a", 10.0)
    assert r.decide(10.0) == []
    assert r.next_due() == 40.0
    assert [d.agent_id for d in r.decide(40.0)] == ["a"]


def test_missed_by_the_sticky_agent_ends_stickiness() -> None:
    r = router()
    r.add_agent(Agent("bob", {"sales": 5}, state=AgentState.AVAILABLE))
    r.enqueue(call("c1", 0.0, preferred_agent="bob"))
    r.decide(0.0)
    r.add_agent(Agent("other", {"sales": 5}, state=AgentState.AVAILABLE))
    r.offer_missed("c1", "bob", 10.0)
    assert [d.agent_id for d in r.decide(10.0)] == ["other"]


# -- explanations and errors ----------------------------------------------------------------

def test_explanation_says_which_rule_scores_and_who_else_matched() -> None:
    r = router(aging_per_second=0.5, explain_others=2)
    for name, idle in (("a", 10.0), ("b", 5.0), ("c", 20.0), ("d", 30.0)):
        r.add_agent(Agent(name, {"sales": 5}, state=AgentState.AVAILABLE, idle_since=idle))
    r.enqueue(call("c1", 40.0, priority=2, segment="vip"))
    [d] = r.decide(50.0)
    data = json.loads(json.dumps(d.to_dict()))
    assert data["agent_id"] == "b"
    assert data["reason"] == {
        "rule": "strategy", "strategy": "longest_idle", "requirements": {"sales": 1},
        "stage": 0, "waited": 10.0, "effective_priority": 7.0, "segment": "vip",
        "score": 45.0, "matched": 4,
        "others": [{"agent_id": "a", "score": 40.0}, {"agent_id": "c", "score": 30.0}],
    }


def test_errors_name_the_problem() -> None:
    r = router()
    r.add_agent(Agent("a", {"sales": 5}))
    with pytest.raises(DuplicateId):
        r.add_agent(Agent("a"))
    r.enqueue(call("c1"))
    with pytest.raises(DuplicateId):
        r.enqueue(call("c1"))
    with pytest.raises(UnknownAgent):
        r.set_agent_state("nobody", AgentState.AVAILABLE, 0.0)
    with pytest.raises(UnknownInteraction):
        r.offer_missed("c1", "a", 0.0)
    assert r.remove("c1").id == "c1"
    with pytest.raises(UnknownInteraction):
        r.remove("c1")
    assert UnknownAgent("x").error_id == "no-such-agent"


def test_removed_agent_holding_work_is_refused() -> None:
    r = router()
    r.add_agent(Agent("a", {"sales": 5}, state=AgentState.AVAILABLE))
    r.enqueue(call("c1"))
    r.decide(0.0)
    with pytest.raises(Exception, match="still holds"):
        r.remove_agent("a", 1.0)
    r.agent_released("a", "c1", 2.0)
    assert r.remove_agent("a", 3.0).id == "a"


def test_chat_interactions_share_the_universal_queue() -> None:
    r = router()
    r.enqueue(Interaction("t1", CHAT, {"sales": 1}, enqueued_at=0.0))
    r.enqueue(call("c1", 1.0))
    assert [it.id for it in r.queue.ordered()] == ["t1", "c1"]
