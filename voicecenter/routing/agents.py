"""Agents known to the router, indexed by what they can take right now.

For each channel, ``free`` maps each skill to the agents who have that skill
and could get a new offer on that channel now (offerable state, free
capacity, the call/chat exclusion rules). An arriving interaction therefore
looks only at the smallest such set among its required skills, not at every
agent; the index is refreshed on each change of an agent's state or load.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from voicecenter.routing.config import RouterConfig
from voicecenter.routing.errors import DuplicateId, UnknownAgent
from voicecenter.routing.model import (
    CHANNELS,
    OFFERABLE,
    Agent,
    AgentState,
    Channel,
    Interaction,
)

ANY_SKILL = ""
_EMPTY: frozenset[str] = frozenset()


class AgentPool:
    def __init__(self, config: RouterConfig) -> None:
        self._config = config
        self._agents: dict[str, Agent] = {}
        self._free: dict[Channel, dict[str, set[str]]] = {c: {} for c in CHANNELS}
        self._indexed: dict[str, set[Channel]] = {}
        self._next_ordinal = 0

    def __len__(self) -> int:
        return len(self._agents)

    def __iter__(self) -> Iterator[Agent]:
        return iter(list(self._agents.values()))

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._agents

    @property
    def ordinals(self) -> int:
        """One past the highest ordinal given: the round-robin ring's size."""
        return self._next_ordinal

    def get(self, agent_id: str) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)
        return agent

    def find(self, agent_id: str) -> Agent | None:
        return self._agents.get(agent_id)

    def add(self, agent: Agent) -> None:
        if agent.id in self._agents:
            raise DuplicateId("agent", agent.id)
        agent.ordinal = self._next_ordinal
        self._next_ordinal += 1
        self._agents[agent.id] = agent
        self._indexed[agent.id] = set()
        self.refresh(agent)

    def remove(self, agent_id: str) -> Agent:
        agent = self.get(agent_id)
        for channel in self._indexed.pop(agent_id):
            self._unindex(agent, channel)
        del self._agents[agent_id]
        return agent

    def can_take(self, agent: Agent, channel: Channel) -> bool:
        """May ``agent`` get a new offer on ``channel`` now?"""
        if agent.state not in OFFERABLE:
            return False
        load = agent.load
        if agent.state is not AgentState.AVAILABLE and not (
                load[Channel.VOICE] or load[Channel.CHAT] or load[Channel.SMS]):
            # Busy or reserved with no work routed here: busy with something the
            # router does not hold (a direct or transferred call), so no offers.
            return False
        return self.fits(agent, channel)

    def fits(self, agent: Agent, channel: Channel) -> bool:
        """Does one more interaction on ``channel`` fit the agent's capacity and
        channel rules (whatever its state)?"""
        load = agent.load
        if load[channel] >= agent.capacity[channel]:
            return False
        if channel is Channel.VOICE:
            allow = agent.call_during_digital
            if allow is None:
                allow = self._config.call_during_digital
            return allow or not (load[Channel.CHAT] or load[Channel.SMS])
        allow = agent.digital_during_call
        if allow is None:
            allow = self._config.digital_during_call
        return allow or not load[Channel.VOICE]

    def free_channels(self, agent: Agent) -> set[Channel]:
        """Channels on which ``agent`` is indexed as able to take an offer."""
        return self._indexed.get(agent.id, set())

    def refresh(self, agent: Agent) -> None:
        """Bring the free index in line with the agent's state and load."""
        indexed = self._indexed[agent.id]
        for channel in CHANNELS:
            able = self.can_take(agent, channel)
            if able and channel not in indexed:
                indexed.add(channel)
                free = self._free[channel]
                for skill in (*agent.skills, ANY_SKILL):
                    free.setdefault(skill, set()).add(agent.id)
            elif not able and channel in indexed:
                indexed.discard(channel)
                self._unindex(agent, channel)

    def candidates(self, channel: Channel, requirements: Mapping[str, int],
                   it: Interaction, now: float) -> list[Agent]:
        """Agents able to take ``it`` now: channel free, every skill at its level."""
        free = self._free[channel]
        pool: set[str] | frozenset[str] | None = None
        for skill in requirements:
            ids = free.get(skill)
            if not ids:
                return []
            if pool is None or len(ids) < len(pool):
                pool = ids
        if pool is None:
            pool = free.get(ANY_SKILL, _EMPTY)
        agents = self._agents
        missed = it.missed_by
        matches: list[Agent] = []
        for agent_id in pool:
            agent = agents[agent_id]
            skills = agent.skills
            for skill, level in requirements.items():
                if skills.get(skill, -1) < level:
                    break
            else:
                if missed and missed.get(agent_id, -math.inf) > now:
                    continue
                matches.append(agent)
        return matches

    def _unindex(self, agent: Agent, channel: Channel) -> None:
        free = self._free[channel]
        for skill in (*agent.skills, ANY_SKILL):
            ids = free.get(skill)
            if ids is not None:
                ids.discard(agent.id)
                if not ids:
                    del free[skill]
