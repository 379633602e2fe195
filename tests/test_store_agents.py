"""Agents and the SIP credentials Kamailio reads from the same file."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from voicecenter.settings import Settings, StoreSettings
from voicecenter.store import AgentExists, InvalidAgent, NoSuchAgent, Store, open_store

REALM = "127.0.0.1"
PASSWORD = "Zebra-Quartz-8841"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "vc.db"


@pytest.fixture
async def store(db: Path) -> AsyncIterator[Store]:
    store = await open_store(Settings(store=StoreSettings(url=f"sqlite+aiosqlite:///{db}")))
    yield store
    await store.close()


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def kamailio_row(db: Path, username: str) -> tuple | None:
    """What auth_db's query returns for a REGISTER from ``username``."""
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT username, domain, ha1, ha1b FROM sip_accounts WHERE username = ?",
            (username,),
        ).fetchone()


async def test_add_stores_digest_hashes_and_never_the_password(store: Store, db: Path) -> None:
    agent = await store.agents.add("alice", PASSWORD, {"sales": 5, "support": 3}, REALM,
                                   display_name="Alice A.")

    assert (agent.name, agent.display_name, agent.skills) == (
        "alice", "Alice A.", {"sales": 5, "support": 3})
    assert (agent.sip_username, agent.sip_domain) == ("alice", REALM)
    assert kamailio_row(db, "alice") == (
        "alice", REALM,
        md5(f"alice:{REALM}:{PASSWORD}"),
        md5(f"alice@{REALM}:{REALM}:{PASSWORD}"),
    )
    # Neither the database nor its write-ahead log holds the plain password.
    for path in db.parent.glob("vc.db*"):
        assert PASSWORD.encode() not in path.read_bytes()
    assert await store.agents.get("alice") == agent
    assert await store.agents.check_password("alice", PASSWORD, REALM)
    assert not await store.agents.check_password("alice", "wrong", REALM)
    assert not await store.agents.check_password("nobody", PASSWORD, REALM)


async def test_add_twice_and_remove_unknown_raise_clear_errors(store: Store, db: Path) -> None:
    await store.agents.add("bob", "pw1", {}, REALM)
    with pytest.raises(AgentExists, match="bob"):
        await store.agents.add("bob", "pw2", {}, REALM)
    assert kamailio_row(db, "bob")[2] == md5(f"bob:{REALM}:pw1")  # type: ignore[index]
    with pytest.raises(NoSuchAgent, match="carol"):
        await store.agents.remove("carol")
    with pytest.raises(NoSuchAgent):
        await store.agents.get("carol")
    assert NoSuchAgent.error_id == "no-such-agent"


@pytest.mark.parametrize(
    ("name", "password", "skills"),
    [
        ("bad name", "pw", {}),
        ("bob@example.com", "pw", {}),
        ("a/b", "pw", {}),
        ("", "pw", {}),
        ("ok", "", {}),
        ("ok", "pw", {"sales": "high"}),
        ("ok", "pw", {"sales": 101}),
        ("ok", "pw", {"": 1}),
    ],
)
async def test_invalid_agents_are_refused(
    store: Store, name: str, password: str, skills: dict
) -> None:
    with pytest.raises(InvalidAgent):
        await store.agents.add(name, password, skills, REALM)
    assert await store.agents.list() == []


async def test_remove_deletes_the_sip_account(store: Store, db: Path) -> None:
    await store.agents.add("carol", "pw", {"sales": 1}, REALM)
    await store.agents.add("dave", "pw", {}, REALM)
    assert [a.name for a in await store.agents.list()] == ["carol", "dave"]

    await store.agents.remove("carol")

    assert [a.name for a in await store.agents.list()] == ["dave"]
    assert kamailio_row(db, "carol") is None
    assert kamailio_row(db, "dave") is not None
    # The name is free again.
    await store.agents.add("carol", "pw2", {}, REALM)
    assert kamailio_row(db, "carol")[2] == md5(f"carol:{REALM}:pw2")  # type: ignore[index]


async def test_password_and_skill_changes(store: Store, db: Path) -> None:
    await store.agents.add("erin", "old", {"sales": 1}, REALM, domain="pbx.example")
    await store.agents.set_password("erin", "new", REALM)
    assert kamailio_row(db, "erin") == (
        "erin", "pbx.example", md5(f"erin:{REALM}:new"), md5(f"erin@pbx.example:{REALM}:new"))
    updated = await store.agents.set_skills("erin", {"support": 4})
    assert updated.skills == {"support": 4}


async def test_agent_changes_are_published_through_the_outbox(store: Store) -> None:
    await store.agents.add("frank", "pw", {"sales": 2}, REALM)
    await store.agents.set_skills("frank", {"sales": 3})
    await store.agents.remove("frank")
    messages = await store.outbox.all()
    assert [m.topic for m in messages] == [
        "voicecenter/agents/frank/added",
        "voicecenter/agents/frank/updated",
        "voicecenter/agents/frank/removed",
    ]
    payload = json.loads(messages[0].payload)
    assert payload["kind"] == "agent.added" and payload["data"]["skills"] == {"sales": 2}
    assert all("pw" not in m.payload for m in messages)
