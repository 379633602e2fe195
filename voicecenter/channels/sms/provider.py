"""Sending SMS: a provider interface and the HTTP provider most gateways fit.

The HTTP provider POSTs the form fields To, From and Body (what common SMS
APIs take) with a Bearer token; a 2xx answer means the provider took it.
"""

from __future__ import annotations

import logging
from typing import Protocol

import aiohttp

from .sip import SipMessageEndpoint

log = logging.getLogger("voicecenter.channels")


class SmsFailed(Exception):
    """The provider refused the SMS or could not be reached.

    `status` is the provider's answer code (HTTP or SIP) when it gave one;
    None when it never answered (unreachable, timeout).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SmsProvider(Protocol):
    async def send(self, to: str, sender: str, body: str) -> str:
        """Send one SMS; the provider's answer (id or status). Raises SmsFailed."""
        ...

    async def close(self) -> None: ...


class NoProvider:
    """No provider configured: outbound SMS are refused (and recorded as failed)."""

    async def send(self, to: str, sender: str, body: str) -> str:
        raise SmsFailed("no SMS provider is configured (sms.provider)")

    async def close(self) -> None:
        return None


class HttpSmsProvider:
    def __init__(self, url: str, token: str = "", timeout_s: float = 10.0) -> None:
        self.url = url
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, to: str, sender: str, body: str) -> str:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with self._session.post(self.url, data={"To": to, "From": sender,
                                                          "Body": body},
                                          headers=headers) as response:
                text = await response.text()
                if response.status // 100 != 2:
                    raise SmsFailed(f"provider answered {response.status}: {text[:200]}",
                                    response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SmsFailed(f"provider unreachable: {exc}") from exc
        try:
            import json

            answer = json.loads(text)
            return str(answer.get("id") or answer.get("sid") or "") \
                if isinstance(answer, dict) else ""
        except ValueError:
            return ""

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class SipSmsProvider:
    """SMS as SIP MESSAGE through the edge to a trunk (or a phone registered there).

    The text goes to ``sip:<number>@<target>``; the answer is the result:
    2xx (200, 202) sent, anything else (4xx-6xx, or no answer in time) failed.
    """

    def __init__(self, endpoint: SipMessageEndpoint, target: str,
                 timeout_s: float = 32.0) -> None:
        self.endpoint = endpoint
        self.target = target
        self.timeout_s = timeout_s

    def uri_for(self, to: str) -> str:
        return to if to.startswith(("sip:", "sips:")) else f"sip:{to}@{self.target}"

    async def send(self, to: str, sender: str, body: str) -> str:
        uri = self.uri_for(to)
        try:
            answer = await self.endpoint.send(uri, sender, body, self.timeout_s)
        except TimeoutError as exc:
            raise SmsFailed(f"no answer from {uri}: {exc}") from exc
        except ValueError as exc:
            raise SmsFailed(str(exc)) from exc
        if answer.status // 100 != 2:
            raise SmsFailed(f"{uri} answered {answer.status} {answer.reason}", answer.status)
        return f"{answer.status} {answer.reason}"

    async def close(self) -> None:
        return None
