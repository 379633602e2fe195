"""Logins: checking passwords, issuing and looking up tokens, locking out guessers.

Every API request looks its token up, so lookups are cached in memory for a
short while; a logout drops the cached entry at once. Wrong passwords are
counted per login name (not per address: an attacker rotates addresses, a
user does not rotate names), and a name that failed too often is refused,
with the right password too, until the lock runs out.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from datetime import timedelta

from ..settings import AuthSettings, Settings
from ..store.database import Store
from ..store.users import Session, User

log = logging.getLogger("voicecenter.auth")

CACHE_S = 30.0


class LoginLocked(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many wrong passwords; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class LoginGuard:
    """Counts failures per name in a sliding window; pure, so tests drive the clock."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def check(self, name: str, now: float) -> None:
        until = self._locked_until.get(name.lower())
        if until is not None:
            if now < until:
                raise LoginLocked(int(until - now) + 1)
            del self._locked_until[name.lower()]

    def failed(self, name: str, now: float) -> bool:
        """Count a failure; True when it locks the name."""
        key = name.lower()
        window = self._failures.setdefault(key, deque())
        window.append(now)
        while window and window[0] < now - self.settings.lockout_window_s:
            window.popleft()
        if len(window) >= self.settings.lockout_attempts:
            self._locked_until[key] = now + self.settings.lockout_s
            window.clear()
            return True
        if len(self._failures) > 100_000:  # names nobody has: do not grow forever
            self._failures.pop(next(iter(self._failures)))
        return False

    def succeeded(self, name: str) -> None:
        self._failures.pop(name.lower(), None)


class SessionService:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.guard = LoginGuard(settings.auth)
        self._cache: dict[str, tuple[float, Session]] = {}

    async def login(self, name: str, password: str, remote: str | None) -> Session:
        """A new session, or None-equivalent errors: LoginLocked, PermissionError."""
        now = time.monotonic()
        try:
            self.guard.check(name, now)
        except LoginLocked:
            log.warning("login refused user=%s remote=%s reason=locked", name, remote)
            await self.store.users.log_access(None, "login.locked", name, remote)
            raise
        user = await self._authenticate(name, password)
        if user is None:
            locked = self.guard.failed(name, now)
            log.warning("login failed user=%s remote=%s%s", name, remote,
                        " (now locked)" if locked else "")
            await self.store.users.log_access(None, "login.failed", name, remote)
            raise PermissionError("wrong name or password")
        self.guard.succeeded(name)
        session = await self.store.users.issue_token(
            user, timedelta(seconds=self.settings.auth.token_ttl_s))
        log.info("login user=%s role=%s remote=%s", user.name, user.role, remote)
        await self.store.users.log_access(user, "login", user.name, remote)
        return session

    async def _authenticate(self, name: str, password: str) -> User | None:
        if await self.store.users.exists(name):
            return await self.store.users.authenticate(name, password)
        realm = self.settings.sip.domain
        if await self.store.agents.check_password(name, password, realm):
            return User(name, "agent", agent=name)
        return None

    async def lookup(self, token: str) -> Session | None:
        now = time.monotonic()
        cached = self._cache.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        session = await self.store.users.session_of(token)
        if session is None:
            self._cache.pop(token, None)
            return None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (now + CACHE_S, session)
        return session

    async def logout(self, token: str) -> None:
        self._cache.pop(token, None)
        await self.store.users.revoke(token)

    def forget(self, name: str) -> None:
        """Drop cached sessions of a user whose password changed or who was removed."""
        for token, (_, session) in list(self._cache.items()):
            if session.user.name == name:
                del self._cache[token]

    async def ensure_admin(self) -> str | None:
        """Create the first admin when there is no user; the password made up, if any."""
        if await self.store.users.count():
            return None
        password = self.settings.auth.admin_password
        made_up = not password
        if made_up:
            import secrets
            password = secrets.token_urlsafe(12)
        await self.store.users.add("admin", "admin", password)
        if not made_up:
            log.info("created user admin (password from auth.admin_password)")
            return None
        path = self.settings.paths.data_dir / "admin-password"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(password + "\n")
        log.warning("created user admin; its password is in %s", path)
        return password
