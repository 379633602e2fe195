"""Logins without a server: password hashes, token expiry, lockout windows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from voicecenter.api.sessions import LoginGuard, LoginLocked, SessionService
from voicecenter.settings import AuthSettings, PathSettings, Settings, StoreSettings
from voicecenter.store import Store, open_store
from voicecenter.store.users import InvalidUser, User, hash_password, verify_password


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    made = await open_store(Settings(store=StoreSettings(
        url=f"sqlite+aiosqlite:///{tmp_path / 'vc.db'}")))
    yield made
    await made.close()


def test_password_hashes_are_salted_and_checked() -> None:
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two and one.startswith("scrypt$")
    assert verify_password("correct horse", one) and not verify_password("wrong", one)
    assert not verify_password("correct horse", "md5$garbage")


def test_the_guard_locks_after_repeated_failures_then_lets_go() -> None:
    guard = LoginGuard(AuthSettings(lockout_attempts=3, lockout_window_s=60, lockout_s=30))
    assert not guard.failed("Ann", 0) and not guard.failed("ann", 10)
    assert guard.failed("ANN", 20)  # names are counted case-insensitively
    with pytest.raises(LoginLocked) as locked:
        guard.check("ann", 21)
    assert locked.value.retry_after_s == 30
    guard.check("bob", 21)
    guard.check("ann", 51)  # the lock ran out
    # Failures spread wider than the window never add up to a lock.
    assert not any(guard.failed("cy", t) for t in (0, 70, 140, 210))


async def test_tokens_expire_and_logout_revokes(store: Store) -> None:
    user = await store.users.add("sup", "supervisor", "long-password")
    live = await store.users.issue_token(user, timedelta(hours=1))
    dead = await store.users.issue_token(user, timedelta(seconds=-1))
    assert (await store.users.session_of(live.token)).user == User("sup", "supervisor")
    assert await store.users.session_of(dead.token) is None
    await store.users.revoke(live.token)
    assert await store.users.session_of(live.token) is None


async def test_users_are_validated(store: Store) -> None:
    with pytest.raises(InvalidUser):
        await store.users.add("bad name", "qa", "long-password")
    with pytest.raises(InvalidUser):
        await store.users.add("x", "agent", "long-password")
    with pytest.raises(InvalidUser):
        await store.users.add("x", "qa", "short")


async def test_agents_log_in_with_their_sip_password(store: Store, tmp_path: Path) -> None:
    settings = Settings(paths=PathSettings(data_dir=tmp_path))
    await store.agents.add("alice", "sip-pw", {}, settings.sip.domain)
    service = SessionService(store, settings)
    session = await service.login("alice", "sip-pw", "127.0.0.1")
    assert session.user == User("alice", "agent", "alice")
    assert (await service.lookup(session.token)).user.agent == "alice"
    with pytest.raises(PermissionError):
        await service.login("alice", "wrong", "127.0.0.1")
    await service.logout(session.token)
    assert await service.lookup(session.token) is None


async def test_first_admin_password_is_made_up_and_written_privately(
        store: Store, tmp_path: Path) -> None:
    service = SessionService(store, Settings(paths=PathSettings(data_dir=tmp_path)))
    password = await service.ensure_admin()
    written = tmp_path / "admin-password"
    assert password and written.read_text().strip() == password
    assert written.stat().st_mode & 0o077 == 0
    assert (await service.login("admin", password, None)).user.role == "admin"
    assert await service.ensure_admin() is None  # only when there is no user at all
