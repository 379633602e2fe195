"""One matching round: pair waiting interactions with free agents.

The rule it implements is the simple one a supervisor expects: take the
waiting interactions in queue order; each one that some free agent can take
goes to the agent the strategy prefers. Doing that literally would look at
all 10,000 waiting interactions on every call, so the round starts from
what changed since the last one: interactions that arrived or changed
requirements, and agents that gained free capacity. Between rounds no free
agent can take any waiting interaction (the round leaves none), so a new
pair must involve something that changed. Changed interactions are
candidates themselves; each changed agent proposes the best interaction it
could take. Candidates are served in queue order, and an agent whose
proposal went to someone else proposes again. The highest candidate that
can be served is then always the highest waiting interaction that can be.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Any

from voicecenter.routing.agents import AgentPool
from voicecenter.routing.config import RouterConfig
from voicecenter.routing.decisions import Explanation
from voicecenter.routing.model import Agent, Channel, Interaction
from voicecenter.routing.queue import WaitingQueue
from voicecenter.routing.strategies import choose

_Candidate = tuple[tuple[float, float, float, int], Interaction]
_Proposer = tuple[Agent, set[Channel]]
AssignFn = Callable[[Interaction, Agent, Explanation], None]


class Matcher:
    def __init__(self, config: RouterConfig, agents: AgentPool, queue: WaitingQueue) -> None:
        self._config = config
        self._agents = agents
        self._queue = queue
        self.cursor = -1  # ordinal of the last agent served, for round robin

    def run(self, interactions: Iterable[Interaction],
            agents: Iterable[tuple[Agent, set[Channel]]], now: float,
            assign: AssignFn) -> None:
        """Serve changed interactions and what agents newly free on ``channels`` can take.

        An agent proposes only on the channels it newly became free on: on
        the others it could take no interaction that was already waiting.
        """
        heap: list[_Candidate] = [(it.sort_key, it) for it in interactions if it.waiting]
        heapq.heapify(heap)
        proposers: dict[str, list[_Proposer]] = {}
        for proposer in agents:
            self._propose(proposer, now, heap, proposers)
        while heap:
            _, it = heapq.heappop(heap)
            waiting_on = proposers.pop(it.id, ())
            if it.waiting and self._serve(it, now, assign) is None:
                # Nobody free can take it; its proposers were used up by better
                # interactions, so proposing again would loop.
                continue
            for proposer in waiting_on:  # their pick is gone: each proposes its next best
                self._propose(proposer, now, heap, proposers)

    def explain(self, it: Interaction, now: float, rule: str, **extra: Any) -> Explanation:
        return Explanation(
            rule=rule, requirements=dict(it.requirements()), stage=it.stage,
            waited=it.waited(now), effective_priority=self._queue.effective_priority(it, now),
            segment=it.segment, **extra)

    def _propose(self, proposer: _Proposer, now: float, heap: list[_Candidate],
                 proposers: dict[str, list[_Proposer]]) -> None:
        agent, channels = proposer
        free = self._agents.free_channels(agent)
        best = None
        for channel in channels:
            if channel in free:
                head = self._queue.best_for(agent, channel, now)
                if head is not None and (best is None or head < best):
                    best = head
        if best is not None:
            it = best[5]
            heapq.heappush(heap, (it.sort_key, it))
            proposers.setdefault(it.id, []).append(proposer)

    def _serve(self, it: Interaction, now: float, assign: AssignFn) -> Agent | None:
        owner = self._queue.sticky_owner(it)
        if owner is not None:
            agent = self._agents.find(owner)
            if agent is None or it.channel not in self._agents.free_channels(agent):
                return None
            assign(it, agent, self.explain(it, now, "sticky", matched=1,
                                           notes=("preferred agent within its sticky window",)))
            return agent
        requirements = it.requirements()
        matches = self._agents.candidates(it.channel, requirements, it, now)
        if not matches:
            return None
        config = self._config
        choice = choose(config.strategy, matches, requirements, now, cursor=self.cursor,
                        ring=self._agents.ordinals, others=config.explain_others)
        self.cursor = choice.agent.ordinal
        assign(it, choice.agent, self.explain(
            it, now, "strategy", strategy=str(config.strategy), score=choice.score,
            matched=choice.matched, others=choice.others))
        return choice.agent
