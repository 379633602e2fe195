"""What an agent's desk shows about an interaction: who, what happened, what they said.

An offer is only useful if the agent knows the customer before saying hello:
the attached data (segment, account, department), the IVR's answers, the
chat lines, earlier interactions. This gathers them from the store in one
answer. Pure helpers (which events an agent sees, the IVR answers, whether
an agent took part) are kept apart so they are tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ..store.models import Interaction

if TYPE_CHECKING:
    from ..store import Store

# Raw digits would show PINs typed in the IVR (flow.input masks secrets; the
# per-digit events do not), and media statistics mean nothing to an agent.
HIDDEN_KINDS = frozenset({"dtmf.received", "media.stats"})
# Keys of event data that name agents: who was offered, given or consulted it.
_AGENT_KEYS = ("agent", "to", "from", "with", "supervisor")
HISTORY_LIMIT = 20


def visible(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline an agent is shown."""
    return [e for e in events if e.get("kind") not in HIDDEN_KINDS]


def ivr_answers(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the caller answered in the IVR, in order: each variable a flow node set,
    with the input (digits or words) that node collected, if any."""
    inputs: dict[str, Any] = {}
    answers: list[dict[str, Any]] = []
    for event in events:
        data = event.get("data") or {}
        node = data.get("node")
        if event.get("kind") == "flow.input" and node:
            heard = data.get("digits") if data.get("digits") not in (None, "") \
                else data.get("text")
            inputs[node] = heard
        elif event.get("kind") == "flow.variable_set" and node:
            answers.append({"node": node, "name": data.get("name"), "value": data.get("value"),
                            "input": inputs.get(node), "at": event.get("at")})
    return answers


def involves(agent: str, events: Iterable[dict[str, Any]]) -> bool:
    """Whether the agent was offered, handled or was brought into the interaction."""
    for event in events:
        data = event.get("data") or {}
        for key in _AGENT_KEYS:
            value = data.get(key)
            if value == agent or (isinstance(value, list) and agent in value):
                return True
        agents = data.get("agents")
        if isinstance(agents, list) and agent in agents:
            return True
    return False


async def history(store: Store, customer: str, exclude: str) -> list[dict[str, Any]]:
    """Earlier interactions of the same customer (same profile or same caller URI)."""
    async with store.read() as session:
        rows = await session.scalars(
            select(Interaction).where(Interaction.customer == customer,
                                      Interaction.id != exclude)
            .order_by(Interaction.created_at.desc()).limit(HISTORY_LIMIT))
        return [{"id": r.id, "channel": r.channel, "state": r.state,
                 "created_at": r.created_at.isoformat(), "attached": r.attached or {}}
                for r in rows]


async def interaction_context(store: Store, interaction_id: str) -> dict[str, Any]:
    """The interaction, its visible timeline, IVR answers, customer and history.

    Raises NoSuchInteraction for an unknown id.
    """
    record = await store.interactions.get(interaction_id)
    events = [e.to_dict() for e in await store.interactions.timeline(interaction_id)]
    profile = None
    customer = record.customer
    if customer:
        identities = getattr(store, "identities", None)
        if identities is not None:
            profile = await identities.profile(customer)
        if profile is None:  # a caller known only by the SIP URI they called from
            profile = {"id": None, "display_name": None,
                       "identities": [{"kind": "caller", "value": customer}]}
    past = await history(store, customer, interaction_id) if customer else []
    return {"interaction": record.to_dict(), "timeline": visible(events),
            "answers": ivr_answers(events), "customer": profile, "history": past}
