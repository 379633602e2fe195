"""API errors: a status, a stable error id, a message and details, as JSON.

Clients (pages, scripts, CRMs) branch on the error id, never on the text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("voicecenter.api")


class ApiError(web.HTTPException):
    def __init__(self, status: int, error: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        self.status_code = status
        body = {"error": error, "message": message, "details": details or {}}
        super().__init__(text=json.dumps(body), content_type="application/json")


def not_found(error: str, message: str) -> ApiError:
    return ApiError(404, error, message)


def bad_request(message: str, details: dict[str, Any] | None = None) -> ApiError:
    return ApiError(400, "invalid-request", message, details)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every error leaves as JSON, including aiohttp's own 404/405 and crashes."""
    try:
        return await handler(request)
    except ApiError:
        raise
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = {404: "not-found", 405: "method-not-allowed"}.get(exc.status, "http-error")
        raise ApiError(exc.status, error, exc.reason) from exc
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        raise ApiError(500, "internal-error", "the server failed on this request") from exc


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    return body
