"""HTTP for flows: aiohttp for real calls, fixtures for simulate and tests."""

from __future__ import annotations

import asyncio
import fnmatch
from typing import Any

import aiohttp

from .context import HttpResponse


class AiohttpClient:
    """One shared aiohttp session; a timeout raises TimeoutError, a refused
    or broken connection OSError, so the http node can take its fallback."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def request(self, method: str, url: str, *, json: Any = None,
                      headers: dict[str, str] | None = None,
                      timeout_s: float = 5.0) -> HttpResponse:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(timeout_s):
                async with self._session.request(method, url, json=json,
                                                  headers=headers) as response:
                    text = await response.text()
                    try:
                        body: Any = await response.json(content_type=None)
                    except ValueError:
                        body = text
                    return HttpResponse(response.status, body)
        except aiohttp.ClientError as exc:
            raise OSError(f"{method} {url}: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class FixtureHttpClient:
    """Answers from a fixture: URL pattern -> {status, json, delay_ms, timeout, error}.

    Patterns are shell patterns on "METHOD URL" or on the URL alone; the
    first that matches answers. No match is a connection error.
    """

    def __init__(self, fixtures: dict[str, dict[str, Any]]) -> None:
        self.fixtures = fixtures
        self.requests: list[tuple[str, str, Any]] = []

    async def request(self, method: str, url: str, *, json: Any = None,
                      headers: dict[str, str] | None = None,
                      timeout_s: float = 5.0) -> HttpResponse:
        self.requests.append((method, url, json))
        for pattern, answer in self.fixtures.items():
            if fnmatch.fnmatchcase(f"{method} {url}", pattern) or \
                    fnmatch.fnmatchcase(url, pattern):
                if answer.get("timeout"):
                    raise TimeoutError(f"{method} {url}: timed out (fixture)")
                if answer.get("error"):
                    raise OSError(str(answer["error"]))
                delay = float(answer.get("delay_ms", 0)) / 1000
                if delay > timeout_s:
                    raise TimeoutError(f"{method} {url}: timed out (fixture)")
                await asyncio.sleep(delay)
                return HttpResponse(int(answer.get("status", 200)), answer.get("json"))
        raise OSError(f"{method} {url}: no fixture matches")
