"""Agents and their SIP credentials.

An agent's softphone registers with Kamailio, which checks the digest against
``sip_accounts`` itself (auth_db). So adding an agent writes both rows in one
transaction, and only the two digest hashes Kamailio needs are kept: ha1 for
the plain username and ha1b for clients that send ``user@domain``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from voicecenter.events.topics import topic_for
from voicecenter.store.errors import AgentExists, InvalidAgent, NoSuchAgent
from voicecenter.store.models import Agent, SipAccount, utcnow
from voicecenter.store.records import AgentRecord
from voicecenter.store.timeline import enqueue

if TYPE_CHECKING:
    from voicecenter.store.database import Store

# Also a SIP user part and an MQTT topic level: no '@', ':', '/', '+', '#', spaces.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# A team is shown on the wallboard and grouped by: a short label, spaces allowed inside.
TEAM_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._-]{0,62}[A-Za-z0-9._-])?")
MAX_SKILL_LEVEL = 10


class _Unset:
    """No change asked for (None means "no team", so it cannot mean "leave it")."""


UNSET = _Unset()


def sip_ha1(username: str, realm: str, password: str) -> str:
    """md5("username:realm:password"), Kamailio's ``ha1`` column."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


def sip_ha1b(username: str, domain: str, realm: str, password: str) -> str:
    """md5("username@domain:realm:password"), Kamailio's ``ha1b`` column."""
    return hashlib.md5(f"{username}@{domain}:{realm}:{password}".encode()).hexdigest()


class AgentRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(
        self,
        name: str,
        password: str,
        skills: dict[str, int],
        realm: str,
        *,
        display_name: str | None = None,
        domain: str | None = None,
        team: str | None = None,
    ) -> AgentRecord:
        """Create an agent and its SIP account; raises AgentExists or InvalidAgent."""
        _check_name(name)
        _check_password(password)
        skills = _check_skills(skills)
        team = check_team(team)
        domain = domain or realm
        async with self._store.write() as session:
            taken = await session.scalar(select(Agent.id).where(Agent.name == name))
            taken = taken or await session.scalar(
                select(SipAccount.id).where(SipAccount.username == name)
            )
            if taken is not None:
                raise AgentExists(name)
            agent = Agent(
                name=name, display_name=display_name or name, skills=skills, created_at=utcnow(),
                team=team,
            )
            session.add(agent)
            await session.flush()
            account = SipAccount(
                username=name, domain=domain, agent_id=agent.id,
                ha1=sip_ha1(name, realm, password), ha1b=sip_ha1b(name, domain, realm, password),
            )
            session.add(account)
            await session.flush()
            record = AgentRecord.of(agent, account)
            self._publish(session, "agent.added", record)
            return record

    async def get(self, name: str) -> AgentRecord:
        async with self._store.read() as session:
            agent, account = await _load(session, name)
            return AgentRecord.of(agent, account)

    async def list(self) -> list[AgentRecord]:
        """Every agent, by name."""
        async with self._store.read() as session:
            rows = await session.execute(
                select(Agent, SipAccount)
                .outerjoin(SipAccount, SipAccount.agent_id == Agent.id)
                .order_by(Agent.name)
            )
            return [AgentRecord.of(agent, account) for agent, account in rows]

    async def remove(self, name: str) -> None:
        """Delete the agent and its SIP account (its softphone can no longer register)."""
        async with self._store.write() as session:
            agent, account = await _load(session, name)
            record = AgentRecord.of(agent, account)
            await session.execute(delete(SipAccount).where(SipAccount.agent_id == agent.id))
            await session.delete(agent)
            self._publish(session, "agent.removed", record)

    async def set_password(self, name: str, password: str, realm: str) -> None:
        _check_password(password)
        async with self._store.write() as session:
            agent, account = await _load(session, name)
            if account is None:
                raise NoSuchAgent(name)
            account.ha1 = sip_ha1(account.username, realm, password)
            account.ha1b = sip_ha1b(account.username, account.domain, realm, password)
            self._publish(session, "agent.updated", AgentRecord.of(agent, account),
                          password_changed=True)

    async def set_skills(self, name: str, skills: dict[str, int]) -> AgentRecord:
        skills = _check_skills(skills)
        async with self._store.write() as session:
            agent, account = await _load(session, name)
            agent.skills = skills
            record = AgentRecord.of(agent, account)
            self._publish(session, "agent.updated", record)
            return record

    async def update(
        self,
        name: str,
        *,
        skills: dict[str, int] | None = None,
        team: str | _Unset | None = UNSET,
        display_name: str | None = None,
    ) -> AgentRecord:
        """Change what is given (skills, team, display name); the rest stays.

        ``team=None`` takes the agent out of any team. Raises NoSuchAgent or InvalidAgent
        (before anything is written).
        """
        checked = _check_skills(skills) if skills is not None else None
        new_team = check_team(team) if not isinstance(team, _Unset) else None
        if display_name is not None and not 1 <= len(display_name.strip()) <= 128:
            raise InvalidAgent("display_name must be 1-128 characters")
        async with self._store.write() as session:
            agent, account = await _load(session, name)
            if checked is not None:
                agent.skills = checked
            if not isinstance(team, _Unset):
                agent.team = new_team
            if display_name is not None:
                agent.display_name = display_name.strip()
            await session.flush()
            record = AgentRecord.of(agent, account)
            self._publish(session, "agent.updated", record)
            return record

    async def check_password(self, name: str, password: str, realm: str) -> bool:
        """Whether ``password`` is the agent's (for logins to the web pages)."""
        async with self._store.read() as session:
            account = await session.scalar(select(SipAccount).where(SipAccount.username == name))
        if account is None:
            return False
        return hmac.compare_digest(account.ha1, sip_ha1(name, realm, password))

    async def record_states(self, changes: Sequence[dict[str, Any]]) -> None:
        """Agents' state changes as ``agent.state_changed`` events, in one transaction.

        The router changes states many times a second under load; writing a
        batch at a time keeps that off the database's critical path.
        """
        async with self._store.write() as session:
            for change in changes:
                at = change["at"]
                enqueue(session, topic_for(self._store.topic_prefix, "agent.state_changed",
                                           agent=change["name"]), {
                    "event_id": None, "kind": "agent.state_changed",
                    "at": at.isoformat(timespec="microseconds"),
                    "interaction_id": None, "call_id": None,
                    "data": {k: v for k, v in change.items() if k != "at"}}, at)

    def _publish(
        self, session: AsyncSession, kind: str, record: AgentRecord, **extra: object
    ) -> None:
        topic = topic_for(self._store.topic_prefix, kind, agent=record.name)
        data = {
            "name": record.name, "display_name": record.display_name,
            "skills": record.skills, "team": record.team, **extra,
        }
        now = utcnow()
        enqueue(session, topic, {
            "event_id": None, "kind": kind, "at": now.isoformat(timespec="microseconds"),
            "interaction_id": None, "call_id": None, "data": data,
        }, now)


async def _load(session: AsyncSession, name: str) -> tuple[Agent, SipAccount | None]:
    agent = await session.scalar(select(Agent).where(Agent.name == name))
    if agent is None:
        raise NoSuchAgent(name)
    account = await session.scalar(select(SipAccount).where(SipAccount.agent_id == agent.id))
    return agent, account


def _check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidAgent(
            f"agent name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def check_team(team: str | None) -> str | None:
    """The team name as stored (None: no team), or InvalidAgent."""
    if team is None:
        return None
    if not isinstance(team, str) or not TEAM_PATTERN.fullmatch(team.strip()):
        raise InvalidAgent(
            f"team {team!r}: use 1-64 letters, digits, spaces, '.', '_' or '-', "
            "starting and ending with a letter, digit, '.', '_' or '-'"
        )
    return team.strip()


def _check_password(password: str) -> None:
    if not password:
        raise InvalidAgent("the password must not be empty")


def _check_skills(skills: dict[str, int]) -> dict[str, int]:
    checked = {}
    for skill, level in skills.items():
        if not isinstance(skill, str) or not skill.strip():
            raise InvalidAgent(f"skill name {skill!r} must be a non-empty string")
        if isinstance(level, bool) or not isinstance(level, int):
            raise InvalidAgent(f"skill {skill}: level {level!r} must be an integer")
        if not 0 <= level <= MAX_SKILL_LEVEL:
            raise InvalidAgent(f"skill {skill}: level {level} must be 0..{MAX_SKILL_LEVEL}")
        checked[skill.strip()] = level
    return checked
