"""SMS over SIP MESSAGE: the control plane's own small SIP endpoint behind the edge.

Why here and not in a media worker: pjsua answers an incoming MESSAGE with
200 before the application sees it, so a worker could neither answer 202
only once the text is stored nor refuse a text that is too long or from a
sender who floods with a SIP 4xx. Media workers also carry media only. So
Kamailio relays every out-of-dialog MESSAGE it receives to this endpoint
(one UDP socket on the control plane, loopback by default), which runs the
same checks as the webhook and answers 202 Accepted or a 4xx with the reason;
Kamailio relays that answer to the sender. Outbound, the SIP provider sends
MESSAGE requests from the same socket to the edge, which relays them to the
trunk (or to a phone registered at the edge) and relays the answer back.

Only what MESSAGE needs is implemented: non-INVITE transactions over UDP,
retransmissions (timer E, doubling from T1 to T2) until a final answer or
timer F, and a cache that answers a retransmitted request with the same
response without handling it twice. Kamailio in front does the rest of SIP
(sanity checks, TCP/TLS/WebSocket, authentication).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger("voicecenter.channels")

T1, T2 = 0.5, 4.0
TIMER_F = 32.0  # 64 * T1: how long a client transaction waits for its final answer
MAX_DATAGRAM = 65_507
COMPACT = {"f": "from", "t": "to", "i": "call-id", "v": "via", "c": "content-type",
           "l": "content-length", "m": "contact"}
_URI_USER = re.compile(r"sips?:([^@;>]+)@")


@dataclass
class SipMessage:
    """One parsed SIP request or response (headers lower-cased, compact forms expanded)."""

    first_line: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        return self.first_line.split(" ", 1)[0]

    @property
    def request_uri(self) -> str:
        parts = self.first_line.split(" ")
        return parts[1] if len(parts) > 2 else ""

    @property
    def status(self) -> int:
        parts = self.first_line.split(" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    @property
    def reason(self) -> str:
        parts = self.first_line.split(" ", 2)
        return parts[2] if len(parts) > 2 else ""

    def get(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


class SipParseError(ValueError):
    """A datagram that is not a SIP message we can answer."""


def parse(data: bytes) -> SipMessage:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("headers are not UTF-8") from exc
    lines = text.replace("\r\n", "\n").split("\n")
    first = lines[0].strip()
    if not first or (" SIP/2.0" not in first and not first.startswith("SIP/2.0 ")):
        raise SipParseError(f"not a SIP start line: {first[:60]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded header line
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if not colon:
            continue
        key = name.strip().lower()
        headers.append((COMPACT.get(key, key), value.strip()))
    message = SipMessage(first, headers)
    length = message.get("content-length")
    message.body = body[: int(length)] if length and length.isdigit() else body
    return message


def uri_user(value: str) -> str:
    """The user part of a SIP URI or name-addr ('"Bob" <sip:+4930@x>;tag=1' -> '+4930')."""
    match = _URI_USER.search(value)
    return match.group(1) if match else ""


def branch_of(via: str) -> str:
    match = re.search(r";\s*branch=([^;,\s]+)", via)
    return match.group(1) if match else ""


@dataclass(frozen=True)
class Answer:
    """What the endpoint answers to an incoming MESSAGE."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


InboundHandler = Callable[[SipMessage], Awaitable[Answer]]


@dataclass
class _Client:
    """One outgoing MESSAGE waiting for its final answer."""

    data: bytes
    done: asyncio.Future[SipMessage] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class SipMessageEndpoint(asyncio.DatagramProtocol):
    """MESSAGE in (answered by `on_message`) and out (`send`) over one UDP socket."""

    def __init__(self, address: str, proxy: tuple[str, int], domain: str) -> None:
        self.address = address
        self.proxy = proxy  # the edge: every outgoing request goes there
        self.domain = domain
        self.port = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.on_message: InboundHandler | None = None
        self._clients: dict[str, _Client] = {}
        # (call-id, cseq, branch) -> (response bytes or None while handling, when)
        self._answered: dict[tuple[str, str, str], tuple[bytes | None, float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle --------------------------------------------------------
    async def open(self, port: int) -> int:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(self.address, port))
        assert self.transport is not None
        self.port = self.transport.get_extra_info("sockname")[1]
        log.info("sms sip endpoint on udp:%s:%d (edge %s:%d)", self.address, self.port,
                 *self.proxy)
        return self.port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self._clients.values():
            if not client.done.done():
                client.done.cancel()
        if self.transport is not None:
            self.transport.close()

    # -- datagrams in -----------------------------------------------------
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = parse(data)
        except (SipParseError, ValueError) as exc:
            log.warning("sms sip: unreadable datagram from %s:%d: %s", *addr[:2], exc)
            return
        if message.is_request:
            self._request(message, addr)
        else:
            self._response(message)

    def _response(self, message: SipMessage) -> None:
        branch = branch_of(message.get("via") or "")
        client = self._clients.get(branch)
        if client is None or message.status < 200:
            return  # a provisional answer: keep waiting (retransmissions continue)
        if not client.done.done():
            client.done.set_result(message)

    def _request(self, message: SipMessage, addr: tuple[str, int]) -> None:
        key = (message.get("call-id") or "", message.get("cseq") or "",
               branch_of(message.get("via") or ""))
        self._expire()
        if message.method == "ACK":
            return
        if key in self._answered:
            cached = self._answered[key][0]
            if cached is not None:  # a retransmission: the same answer again
                self._sendto(cached, addr)
            return
        self._answered[key] = (None, time.monotonic())
        task = asyncio.ensure_future(self._handle(message, addr, key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, message: SipMessage, addr: tuple[str, int],
                      key: tuple[str, str, str]) -> None:
        if message.method != "MESSAGE":
            answer = Answer(405, "Method Not Allowed", (("Allow", "MESSAGE"),))
        elif self.on_message is None:
            answer = Answer(503, "SMS Not Configured")
        else:
            try:
                answer = await self.on_message(message)
            except Exception:
                log.exception("sms sip: handling a MESSAGE failed")
                answer = Answer(500, "Server Error")
        data = self._reply(message, answer)
        self._answered[key] = (data, time.monotonic())
        self._sendto(data, addr)

    def _reply(self, request: SipMessage, answer: Answer) -> bytes:
        lines = [f"SIP/2.0 {answer.status} {answer.reason}"]
        for via in request.all("via"):
            lines.append(f"Via: {via}")
        lines.append(f"From: {request.get('from') or ''}")
        to = request.get("to") or ""
        if ";tag=" not in to:
            to += f";tag={secrets.token_hex(6)}"
        lines.append(f"To: {to}")
        lines.append(f"Call-ID: {request.get('call-id') or ''}")
        lines.append(f"CSeq: {request.get('cseq') or ''}")
        for name, value in answer.headers:
            lines.append(f"{name}: {value}")
        lines += ["Server: voicecenter", "Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    def _expire(self) -> None:
        """Forget answers older than timer F: no retransmission comes after that."""
        if len(self._answered) < 256:
            return
        horizon = time.monotonic() - TIMER_F
        self._answered = {k: v for k, v in self._answered.items()
                          if v[0] is None or v[1] > horizon}

    def _sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)

    # -- MESSAGE out --------------------------------------------------------
    async def send(self, uri: str, from_user: str, body: str,
                   timeout_s: float = TIMER_F) -> SipMessage:
        """Send one MESSAGE through the edge; its final answer, or TimeoutError."""
        branch = "z9hG4bK" + secrets.token_hex(10)
        call_id = f"{secrets.token_hex(12)}@voicecenter"
        payload = body.encode("utf-8")
        if len(payload) > MAX_DATAGRAM - 1024:
            raise ValueError("the text is too long for one MESSAGE over UDP")
        lines = [
            f"MESSAGE {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.address}:{self.port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{from_user or 'sms'}@{self.domain}>;tag={secrets.token_hex(6)}",
            f"To: <{uri}>",
            f"Call-ID: {call_id}",
            "CSeq: 1 MESSAGE",
            "Content-Type: text/plain;charset=UTF-8",
            "User-Agent: voicecenter",
            f"Content-Length: {len(payload)}",
            "", "",
        ]
        client = _Client("\r\n".join(lines).encode() + payload)
        self._clients[branch] = client
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        interval = T1
        try:
            while True:
                self._sendto(client.data, self.proxy)
                wait = min(interval, deadline - loop.time())
                if wait <= 0:
                    raise TimeoutError(f"no final answer to MESSAGE {uri} in {timeout_s:g} s")
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(client.done), wait)
                interval = min(interval * 2, T2)
        finally:
            self._clients.pop(branch, None)
