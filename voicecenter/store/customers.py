"""Customers as IVR flows know them: account, PIN, segment, language, lockout.

PINs are kept only as salted PBKDF2 hashes and compared in constant time.
Failed attempts are counted per account across calls, so a caller cannot
get around the attempts limit by calling again: once they reach the limit
the account is locked for a while, and that is recorded on the row.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    RowMapping,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)

from voicecenter.store.errors import StoreError
from voicecenter.store.models import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from voicecenter.store.database import Store

PBKDF2_ROUNDS = 20_000


class CustomerExists(StoreError):
    """An account number that is already taken."""


# Core tables on the models' MetaData (so foreign keys to calls resolve and the
# schema check sees one schema), created by migration 0002.
METADATA = Base.metadata
customers = Table(
    "customers", METADATA,
    Column("id", Integer, primary_key=True),
    Column("account", String(32), nullable=False, unique=True),
    Column("name", String(128), nullable=False),
    Column("pin_hash", String(255), nullable=True),
    Column("caller_id", String(255), nullable=True, index=True),
    Column("segment", String(32), nullable=False),
    Column("language", String(8), nullable=True),
    Column("attributes", JSON, nullable=False),
    Column("failed_attempts", Integer, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)
flow_versions = Table(
    "flow_versions", METADATA,
    Column("id", Integer, primary_key=True),
    Column("flow", String(128), nullable=False),
    Column("version", String(64), nullable=False),
    Column("path", String(1024), nullable=True),
    Column("source", Text, nullable=False),
    Column("loaded_at", UTCDateTime, nullable=False),
    UniqueConstraint("flow", "version", name="uq_flow_versions_flow_version"),
)


def hash_pin(pin: str, rounds: int = PBKDF2_ROUNDS) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, rounds)
    return f"pbkdf2_sha256${rounds}${salt.hex()}${digest.hex()}"


def verify_pin(stored: str | None, pin: str) -> bool:
    """Whether `pin` matches a hash made by hash_pin (False for no hash)."""
    try:
        scheme, rounds, salt, digest = (stored or "").split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    computed = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), int(rounds))
    return hmac.compare_digest(computed.hex(), digest)


def public(row: RowMapping) -> dict[str, Any]:
    """What a flow may know about a customer (never the PIN hash)."""
    locked = row["locked_until"]
    return {"id": row["id"], "account": row["account"], "name": row["name"],
            "segment": row["segment"], "language": row["language"],
            "caller_id": row["caller_id"], "attributes": dict(row["attributes"] or {}),
            "locked_until": locked.isoformat() if locked else None}


class CustomerRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(self, account: str, name: str, *, pin: str | None = None,
                  segment: str = "standard", language: str | None = None,
                  caller_id: str | None = None,
                  attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        if not account.isdigit():
            raise StoreError(f"account {account!r} must be digits (callers type it)")
        if pin is not None and not pin.isdigit():
            raise StoreError("the PIN must be digits")
        async with self._store.write() as session:
            taken = await session.scalar(
                select(customers.c.id).where(customers.c.account == account))
            if taken is not None:
                raise CustomerExists(account)
            await session.execute(insert(customers).values(
                account=account, name=name, pin_hash=hash_pin(pin) if pin else None,
                caller_id=caller_id, segment=segment, language=language,
                attributes=dict(attributes or {}), failed_attempts=0, created_at=utcnow()))
            row = (await session.execute(
                select(customers).where(customers.c.account == account))).mappings().one()
            return public(row)

    async def get(self, account: str) -> dict[str, Any] | None:
        row = await self._one(customers.c.account == account)
        return public(row) if row else None

    async def by_caller_id(self, caller_id: str) -> dict[str, Any] | None:
        row = await self._one(customers.c.caller_id == caller_id)
        return public(row) if row else None

    async def list(self) -> list[dict[str, Any]]:
        return [public(row) for row in await self.rows()]

    async def rows(self) -> list[RowMapping]:
        """Every row with its hash (simulate checks PINs in memory, writing nothing)."""
        async with self._store.read() as session:
            result = await session.execute(select(customers).order_by(customers.c.account))
            return list(result.mappings().all())

    async def _one(self, condition: Any) -> RowMapping | None:
        async with self._store.read() as session:
            result = await session.execute(select(customers).where(condition))
            return result.mappings().first()

    async def authenticate(self, account: str, pin: str, *, max_failures: int,
                           lockout_s: int) -> tuple[str, dict[str, Any] | None, bool]:
        """(status, customer, locked_now): status ok, bad_pin, unknown or locked."""
        now = utcnow()
        async with self._store.write() as session:
            row = (await session.execute(
                select(customers).where(customers.c.account == account))).mappings().first()
            if row is None:
                return "unknown", None, False
            status, failures, locked_until = decide(row, pin, now, max_failures, lockout_s)
            if (failures, locked_until) != (row["failed_attempts"], row["locked_until"]):
                await session.execute(update(customers).where(customers.c.id == row["id"])
                                      .values(failed_attempts=failures, locked_until=locked_until))
            customer = public(row) if status == "ok" else None
            return status, customer, status == "bad_pin" and locked_until is not None

    async def unlock(self, account: str) -> bool:
        async with self._store.write() as session:
            result = await session.execute(
                update(customers).where(customers.c.account == account)
                .values(failed_attempts=0, locked_until=None))
            return bool(result.rowcount)  # type: ignore[attr-defined]


def decide(row: Any, pin: str, now: datetime, max_failures: int,
           lockout_s: int) -> tuple[str, int, datetime | None]:
    """One attempt's outcome and the account's new (failed_attempts, locked_until).

    Pure, so the store and simulate's in-memory customers decide alike.
    """
    locked_until = row["locked_until"]
    if locked_until is not None and locked_until > now:
        return "locked", row["failed_attempts"], locked_until
    if verify_pin(row["pin_hash"], pin):
        return "ok", 0, None
    failures = row["failed_attempts"] + 1
    if failures >= max_failures:
        return "bad_pin", 0, now + timedelta(seconds=lockout_s)
    return "bad_pin", failures, None
