"""The control plane's side of `listen`: one utterance of one call, with barge-in.

CallSession.listen delegates here. The worker does the listening (its tap,
endpointing and timeouts sit next to the media); this side starts it, plays
the prompt, stops the prompt as soon as the caller is heard saying something
(a partial result with text: a cough or line noise does not stop it), and
turns the worker's speech.final into a SpeechResult. A backstop timer covers
a worker or service that never answers, so a flow can never hang in listen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..flows.context import CallEnded, SpeechResult
from ..media.worker_link import CommandFailed

if TYPE_CHECKING:
    from ..calls.session import CallSession

log = logging.getLogger("voicecenter.speech")

# Beyond the worker's own timers: how long before we give up on it.
BACKSTOP_MARGIN_MS = 5000


class SpeechEndpoint(Protocol):
    """What a call needs to know about the speech service (SpeechService is one)."""

    url: str
    sample_rate: int

    @property
    def available(self) -> bool: ...


@dataclass
class ListenWait:
    """The speech events of the one listen a call may have going."""

    listen_id: int
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    def offer(self, message: dict[str, Any]) -> None:
        if message.get("listen") == self.listen_id:
            self.queue.put_nowait(message)


def wav_ms(path: Path) -> int:
    """A prompt's length, so the no-input timer starts when the prompt ends."""
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() * 1000 // max(wav.getframerate(), 1)
    except (OSError, wave.Error, EOFError):
        return 0


async def _next(wait: ListenWait, session: CallSession, timeout: float) -> dict[str, Any] | None:
    getter = asyncio.ensure_future(wait.queue.get())
    ended = asyncio.ensure_future(session.ended.wait())
    try:
        await asyncio.wait({getter, ended}, timeout=max(timeout, 0),
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended.cancel()
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    if session.ended.is_set():
        raise CallEnded(session.end_reason)
    return None


async def listen_on_call(session: CallSession, speech: SpeechEndpoint | None,
                         phrases: list[str] | None, timeout_ms: int, max_speech_ms: int,
                         end_silence_ms: int, prompt: list[Path] | None) -> SpeechResult:
    """Run one listen on `session`; record speech.recognized; never raise but CallEnded."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    if speech is None or not speech.available:
        result = SpeechResult("", 0.0, "unavailable")
        await _record(session, result, phrases, began)
        return result
    prompt = list(prompt or [])
    prompt_ms = sum(wav_ms(p) for p in prompt)
    wait = ListenWait(session.link.next_id())
    session._listen = wait
    play_id: int | None = None
    play_done: asyncio.Future[dict[str, Any]] | None = None
    barged = False
    result: SpeechResult | None = None
    try:
        try:
            await session._command(
                "listen", id=wait.listen_id, url=speech.url, sample_rate=speech.sample_rate,
                phrases=phrases, timeout_ms=timeout_ms + prompt_ms, max_speech_ms=max_speech_ms,
                end_silence_ms=end_silence_ms)
        except CommandFailed as exc:
            log.warning("call=%s listen refused: %s %s", session.call_id, exc.code, exc)
            result = SpeechResult("", 0.0, "error")
        if result is None and prompt:
            play_id = session.link.next_id()
            play_done = session._expect("play.done", play_id)
            await session._command("play", id=play_id, files=[str(p) for p in prompt])
        deadline = began + (prompt_ms + timeout_ms + max_speech_ms + end_silence_ms
                            + BACKSTOP_MARGIN_MS) / 1000
        while result is None:
            message = await _next(wait, session, deadline - loop.time())
            if message is None:
                log.error("call=%s listen %d: no result from the worker", session.call_id,
                          wait.listen_id)
                with contextlib.suppress(CommandFailed):
                    await session._command("stop_listen")
                result = SpeechResult("", 0.0, "error")
                break
            kind = message["type"]
            if kind == "speech.partial" and message["text"].strip():
                if play_done is not None and not play_done.done() and not barged:
                    barged = True
                    await _stop_prompt(session)
            elif kind == "speech.final":
                result = SpeechResult(
                    message["text"], float(message.get("confidence", 0.0)),
                    "no_input" if message["reason"] == "no_input" else "recognized",
                    tuple(message.get("words") or ()))
            elif kind == "speech.error":
                reason = "unavailable" if message["error"] == "unavailable" else "error"
                log.warning("call=%s listen %d: %s", session.call_id, wait.listen_id,
                            message.get("message", ""))
                result = SpeechResult("", 0.0, reason)
        if play_done is not None:
            if not play_done.done():
                barged = barged or result.reason == "recognized"
                await _stop_prompt(session)
            try:
                done = await asyncio.wait_for(play_done, 5)
            except TimeoutError:
                done = {"reason": "unknown"}
            await session.record_event("prompt.played", {
                "files": [p.name for p in prompt],
                "reason": "barge_in" if barged and done["reason"] == "stopped" else done["reason"],
            })
    finally:
        session._listen = None
    await _record(session, result, phrases, began)
    return result


async def _stop_prompt(session: CallSession) -> None:
    with contextlib.suppress(CommandFailed):
        await session._command("stop_play")


async def _record(session: CallSession, result: SpeechResult, phrases: list[str] | None,
                  began: float) -> None:
    await session.record_event("speech.recognized", {
        "text": result.text, "confidence": result.confidence, "reason": result.reason,
        "mode": "grammar" if phrases else "free",
        "ms": round((asyncio.get_running_loop().time() - began) * 1000),
    })
