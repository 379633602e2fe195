"""/auth and /users: logging in and out, who am I, managing users, the access log."""

from __future__ import annotations

from aiohttp import web

from ..store.errors import NoSuchAgent
from ..store.users import USER_ROLES, InvalidUser, NoSuchUser, UserExists
from .auth import COOKIE, TOKEN_KEY, allow, current_user, public
from .errors import ApiError, bad_request, json_body, not_found
from .keys import SERVICES
from .sessions import LoginLocked, SessionService

routes = web.RouteTableDef()
SESSIONS = "sessions"


def sessions_of(request: web.Request) -> SessionService:
    return request.app[SERVICES].extras[SESSIONS]  # type: ignore[no-any-return]


def _credentials(body: dict[str, object]) -> tuple[str, str]:
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not name or len(name) > 64:
        raise bad_request("name is required: a string of 1-64 characters")
    if not isinstance(password, str) or not password or len(password) > 256:
        raise bad_request("password is required: a string of 1-256 characters")
    return name, password


@routes.post("/auth/login")
@public
async def login(request: web.Request) -> web.Response:
    name, password = _credentials(await json_body(request))
    try:
        session = await sessions_of(request).login(name, password, request.remote)
    except LoginLocked as exc:
        raise ApiError(429, "login-locked", str(exc),
                       {"retry_after_s": exc.retry_after_s}) from exc
    except PermissionError as exc:
        raise ApiError(401, "login-failed", "wrong name or password") from exc
    response = web.json_response({"token": session.token,
                                  "expires_at": session.expires_at.isoformat(),
                                  "user": session.user.to_dict()})
    ttl = request.app[SERVICES].settings.auth.token_ttl_s
    response.set_cookie(COOKIE, session.token, max_age=ttl, httponly=True, samesite="Strict",
                        secure=request.app[SERVICES].settings.auth.cookie_secure, path="/")
    return response


@routes.post("/auth/logout")
@allow("supervisor", "qa", "agent")
async def logout(request: web.Request) -> web.Response:
    await sessions_of(request).logout(request[TOKEN_KEY])
    response = web.json_response({"logged_out": True})
    response.del_cookie(COOKIE, path="/")
    return response


@routes.get("/auth/me")
@allow("supervisor", "qa", "agent")
async def me(request: web.Request) -> web.Response:
    return web.json_response(current_user(request).to_dict())


@routes.get("/users")
@allow()
async def list_users(request: web.Request) -> web.Response:
    found = await request.app[SERVICES].store.users.list()
    return web.json_response({"items": [u.to_dict() for u in found]})


@routes.post("/users")
@allow()
async def add_user(request: web.Request) -> web.Response:
    body = await json_body(request)
    name, password = _credentials(body)
    role = body.get("role")
    if role not in USER_ROLES:
        raise bad_request(f"role must be one of {', '.join(USER_ROLES)}", {"role": role})
    store = request.app[SERVICES].store
    try:
        await store.agents.get(name)
    except NoSuchAgent:
        pass
    else:
        raise ApiError(409, "user-exists", f"{name!r} is an agent; pick another name")
    try:
        user = await store.users.add(name, str(role), password)
    except UserExists as exc:
        raise ApiError(409, "user-exists", str(exc)) from exc
    except InvalidUser as exc:
        raise bad_request(str(exc)) from exc
    return web.json_response(user.to_dict(), status=201)


@routes.delete("/users/{user}")
@allow()
async def remove_user(request: web.Request) -> web.Response:
    name = request.match_info["user"]
    if name == current_user(request).name:
        raise ApiError(409, "self-removal", "an admin cannot remove their own user")
    try:
        await request.app[SERVICES].store.users.remove(name)
    except NoSuchUser as exc:
        raise not_found("no-such-user", str(exc)) from exc
    sessions_of(request).forget(name)
    return web.Response(status=204)


@routes.get("/audit")
@allow("supervisor")
async def access_log(request: web.Request) -> web.Response:
    """Who read which recording or transcript, and refused logins."""
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError as exc:
        raise bad_request("limit must be an integer") from exc
    if not 1 <= limit <= 1000:
        raise bad_request("limit must be between 1 and 1000")
    records = await request.app[SERVICES].store.users.access_records(
        target=request.query.get("target"), user=request.query.get("user"),
        action=request.query.get("action"), limit=limit)
    return web.json_response({"items": [r.to_dict() for r in records]})
