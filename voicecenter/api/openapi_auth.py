"""The OpenAPI document's login paths and its security, read from the routes' policies.

Who may call an operation is written once, on the handler (``@allow``); the
document's ``security``, ``x-roles`` and 401/403 answers are derived from that,
so the documentation cannot drift from what the server enforces.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from .auth import ADMIN_ONLY, policy_of

_ERROR = {"$ref": "#/components/schemas/Error"}
_JSON_ERROR = {"content": {"application/json": {"schema": _ERROR}}}


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


def _err(description: str) -> dict[str, Any]:
    return {"description": description, **_JSON_ERROR}


_USER = {"type": "object", "properties": {
    "name": {"type": "string"}, "role": {"enum": ["admin", "supervisor", "qa", "agent"]},
    "agent": {"type": ["string", "null"]}}}
_CREDENTIALS = {"type": "object", "required": ["name", "password"], "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 64},
    "password": {"type": "string", "minLength": 1, "maxLength": 256}}}

AUTH_PATHS: dict[str, Any] = {
    "/auth/login": {"post": {
        "summary": "Log in (agents: agent name and SIP password); the token also comes as an "
                   "HttpOnly cookie. Repeated wrong passwords lock the name for a while.",
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": _CREDENTIALS}}},
        "responses": {"200": _ok("Logged in", {"type": "object", "properties": {
            "token": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"},
            "user": _USER}}),
            "400": _err("Invalid request"), "401": _err("Wrong name or password"),
            "429": _err("Locked after repeated wrong passwords")}}},
    "/auth/logout": {"post": {"summary": "End this token's session",
                              "responses": {"200": _ok("Logged out", {"type": "object"})}}},
    "/auth/me": {"get": {"summary": "Who this token is", "responses": {"200": _ok("User", _USER)}}},
    "/users": {
        "get": {"summary": "Users who log in to the pages (agents are under /agents)",
                "responses": {"200": _ok("Users", {"type": "object", "properties": {
                    "items": {"type": "array", "items": _USER}}})}},
        "post": {"summary": "Add a supervisor, QA reviewer or admin",
                 "requestBody": {"required": True, "content": {"application/json": {"schema": {
                     "type": "object", "required": ["name", "password", "role"], "properties": {
                         **_CREDENTIALS["properties"],
                         "role": {"enum": ["admin", "supervisor", "qa"]}}}}}},
                 "responses": {"201": _ok("Added", _USER), "400": _err("Invalid request"),
                               "409": _err("Name taken")}}},
    "/users/{user}": {"delete": {
        "summary": "Remove a user and end their sessions",
        "parameters": [{"name": "user", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"204": {"description": "Removed"}, "404": _err("No such user"),
                      "409": _err("Cannot remove oneself")}}},
    "/audit": {"get": {
        "summary": "Access log: who read which recording or transcript, refused logins",
        "parameters": [
            {"name": "target", "in": "query", "schema": {"type": "string"}},
            {"name": "user", "in": "query", "schema": {"type": "string"}},
            {"name": "action", "in": "query", "schema": {"type": "string"}},
            {"name": "limit", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
        "responses": {"200": _ok("Records", {"type": "object"}),
                      "400": _err("Invalid request")}}},
    "/": {"get": {"summary": "Redirects to the login page",
                  "responses": {"302": {"description": "To /ui/login/"}}}},
    "/ui/{path}": {"get": {
        "summary": "The web pages (agent desk, wallboard, QA review, flows) and their files",
        "parameters": [{"name": "path", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": {"description": "File"}, "302": {"description": "To the folder"},
                      "404": _err("No such page")}}},
}

SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "A token from POST /auth/login"},
    "cookie": {"type": "apiKey", "in": "cookie", "name": "voicecenter_session"},
}


def _canonical(resource: str) -> str:
    """aiohttp's '/ui/{path:.*}' is OpenAPI's '/ui/{path}'."""
    out, depth, skipping = [], 0, False
    for char in resource:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            skipping = False
        elif char == ":" and depth == 1:
            skipping = True
            continue
        if not skipping:
            out.append(char)
    return "".join(out)


def with_security(document: dict[str, Any], app: web.Application) -> dict[str, Any]:
    """The document plus login paths, security schemes and each operation's roles."""
    full = copy.deepcopy(document)
    full["paths"].update(copy.deepcopy(AUTH_PATHS))
    full.setdefault("components", {})["securitySchemes"] = SCHEMES
    full["security"] = [{"bearer": []}, {"cookie": []}]
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        operation = full["paths"].get(_canonical(route.resource.canonical), {}).get(
            route.method.lower())
        if operation is None:
            continue
        policy = policy_of(route.handler) or ADMIN_ONLY
        if policy.public:
            operation["security"] = []
            continue
        operation["x-roles"] = sorted(policy.roles)
        responses = operation.setdefault("responses", {})
        responses.setdefault("401", _err("No token, or an unknown or expired one"))
        responses.setdefault("403", _err("This role may not do this"))
    return full
