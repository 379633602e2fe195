"""Property-style checks of the router over random event sequences (plain loops, fixed seeds).

After every decide(): no agent over capacity, loads equal what the agents hold, no
interaction held twice, and no free agent left that could take a waiting interaction.
Without deadlines in play, decide() must also equal the plain rule it optimizes: take
the waiting interactions in queue order, give each to the strategy's best free agent.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter

import pytest

from voicecenter.routing import (
    Agent,
    AgentState,
    Assign,
    Channel,
    Interaction,
    Overflow,
    OverflowRule,
    Router,
    RouterConfig,
    Strategy,
    TargetStep,
)
from voicecenter.routing.model import CHANNELS, OFFERABLE
from voicecenter.routing.strategies import choose

SKILLS = ("sales", "billing", "tech", "french", "german", "vip")
STATES = (AgentState.AVAILABLE, AgentState.AVAILABLE, AgentState.BUSY, AgentState.AWAY,
          AgentState.WRAP_UP, AgentState.OFFLINE)


def can_take(config: RouterConfig, agent: Agent, channel: Channel) -> bool:
    """The capacity rules, written again independently of the router."""
    load = agent.load
    if agent.state not in OFFERABLE or load[channel] >= agent.capacity[channel]:
        return False
    if agent.state is not AgentState.AVAILABLE and not sum(load.values()):
        return False  # busy with work the router does not hold
    if channel is Channel.VOICE:
        allow = config.call_during_digital if agent.call_during_digital is None \
            else agent.call_during_digital
        return allow or not (load[Channel.CHAT] or load[Channel.SMS])
    allow = config.digital_during_call if agent.digital_during_call is None \
        else agent.digital_during_call
    return allow or not load[Channel.VOICE]


def eligible(r: Router, it: Interaction, agent: Agent, now: float) -> bool:
    if not can_take(r.config, agent, it.channel):
        return False
    owner = r.queue.sticky_owner(it)
    if owner is not None:
        return agent.id == owner
    if it.missed_by.get(agent.id, -math.inf) > now:
        return False
    return all(agent.skills.get(s, -1) >= lvl for s, lvl in it.requirements().items())


def expected_assignments(r: Router, now: float, cursor: int) -> list[tuple[str, str]]:
    """Greedy reference: queue order, each to the best free matching agent."""
    clones = [dataclasses.replace(a, load=dict(a.load)) for a in r.agents()]
    ring = max((a.ordinal for a in clones), default=0) + 1
    out = []
    for it in r.queue.ordered():
        matches = [a for a in clones if eligible(r, it, a, now)]
        if not matches:
            continue
        if r.queue.sticky_owner(it) is not None:
            best = matches[0]
        else:
            best = choose(r.config.strategy, matches, it.requirements(), now, cursor=cursor,
                          ring=ring, others=0).agent
            cursor = best.ordinal
        best.load[it.channel] += 1
        if best.state is AgentState.AVAILABLE:
            best.state = AgentState.RESERVED
        out.append((it.id, best.id))
    return out


class World:
    """Random agents and events, with our own record of who holds what."""

    def __init__(self, seed: int, config: RouterConfig, *, deadlines: bool) -> None:
        self.rng = random.Random(seed)
        self.router = Router(config)
        self.deadlines = deadlines
        self.held: dict[str, tuple[str, Channel]] = {}  # interaction -> (agent, channel)
        self.offered: set[str] = set()
        self.count = 0
        self.now = 0.0
        self.cursor = -1
        for n in range(self.rng.randint(8, 20)):
            self.router.add_agent(self.agent(f"a{n}"))

    def agent(self, agent_id: str) -> Agent:
        rng = self.rng
        skills = {s: rng.randint(1, 5) for s in rng.sample(SKILLS, rng.randint(1, 4))}
        capacity = {Channel.VOICE: rng.randint(0, 1), Channel.CHAT: rng.randint(0, 3),
                    Channel.SMS: rng.randint(0, 2)}
        override = rng.choice((None, None, True, False))
        return Agent(agent_id, skills, capacity=capacity, state=rng.choice(STATES),
                     idle_since=-rng.random() * 50, call_during_digital=override)

    def interaction(self) -> Interaction:
        rng = self.rng
        self.count += 1
        skills = {s: rng.randint(1, 5) for s in rng.sample(SKILLS, rng.randint(0, 2))}
        kw: dict = {}
        if rng.random() < 0.2:
            kw["preferred_agent"] = f"a{rng.randint(0, 25)}"
            kw["sticky_for"] = rng.uniform(1, 20) if self.deadlines else 1e9
        if self.deadlines and rng.random() < 0.4:
            kw["widen"] = (TargetStep(rng.uniform(1, 10), dict.fromkeys(skills, 1)),
                           TargetStep(rng.uniform(11, 30), {}))
        if self.deadlines and rng.random() < 0.3:
            skills_after = {"sales": 1} if rng.random() < 0.5 else None
            kw["overflow"] = OverflowRule(rng.uniform(5, 60), "callback", skills_after)
        return Interaction(f"i{self.count}", rng.choice(CHANNELS), skills,
                           priority=rng.randint(0, 3), enqueued_at=self.now,
                           segment="vip" if rng.random() < 0.1 else None, **kw)

    def event(self) -> None:
        rng, r = self.rng, self.router
        self.now += rng.choice((0.0, 0.5, 1.0, 3.0))
        roll = rng.random()
        if roll < 0.35:
            r.enqueue(self.interaction())
        elif roll < 0.5:
            r.set_agent_state(rng.choice(r.agents()).id, rng.choice(STATES), self.now)
        elif roll < 0.62 and self.offered:
            iid = rng.choice(sorted(self.offered))
            self.offered.discard(iid)
            r.offer_accepted(iid, self.now)
        elif roll < 0.72 and self.offered:
            iid = rng.choice(sorted(self.offered))
            self.offered.discard(iid)
            r.offer_missed(iid, self.held.pop(iid)[0], self.now)
        elif roll < 0.9 and self.held:
            iid = rng.choice(sorted(self.held))
            agent_id, _ = self.held.pop(iid)
            self.offered.discard(iid)
            r.agent_released(agent_id, iid, self.now, wrap_up=rng.random() < 0.3)
        elif roll < 0.95 and len(r.queue):
            r.remove(rng.choice(r.queue.ordered()).id)
        elif self.held:
            iid = rng.choice(sorted(self.held))
            if r.escalate(iid, Channel.VOICE, self.now):
                self.held[iid] = (self.held[iid][0], Channel.VOICE)

    def decide(self) -> list:
        r = self.router
        expected = None if self.deadlines else expected_assignments(r, self.now, self.cursor)
        decisions = r.decide(self.now)
        assigns = [(d.interaction_id, d.agent_id) for d in decisions if isinstance(d, Assign)]
        if expected is not None:
            assert assigns == expected
        for d in decisions:
            if isinstance(d, Assign):
                assert d.interaction_id not in self.held, "assigned twice"
                self.held[d.interaction_id] = (d.agent_id, d.channel)
                self.offered.add(d.interaction_id)
                if d.reason.rule == "strategy":  # a sticky offer does not turn the ring
                    self.cursor = r.agent(d.agent_id).ordinal
            else:
                assert isinstance(d, Overflow) and d.interaction_id not in self.held
        return decisions

    def check(self) -> None:
        r = self.router
        loads = Counter(self.held.values())
        for agent in r.agents():
            for channel in CHANNELS:
                assert agent.load[channel] == loads[(agent.id, channel)]
                assert agent.load[channel] <= agent.capacity[channel]
            assert agent.load[Channel.VOICE] <= 1
        waiting = r.queue.ordered()
        assert not {it.id for it in waiting} & set(self.held)
        for it in waiting:
            for agent in r.agents():
                assert not eligible(r, it, agent, self.now), (it.id, agent.id)


@pytest.mark.parametrize("strategy", list(Strategy))
@pytest.mark.parametrize("seed", range(4))
def test_decide_equals_the_greedy_rule_and_keeps_invariants(strategy: Strategy,
                                                             seed: int) -> None:
    config = RouterConfig(strategy=strategy, aging_per_second=0.05, max_misses=3,
                          missed_retry_after=1e9)
    world = World(seed, config, deadlines=False)
    for _ in range(250):
        world.event()
        if world.rng.random() < 0.6:
            world.decide()
            world.check()


@pytest.mark.parametrize("seed", range(6))
def test_invariants_hold_with_stickiness_widening_overflow_and_retries(seed: int) -> None:
    config = RouterConfig(aging_per_second=0.02, max_misses=2, missed_retry_after=4.0,
                          sticky_seconds=5.0)
    world = World(100 + seed, config, deadlines=True)
    kinds: Counter[str] = Counter()
    for _ in range(400):
        world.event()
        if world.rng.random() < 0.6:
            kinds.update(type(d).__name__ for d in world.decide())
            world.check()
    assert kinds["Assign"] > 20
