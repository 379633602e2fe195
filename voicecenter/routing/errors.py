"""Exceptions raised by the router.

Each carries a stable ``error_id`` (the store's convention) so the routing
service and the HTTP API can map it to a status without isinstance tables:
an unknown agent is a 404, a duplicate or an invalid transition a 409.
"""

from __future__ import annotations


class RoutingError(Exception):
    """Base class of everything the router raises on purpose."""

    error_id = "routing-error"


class UnknownAgent(RoutingError):
    error_id = "no-such-agent"

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"no agent {agent_id!r} in the router")
        self.agent_id = agent_id


class UnknownInteraction(RoutingError):
    error_id = "no-such-interaction"

    def __init__(self, interaction_id: str, where: str = "in the router") -> None:
        super().__init__(f"no interaction {interaction_id!r} {where}")
        self.interaction_id = interaction_id


class DuplicateId(RoutingError):
    error_id = "duplicate-id"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} is already in the router")
        self.ident = ident


class InvalidRouting(RoutingError, ValueError):
    """A rule or a record that cannot be routed (bad capacity, level, step...)."""

    error_id = "invalid-routing"


class AgentHoldsInteractions(RoutingError):
    error_id = "agent-busy"

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"agent {agent_id!r} still holds interactions")
        self.agent_id = agent_id
