"""Who may call what: tokens, roles, and the one middleware that enforces them.

Every handler says who may call it with ``@allow(...)`` or ``@public``; a
handler that says nothing is refused to everyone but admins. Defaulting to
"closed" means a new endpoint cannot leak data because its author forgot a
line, and a test walks every route to check each one declares its roles.

Roles: admin (everything), supervisor (queues, agents, live calls, reports),
qa (recordings, transcripts, scorecards), agent (their own state, offers and
interactions: ``own_agent`` routes compare ``{name}`` in the path with the
agent's own name).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from ..store.users import User
from .errors import ApiError
from .keys import SERVICES

log = logging.getLogger("voicecenter.auth")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

COOKIE = "voicecenter_session"
USER_KEY: web.RequestKey[User] = web.RequestKey("user", User)
TOKEN_KEY: web.RequestKey[str] = web.RequestKey("token", str)


@dataclass(frozen=True)
class Policy:
    public: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    own_agent: bool = False
    own_call: bool = False
    own_conversation: bool = False


def allow(*roles: str, own_agent: bool = False, own_call: bool = False,
          own_conversation: bool = False) -> Callable[[H], H]:
    """Let these roles (and admins) call the handler.

    For agents, ``own_agent`` limits it to their own ``{name}``, ``own_call``
    to a ``{call_id}`` they are talking on, ``own_conversation`` to a
    ``{conversation_id}`` (chat, SMS) that is theirs.
    """
    unknown = set(roles) - {"admin", "supervisor", "qa", "agent"}
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def mark(handler: H) -> H:
        handler.__voicecenter_policy__ = Policy(  # type: ignore[attr-defined]
            roles=frozenset(roles) | {"admin"}, own_agent=own_agent, own_call=own_call,
            own_conversation=own_conversation)
        return handler
    return mark


def public(handler: H) -> H:
    """No login needed: pages' static files, login, health, the customers' chat."""
    handler.__voicecenter_policy__ = Policy(public=True)  # type: ignore[attr-defined]
    return handler


ADMIN_ONLY = Policy(roles=frozenset({"admin"}))


def policy_of(handler: Any) -> Policy | None:
    return getattr(handler, "__voicecenter_policy__", None)


def current_user(request: web.Request) -> User:
    user = request.get(USER_KEY)
    if user is None:
        raise ApiError(401, "unauthenticated", "log in first (POST /auth/login)")
    return user  # type: ignore[no-any-return]


def token_of(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None
    # Browsers cannot put headers on a WebSocket or an <audio src>: those use
    # the query string or the session cookie.
    if request.headers.get("Upgrade", "").lower() == "websocket" and "token" in request.query:
        return request.query["token"]
    return request.cookies.get(COOKIE)


async def audit(request: web.Request, action: str, target: str) -> None:
    """Record that the current user did ``action`` on ``target`` (reads of
    recordings and transcripts: QA and privacy audits ask who listened)."""
    user = request.get(USER_KEY)
    await request.app[SERVICES].store.users.log_access(user, action, target, request.remote)


def _owns(request: web.Request, policy: Policy, user: User) -> bool:
    match = request.match_info
    services = request.app[SERVICES]
    if policy.own_agent and match.get("name") != user.agent:
        return False
    if policy.own_call:
        distribution = services.distribution
        conversation = (distribution.conversations.get(match.get("call_id", ""))
                        if distribution is not None else None)
        if conversation is None or conversation.agent != user.agent:
            return False
    if policy.own_conversation:
        hub = services.extras.get("conversations")
        found = hub.conversations.get(match.get("conversation_id", "")) if hub else None
        if found is None or found.agent != user.agent:
            return False
    return True


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    policy = policy_of(handler)
    if policy is None:
        # aiohttp's own 404/405 handlers: let them answer as themselves.
        if request.match_info.http_exception is not None:
            return await handler(request)
        policy = ADMIN_ONLY
    if policy.public:
        return await handler(request)
    token = token_of(request)
    if not token:
        raise ApiError(401, "unauthenticated", "this request needs a token "
                       "(Authorization: Bearer ...; get one from POST /auth/login)")
    sessions = request.app[SERVICES].extras.get("sessions")
    session = await sessions.lookup(token) if sessions is not None else None
    if session is None:
        raise ApiError(401, "invalid-token", "the token is unknown or expired; log in again")
    user = session.user
    if user.role not in policy.roles:
        log.info("refused role=%s user=%s %s %s", user.role, user.name,
                 request.method, request.path)
        raise ApiError(403, "forbidden", f"role {user.role!r} may not do this")
    if user.role == "agent" and not _owns(request, policy, user):
        raise ApiError(403, "forbidden", "agents may act only on their own calls and chats")
    request[USER_KEY] = user
    request[TOKEN_KEY] = token
    return await handler(request)
