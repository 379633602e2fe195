"""The client side of the vosk-server protocol, for live calls and transcripts alike.

Kept to what vosk-server itself accepts (the config message first, binary
PCM16, the literal '{"eof" : 1}', which vosk-server compares as a string),
so the same code talks to our service or to an external vosk-server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

EOF_MESSAGE = '{"eof" : 1}'
CONNECT_TIMEOUT_S = 3.0
REPLY_TIMEOUT_S = 10.0


class SpeechUnavailable(Exception):
    """The speech service cannot be reached or went away mid-stream."""


@dataclass(frozen=True)
class Reply:
    """One answer of the service: a partial hypothesis or a (final) result."""

    partial: str | None = None
    text: str | None = None
    words: tuple[dict[str, Any], ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: str) -> Reply:
        message = json.loads(data)
        if not isinstance(message, dict):
            raise ValueError("reply is not an object")
        if "error" in message:
            raise ValueError(str(message["error"]))
        if "partial" in message:
            return cls(partial=str(message["partial"]), raw=message)
        if "text" not in message and message.get("alternatives"):
            best = message["alternatives"][0]
            return cls(text=str(best.get("text", "")), words=tuple(best.get("result", ())),
                       raw=message)
        return cls(text=str(message.get("text", "")), words=tuple(message.get("result", ())),
                   raw=message)

    @property
    def confidence(self) -> float:
        """Mean word confidence (1.0 when the service gives no per-word figures)."""
        if not self.text:
            return 0.0
        confs = [float(w["conf"]) for w in self.words if "conf" in w]
        return round(sum(confs) / len(confs), 3) if confs else 1.0


class RecognitionStream:
    """One utterance (or one recording channel) streamed to the service."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def open(self, sample_rate: int, phrases: list[str] | None = None,
                   words: bool = True) -> None:
        try:
            self.ws = await self.session.ws_connect(
                self.url, timeout=aiohttp.ClientWSTimeout(ws_close=CONNECT_TIMEOUT_S),
                max_msg_size=1 << 22,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise SpeechUnavailable(f"speech service at {self.url}: {exc}") from exc
        config: dict[str, Any] = {"sample_rate": sample_rate, "words": words}
        if phrases:
            config["phrase_list"] = phrases
        await self._send_str(json.dumps({"config": config}, ensure_ascii=False))

    async def send_audio(self, pcm: bytes) -> Reply:
        if self.ws is None:
            raise SpeechUnavailable("stream not open")
        try:
            await self.ws.send_bytes(pcm)
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise SpeechUnavailable(f"speech service went away: {exc}") from exc
        return await self._receive()

    async def finish(self) -> Reply:
        """Send end-of-stream and return the final result."""
        await self._send_str(EOF_MESSAGE)
        reply = await self._receive()
        await self.close()
        return reply

    async def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None and not ws.closed:
            await ws.close()

    async def _send_str(self, text: str) -> None:
        assert self.ws is not None
        try:
            await self.ws.send_str(text)
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise SpeechUnavailable(f"speech service went away: {exc}") from exc

    async def _receive(self) -> Reply:
        assert self.ws is not None
        try:
            message = await self.ws.receive(timeout=REPLY_TIMEOUT_S)
        except TimeoutError as exc:
            raise SpeechUnavailable("speech service did not answer in time") from exc
        if message.type != aiohttp.WSMsgType.TEXT:
            raise SpeechUnavailable(f"speech service closed the stream ({message.type.name})")
        try:
            return Reply.parse(message.data)
        except ValueError as exc:
            raise SpeechUnavailable(f"speech service answered badly: {exc}") from exc
