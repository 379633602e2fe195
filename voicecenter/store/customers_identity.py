"""One customer across channels: a profile with identities and history.

A customer writes from a chat widget (visitor id), texts from a phone,
calls from a SIP URI and is known to the CRM by account or e-mail. Each of
those is an identity; identities point at one profile, and interactions
carry the profile id in `customer`, so the history is every interaction of
the profile. When a flow authenticates a customer, the conversation's
profile and the one already holding that account become one: the account's
profile survives and the other's identities and interactions move to it.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from voicecenter.store.models import Base, Interaction, UTCDateTime, utcnow

if TYPE_CHECKING:
    from voicecenter.store.database import Store

KINDS = ("phone", "sip", "chat", "email", "account")

profiles = Table(
    "customer_profiles", Base.metadata,
    Column("id", String(32), primary_key=True),
    Column("display_name", String(128), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)
identities = Table(
    "customer_identities", Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("profile_id", String(32), ForeignKey("customer_profiles.id"), nullable=False,
           index=True),
    Column("kind", String(16), nullable=False),
    Column("value", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("kind", "value", name="uq_customer_identity"),
)


def normalize(kind: str, value: str) -> str:
    """One spelling per identity: e-mail lower case, numbers without spaces."""
    if kind not in KINDS:
        raise ValueError(f"unknown identity kind {kind!r} (one of {', '.join(KINDS)})")
    value = value.strip()
    if kind == "email":
        return value.lower()
    if kind == "phone":
        return "".join(c for c in value if c.isdigit() or c == "+")
    return value


class IdentityRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def resolve(self, kind: str, value: str) -> str:
        """The profile holding this identity, created with it if none does."""
        value = normalize(kind, value)
        async with self._store.write() as session:
            found = await _owner(session, kind, value)
            if found is not None:
                return found
            profile = await _new_profile(session)
            await _add_identity(session, profile, kind, value)
            return profile

    async def link(self, profile: str | None, kind: str, value: str) -> str:
        """Give `profile` this identity; if another profile has it, merge into that one."""
        value = normalize(kind, value)
        async with self._store.write() as session:
            owner = await _owner(session, kind, value)
            if owner is None:
                profile = profile or await _new_profile(session)
                await _add_identity(session, profile, kind, value)
                return profile
            if profile is not None and profile != owner:
                await _merge(session, profile, owner)
            return owner

    async def claim(self, interaction_id: str, profile: str) -> None:
        """Record the interaction as the profile's (after a merge or an authentication)."""
        async with self._store.write() as session:
            await session.execute(update(Interaction).where(Interaction.id == interaction_id)
                                  .values(customer=profile))

    async def profile(self, profile: str) -> dict[str, Any] | None:
        """The profile, its identities and its interactions, newest first."""
        async with self._store.read() as session:
            row = (await session.execute(select(profiles).where(profiles.c.id == profile))
                   ).mappings().first()
            if row is None:
                return None
            held = await session.execute(select(identities.c.kind, identities.c.value)
                                         .where(identities.c.profile_id == profile)
                                         .order_by(identities.c.id))
            history = await session.scalars(select(Interaction)
                                            .where(Interaction.customer == profile)
                                            .order_by(Interaction.created_at.desc()))
            return {"id": profile, "display_name": row["display_name"],
                    "identities": [{"kind": k, "value": v} for k, v in held],
                    "interactions": [{"id": i.id, "channel": i.channel, "state": i.state,
                                      "created_at": i.created_at.isoformat()}
                                     for i in history]}


async def _owner(session: AsyncSession, kind: str, value: str) -> str | None:
    return await session.scalar(select(identities.c.profile_id)
                                .where(identities.c.kind == kind, identities.c.value == value))


async def _new_profile(session: AsyncSession) -> str:
    profile = uuid.uuid4().hex
    await session.execute(insert(profiles).values(id=profile, created_at=utcnow()))
    return profile


async def _add_identity(session: AsyncSession, profile: str, kind: str, value: str) -> None:
    await session.execute(insert(identities).values(profile_id=profile, kind=kind, value=value,
                                                    created_at=utcnow()))


async def _merge(session: AsyncSession, source: str, target: str) -> None:
    """Move everything of `source` to `target` and drop `source`."""
    await session.execute(update(identities).where(identities.c.profile_id == source)
                          .values(profile_id=target))
    await session.execute(update(Interaction).where(Interaction.customer == source)
                          .values(customer=target))
    await session.execute(delete(profiles).where(profiles.c.id == source))
