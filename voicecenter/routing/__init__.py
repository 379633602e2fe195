"""Skills-based routing of calls, chats and SMS to agents: pure logic.

``Router`` holds agents and one universal queue and answers ``decide(now)``
with ``Assign`` and ``Overflow`` decisions, each with an ``Explanation``.
No I/O and no clock: the routing service feeds it events and times, carries
out its decisions and persists what must survive a restart.
"""

from voicecenter.routing.config import RouterConfig, Strategy
from voicecenter.routing.decisions import Assign, Decision, Explanation, Overflow
from voicecenter.routing.errors import (
    AgentHoldsInteractions,
    DuplicateId,
    InvalidRouting,
    RoutingError,
    UnknownAgent,
    UnknownInteraction,
)
from voicecenter.routing.model import (
    Agent,
    AgentState,
    Channel,
    Interaction,
    OverflowRule,
    TargetStep,
)
from voicecenter.routing.router import Router

__all__ = [
    "Agent",
    "AgentHoldsInteractions",
    "AgentState",
    "Assign",
    "Channel",
    "Decision",
    "DuplicateId",
    "Explanation",
    "Interaction",
    "InvalidRouting",
    "Overflow",
    "OverflowRule",
    "Router",
    "RouterConfig",
    "RoutingError",
    "Strategy",
    "TargetStep",
    "UnknownAgent",
    "UnknownInteraction",
]
