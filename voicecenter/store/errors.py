"""Exceptions raised by the store.

Each carries a stable ``error_id`` so that the HTTP API can turn it into an
error body (``no-such-call``, 404) without a table of isinstance checks, and
so that the CLI can print one clear line.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of everything the store raises on purpose."""

    error_id = "store-error"


class NotFound(StoreError):
    """A record that the caller named does not exist."""

    error_id = "not-found"


class NoSuchCall(NotFound):
    error_id = "no-such-call"

    def __init__(self, call_id: str) -> None:
        super().__init__(f"no call {call_id!r}")
        self.call_id = call_id


class NoSuchInteraction(NotFound):
    error_id = "no-such-interaction"

    def __init__(self, interaction_id: str) -> None:
        super().__init__(f"no interaction {interaction_id!r}")
        self.interaction_id = interaction_id


class NoSuchAgent(NotFound):
    error_id = "no-such-agent"

    def __init__(self, name: str) -> None:
        super().__init__(f"no agent {name!r}")
        self.name = name


class AgentExists(StoreError):
    error_id = "agent-exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"agent {name!r} already exists")
        self.name = name


class InvalidAgent(StoreError, ValueError):
    """A name, password or skill set that cannot be stored as given."""

    error_id = "invalid-agent"


class InvalidState(StoreError):
    """The change does not apply to the record's current state (e.g. answering an ended call)."""

    error_id = "invalid-state"
