"""The router: state-changing calls in, decisions out, nothing else.

Like a jitter buffer that returns what to do rather than doing it, the
router holds agents and the universal queue, is told what happened
(``enqueue``, ``set_agent_state``, ``offer_missed``...) and, on
``decide(now)``, returns the decisions to carry out. It opens no socket,
reads no clock and touches no database, so it is tested by plain calls and
benchmarked alone; the routing service persists, times and acts. Every
agent state change goes through ``_set_state``, which logs old -> new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from voicecenter.routing.agents import AgentPool
from voicecenter.routing.config import RouterConfig
from voicecenter.routing.decisions import Assign, Decision, Explanation, Overflow
from voicecenter.routing.errors import AgentHoldsInteractions, DuplicateId, UnknownInteraction
from voicecenter.routing.matching import Matcher
from voicecenter.routing.model import Agent, AgentState, Channel, Interaction
from voicecenter.routing.queue import WaitingQueue
from voicecenter.routing.timers import Deadline, Timers

logger = logging.getLogger(__name__)

# The sticky agent is waited for only while it could come back soon.
_STICKY_LOST = frozenset({AgentState.OFFLINE, AgentState.AWAY})
_WORKING = frozenset({AgentState.AVAILABLE, AgentState.RESERVED, AgentState.BUSY})


@dataclass(slots=True)
class Held:
    """An interaction offered to (or answered by) an agent, and on which channel."""

    interaction: Interaction
    agent_id: str
    channel: Channel


class Router:
    def __init__(self, config: RouterConfig | None = None) -> None:
        self.config = config or RouterConfig()
        self._agents = AgentPool(self.config)
        self.queue = WaitingQueue(self.config.segment_rank, self.config.aging_per_second)
        self._timers = Timers()
        self._matcher = Matcher(self.config, self._agents, self.queue)
        self._offers: dict[str, Held] = {}
        self._active: dict[str, Held] = {}
        self._changed_agents: dict[str, set[Channel]] = {}
        self._changed: list[Interaction] = []
        self._out: list[Decision] = []
        # Told (agent, previous state) after each change; the router stays pure
        # and whoever embeds it decides what a change means (events, pages).
        self.on_state_change: Callable[[Agent, AgentState], None] | None = None

    # -- reading -------------------------------------------------------------------
    def agent(self, agent_id: str) -> Agent:
        return self._agents.get(agent_id)

    def agents(self) -> list[Agent]:
        return list(self._agents)

    def interaction(self, interaction_id: str) -> Interaction | None:
        """A waiting, offered or answered interaction, or None."""
        it = self.queue.get(interaction_id)
        if it is None:
            held = self._offers.get(interaction_id) or self._active.get(interaction_id)
            it = held.interaction if held else None
        return it

    def holder(self, interaction_id: str) -> str | None:
        """The agent an interaction is offered to or handled by."""
        held = self._offers.get(interaction_id) or self._active.get(interaction_id)
        return held.agent_id if held else None

    def next_due(self) -> float | None:
        """When ``decide`` next has a deadline to act on (None: only on a change)."""
        return self._timers.next_due()

    # -- agents --------------------------------------------------------------------
    def add_agent(self, agent: Agent) -> Agent:
        self._agents.add(agent)
        if self._agents.free_channels(agent):
            self._changed_agents[agent.id] = set(self._agents.free_channels(agent))
        return agent

    def remove_agent(self, agent_id: str, now: float) -> Agent:
        agent = self._agents.get(agent_id)
        if agent.total_load():
            raise AgentHoldsInteractions(agent_id)
        self._set_state(agent, AgentState.OFFLINE, now)
        self._changed_agents.pop(agent_id, None)
        self.queue.forget_agent(agent_id)
        return self._agents.remove(agent_id)

    def set_agent_state(self, agent_id: str, state: AgentState | str, now: float,
                        reason: str | None = None) -> Agent:
        agent = self._agents.get(agent_id)
        state = AgentState(state)
        if state is AgentState.AVAILABLE and agent.state not in _WORKING:
            agent.idle_since = now
            agent.misses = 0
        self._set_state(agent, state, now, reason)
        return agent

    def on_agent_available(self, agent_id: str, now: float) -> list[Decision]:
        """Fast path when one agent frees up: mark it available and match only what changed."""
        self.set_agent_state(agent_id, AgentState.AVAILABLE, now)
        return self.decide(now)

    # -- interactions --------------------------------------------------------------
    def enqueue(self, it: Interaction, now: float | None = None) -> Interaction:
        """Queue ``it``. ``now`` defaults to ``it.enqueued_at``; a later ``now``
        (a queue restored after a restart, a callback keeping its place) applies
        the widening steps already passed."""
        if it.id in self.queue or it.id in self._offers or it.id in self._active:
            raise DuplicateId("interaction", it.id)
        self._queue_up(it, it.enqueued_at if now is None else now)
        return it

    def remove(self, interaction_id: str) -> Interaction:
        """Take a waiting interaction out (abandoned, moved elsewhere by the service)."""
        it = self.queue.get(interaction_id)
        if it is None:
            raise UnknownInteraction(interaction_id, "waiting")
        self.queue.discard(it)
        return it

    def offer_accepted(self, interaction_id: str, now: float) -> None:
        held = self._offers.pop(interaction_id, None)
        if held is None:
            raise UnknownInteraction(interaction_id, "on offer")
        self._active[interaction_id] = held
        agent = self._agents.get(held.agent_id)
        agent.misses = 0
        if agent.state in (AgentState.AVAILABLE, AgentState.RESERVED):
            self._set_state(agent, AgentState.BUSY, now)

    def offer_missed(self, interaction_id: str, agent_id: str, now: float) -> None:
        """The agent did not answer: the interaction goes back to its place (others
        get it first for ``missed_retry_after`` s) and the agent to away after
        ``max_misses`` misses in a row."""
        held = self._offers.get(interaction_id)
        if held is None or held.agent_id != agent_id:
            raise UnknownInteraction(interaction_id, f"on offer to {agent_id!r}")
        del self._offers[interaction_id]
        agent = self._agents.get(agent_id)
        agent.load[held.channel] -= 1
        agent.misses += 1
        agent.idle_since = now  # to the back of the longest-idle line
        if agent.misses >= self.config.max_misses:
            self._set_state(agent, AgentState.AWAY, now, "missed_offers")
        elif not agent.total_load() and agent.state in (AgentState.RESERVED, AgentState.BUSY):
            self._set_state(agent, AgentState.AVAILABLE, now)
        self._refresh(agent)
        it = held.interaction
        retry = self.config.missed_retry_after
        if retry > 0:
            it.missed_by[agent_id] = now + retry
        if it.preferred_agent == agent_id:
            it.sticky_done = True
        self._queue_up(it, now)

    def agent_released(self, agent_id: str, interaction_id: str, now: float, *,
                       wrap_up: bool = False) -> Agent:
        """The agent is done with an interaction (or its offer was withdrawn); with
        ``wrap_up`` an agent left without work goes to wrap-up instead of available."""
        held = self._active.get(interaction_id) or self._offers.get(interaction_id)
        if held is None or held.agent_id != agent_id:
            raise UnknownInteraction(interaction_id, f"held by {agent_id!r}")
        if self._active.pop(interaction_id, None) is None:
            del self._offers[interaction_id]
        agent = self._agents.get(agent_id)
        agent.load[held.channel] -= 1
        if not agent.total_load():
            agent.idle_since = now
            if agent.state in _WORKING:
                state = AgentState.WRAP_UP if wrap_up else AgentState.AVAILABLE
                self._set_state(agent, state, now)
        self._refresh(agent)
        return agent

    def escalate(self, interaction_id: str, channel: Channel | str, now: float) -> bool:
        """Move a held interaction's load to another channel (chat -> call) for
        the same agent, if the agent's capacity and rules allow; else nothing."""
        held = self._active.get(interaction_id) or self._offers.get(interaction_id)
        if held is None:
            raise UnknownInteraction(interaction_id, "held by an agent")
        channel = Channel(channel)
        if channel is held.channel:
            return True
        agent = self._agents.get(held.agent_id)
        agent.load[held.channel] -= 1
        if not self._agents.fits(agent, channel):
            agent.load[held.channel] += 1
            return False
        agent.load[channel] += 1
        held.channel = held.interaction.channel = channel
        logger.debug("interaction %s escalated to %s with agent %s at %s",
                     interaction_id, channel, agent.id, now)
        self._refresh(agent)
        return True

    # -- deciding ------------------------------------------------------------------
    def decide(self, now: float) -> list[Decision]:
        """Apply due deadlines, then match what changed; return the decisions."""
        self._out = out = []
        if self._timers.due(now):
            self._run_deadlines(now)
        if self._changed or self._changed_agents:
            changed, self._changed = self._changed, []
            gained, self._changed_agents = self._changed_agents, {}
            agents = [(a, channels) for i, channels in gained.items()
                      if (a := self._agents.find(i)) is not None]
            self._matcher.run(changed, agents, now,
                              lambda it, agent, why: self._assign(it, agent, now, why))
        self._out = []
        return out

    def _assign(self, it: Interaction, agent: Agent, now: float, why: Explanation) -> None:
        self.queue.discard(it)
        agent.load[it.channel] += 1
        if agent.state is AgentState.AVAILABLE:
            self._set_state(agent, AgentState.RESERVED, now)
        self._agents.refresh(agent)
        self._offers[it.id] = Held(it, agent.id, it.channel)
        self._out.append(Assign(it.id, agent.id, it.channel, why))

    def _run_deadlines(self, now: float) -> None:
        queue = self.queue
        for kind, it, arg in self._timers.pop_due(now):
            if kind is Deadline.WIDEN:
                if arg > it.stage:
                    it.stage = arg
                    if it.retarget is None and queue.sticky_owner(it) is None:
                        queue.move(it, None)
                    self._changed.append(it)
            elif kind is Deadline.STICKY_END:
                if queue.sticky_owner(it) is not None:
                    queue.move(it, None)
                    self._changed.append(it)
            elif kind is Deadline.OVERFLOW:
                self._overflow(it, now)
            else:
                self._changed.append(it)  # a missed agent may be offered it again

    def _overflow(self, it: Interaction, now: float) -> None:
        rule = it.overflow
        assert rule is not None
        it.overflowed = True
        why = self._matcher.explain(it, now, "overflow", target=rule.target,
                                    notes=(f"waited past the maximum of {rule.after:g} s",))
        if rule.skills is not None:
            it.retarget = dict(rule.skills)
            it.sticky_done = True
            self.queue.move(it, None)
            self._changed.append(it)
        else:
            self.queue.discard(it)
        self._out.append(Overflow(it.id, rule.target, rule.skills is not None, why))

    def _queue_up(self, it: Interaction, now: float) -> None:
        it.generation += 1
        waited = now - it.enqueued_at
        for stage, step in enumerate(it.widen, 1):
            if step.after <= waited:
                it.stage = max(it.stage, stage)
        owner, window = self._sticky_owner(it, now)
        self.queue.add(it, owner)
        start = it.enqueued_at
        for stage, step in enumerate(it.widen, 1):
            if stage > it.stage:
                self._timers.schedule(start + step.after, Deadline.WIDEN, it, stage)
        if owner is not None:
            self._timers.schedule(start + window, Deadline.STICKY_END, it)
        if it.overflow is not None and not it.overflowed:
            self._timers.schedule(start + it.overflow.after, Deadline.OVERFLOW, it)
        for until in it.missed_by.values():  # every agent who missed it, not only the last
            if until > now:
                self._timers.schedule(until, Deadline.RETRY, it)
        self._changed.append(it)

    def _sticky_owner(self, it: Interaction, now: float) -> tuple[str | None, float]:
        window = self.config.sticky_seconds if it.sticky_for is None else it.sticky_for
        agent_id = it.preferred_agent
        if agent_id is None or it.sticky_done or now >= it.enqueued_at + window:
            return None, window
        agent = self._agents.find(agent_id)
        if agent is None or agent.state in _STICKY_LOST:
            return None, window
        return agent_id, window

    def _set_state(self, agent: Agent, state: AgentState, now: float,
                   reason: str | None = None) -> None:
        old = agent.state
        agent.reason = reason if state in _STICKY_LOST else None
        if state is not old:
            logger.debug("agent %s %s -> %s at %s", agent.id, old, state, now)
            agent.state = state
            agent.state_since = now
            if self.on_state_change is not None:
                self.on_state_change(agent, old)
        if state in _STICKY_LOST:
            for it in self.queue.held_for(agent.id):
                self.queue.move(it, None)
                self._changed.append(it)
        self._refresh(agent)

    def _refresh(self, agent: Agent) -> None:
        """Re-index the agent; a channel it newly became free on is a change to
        match. Freed capacity on a channel it was already free on is not: it
        could take nothing more than before."""
        free = self._agents.free_channels(agent)
        before = set(free)
        self._agents.refresh(agent)
        if len(free) > len(before) or not free <= before:
            self._changed_agents.setdefault(agent.id, set()).update(free - before)
