"""People who log in to the API and pages: users, their tokens, and the access log.

Agents are not rows here: they log in with their agent name and the password
of their SIP account (one credential per person, as on a desk phone), and
get role ``agent``. Supervisors, QA reviewers and admins are users.

Passwords are kept as scrypt hashes (stdlib, memory-hard); tokens are random
and only their SHA-256 is stored, so the table is useless to whoever copies
it. The access log is append-only: who read which recording or transcript,
and every refused login, for the audits contact centers go through.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Integer,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)

from voicecenter.store.errors import NotFound, StoreError
from voicecenter.store.models import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from voicecenter.store.database import Store

ROLES = ("admin", "supervisor", "qa", "agent")
USER_ROLES = ("admin", "supervisor", "qa")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}

users = Table(
    "users", Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
tokens = Table(
    "auth_tokens", Base.metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("name", String(64), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("agent", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
access_log = Table(
    "access_log", Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("user", String(64), nullable=True, index=True),
    Column("role", String(16), nullable=True),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=False, index=True),
    Column("remote", String(64), nullable=True),
)


class UserExists(StoreError):
    error_id = "user-exists"


class InvalidUser(StoreError):
    error_id = "invalid-user"


class NoSuchUser(NotFound):
    error_id = "no-such-user"


@dataclass(frozen=True)
class User:
    """Who a request acts for; ``agent`` is the agent name for role agent."""

    name: str
    role: str
    agent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "agent": self.agent}


@dataclass(frozen=True)
class Session:
    token: str
    user: User
    expires_at: datetime


@dataclass(frozen=True)
class AccessRecord:
    id: int
    at: datetime
    user: str | None
    role: str | None
    action: str
    target: str
    remote: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "user": self.user, "role": self.role,
                "action": self.action, "target": self.target, "remote": self.remote}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    found = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32,
                           n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(found.hex(), digest)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_user(name: str, role: str, password: str) -> None:
    if not _NAME.match(name):
        raise InvalidUser("name must be 1-64 letters, digits or . _ @ -")
    if role not in USER_ROLES:
        raise InvalidUser(f"role must be one of {', '.join(USER_ROLES)} "
                          "(agents are managed with `voicecenter agents`)")
    if len(password) < 8:
        raise InvalidUser("the password must have at least 8 characters")


class UserRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(self, name: str, role: str, password: str) -> User:
        check_user(name, role, password)
        async with self._store.write() as session:
            found = await session.execute(select(users.c.id).where(users.c.name == name))
            if found.first() is not None:
                raise UserExists(f"user {name!r} already exists")
            await session.execute(insert(users).values(
                name=name, role=role, password_hash=hash_password(password),
                created_at=utcnow()))
        return User(name, role)

    async def list(self) -> list[User]:
        async with self._store.read() as session:
            rows = await session.execute(select(users.c.name, users.c.role).order_by(users.c.name))
            return [User(name, role) for name, role in rows]

    async def count(self) -> int:
        async with self._store.read() as session:
            rows = await session.execute(select(users.c.id))
            return len(rows.all())

    async def remove(self, name: str) -> None:
        async with self._store.write() as session:
            done = await session.execute(delete(users).where(users.c.name == name))
            if done.rowcount == 0:
                raise NoSuchUser(f"no user {name!r}")
            await session.execute(delete(tokens).where(tokens.c.name == name,
                                                       tokens.c.agent.is_(None)))

    async def set_password(self, name: str, password: str) -> None:
        if len(password) < 8:
            raise InvalidUser("the password must have at least 8 characters")
        async with self._store.write() as session:
            done = await session.execute(update(users).where(users.c.name == name).values(
                password_hash=hash_password(password)))
            if done.rowcount == 0:
                raise NoSuchUser(f"no user {name!r}")
            await session.execute(delete(tokens).where(tokens.c.name == name,
                                                       tokens.c.agent.is_(None)))

    async def authenticate(self, name: str, password: str) -> User | None:
        async with self._store.read() as session:
            row = (await session.execute(
                select(users.c.role, users.c.password_hash).where(users.c.name == name))).first()
        if row is None or not verify_password(password, row.password_hash):
            return None
        return User(name, row.role)

    async def exists(self, name: str) -> bool:
        async with self._store.read() as session:
            row = (await session.execute(select(users.c.id).where(users.c.name == name))).first()
        return row is not None

    # Tokens ----------------------------------------------------------------

    async def issue_token(self, user: User, ttl: timedelta) -> Session:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self._store.write() as session:
            await session.execute(insert(tokens).values(
                token_hash=token_hash(token), name=user.name, role=user.role, agent=user.agent,
                created_at=now, expires_at=now + ttl))
            # Expired tokens are useless; dropping them here keeps the table small.
            await session.execute(delete(tokens).where(tokens.c.expires_at < now))
        return Session(token, user, now + ttl)

    async def session_of(self, token: str) -> Session | None:
        async with self._store.read() as session:
            row = (await session.execute(
                select(tokens).where(tokens.c.token_hash == token_hash(token)))).first()
        if row is None or row.expires_at <= utcnow():
            return None
        return Session(token, User(row.name, row.role, row.agent), row.expires_at)

    async def revoke(self, token: str) -> None:
        async with self._store.write() as session:
            await session.execute(delete(tokens).where(tokens.c.token_hash == token_hash(token)))

    # Access log ------------------------------------------------------------

    async def log_access(self, user: User | None, action: str, target: str,
                         remote: str | None = None) -> None:
        async with self._store.write() as session:
            await session.execute(insert(access_log).values(
                at=utcnow(), user=user.name if user else None, role=user.role if user else None,
                action=action, target=target[:255], remote=remote))

    async def access_records(self, *, target: str | None = None, user: str | None = None,
                             action: str | None = None, limit: int = 100) -> list[AccessRecord]:
        query = select(access_log).order_by(access_log.c.id.desc()).limit(limit)
        if target is not None:
            query = query.where(access_log.c.target == target)
        if user is not None:
            query = query.where(access_log.c.user == user)
        if action is not None:
            query = query.where(access_log.c.action == action)
        async with self._store.read() as session:
            rows = await session.execute(query)
            return [AccessRecord(r.id, r.at, r.user, r.role, r.action, r.target, r.remote)
                    for r in rows]
