"""The store: interactions, calls, their timeline, the event outbox, agents.

``open_store(settings)`` upgrades the schema and returns a ``Store`` whose
repositories (``store.calls``, ``store.interactions``, ``store.agents``,
``store.outbox``) are the only way the rest of voicecenter touches SQL.
"""

from voicecenter.store.agents import sip_ha1, sip_ha1b
from voicecenter.store.database import Store, create_engine, migrate, open_store
from voicecenter.store.errors import (
    AgentExists,
    InvalidAgent,
    InvalidState,
    NoSuchAgent,
    NoSuchCall,
    NoSuchInteraction,
    NotFound,
    StoreError,
)
from voicecenter.store.records import (
    AgentRecord,
    CallRecord,
    EventRecord,
    InteractionRecord,
    OutboxRecord,
)

__all__ = [
    "AgentExists",
    "AgentRecord",
    "CallRecord",
    "EventRecord",
    "InteractionRecord",
    "InvalidAgent",
    "InvalidState",
    "NoSuchAgent",
    "NoSuchCall",
    "NoSuchInteraction",
    "NotFound",
    "OutboxRecord",
    "Store",
    "StoreError",
    "create_engine",
    "migrate",
    "open_store",
    "sip_ha1",
    "sip_ha1b",
]
