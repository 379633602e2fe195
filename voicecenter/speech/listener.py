"""Listening to one caller utterance: endpointing, timeouts and the stream to the service.

This is the media side of `listen`, kept free of pjsua2 so it can be tested
with plain byte frames. Audio arrives in a deque (the bridge's clock thread
appends, we pop); an energy detector decides when speech starts and ends,
because a grammar recognizer says nothing at all for out-of-grammar speech
and the caller must still get a no-match instead of a no-input. Results the
service sends on its own endpointing (vosk-server does after about half a
second of silence) are kept and joined: a caller pausing inside "예약 ... 확인"
is still one utterance until our end_silence_ms.

Outcomes (the `reason` of speech.final): recognized, no_input, max_speech,
stopped, hangup; speech.error when the service cannot be reached or drops.
"""

from __future__ import annotations

import array
import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .client import RecognitionStream, Reply, SpeechUnavailable

log = logging.getLogger("voicecenter.speech.listener")

Emit = Callable[[str, dict[str, Any]], None]

POLL_S = 0.02
# Send at least this much audio per message: fewer round trips, still prompt.
MIN_CHUNK_MS = 60


@dataclass
class ListenParams:
    url: str
    sample_rate: int = 16000
    phrases: list[str] | None = None
    timeout_ms: int = 5000
    max_speech_ms: int = 10000
    end_silence_ms: int = 700
    # Frame RMS (of 32768) above which a frame counts as voiced: about -36 dBFS.
    energy_threshold: int = 500
    # Voiced time before speech counts as started: a click is not a caller.
    min_speech_ms: int = 100


def frame_rms(pcm: bytes) -> float:
    samples = array.array("h", pcm[: len(pcm) & ~1])
    if not samples:
        return 0.0
    return (sum(s * s for s in samples) / len(samples)) ** 0.5


@dataclass
class Endpointer:
    """Energy endpointing over 20 ms frames: when did speech start, has it ended?"""

    sample_rate: int
    threshold: float
    min_speech_ms: int
    end_silence_ms: int
    voiced_ms: int = 0
    silence_ms: int = 0
    started: bool = False
    speech_ms: int = 0

    def feed(self, pcm: bytes) -> None:
        frame_bytes = self.sample_rate // 50 * 2
        for offset in range(0, len(pcm), frame_bytes):
            frame = pcm[offset:offset + frame_bytes]
            ms = len(frame) * 1000 // (2 * self.sample_rate)
            voiced = frame_rms(frame) >= self.threshold
            if self.started:
                self.speech_ms += ms
                self.silence_ms = 0 if voiced else self.silence_ms + ms
            elif voiced:
                self.voiced_ms += ms
                if self.voiced_ms >= self.min_speech_ms:
                    self.started = True
                    self.speech_ms = self.voiced_ms
            else:
                self.voiced_ms = 0

    @property
    def ended(self) -> bool:
        return self.started and self.silence_ms >= self.end_silence_ms


@dataclass
class Listener:
    """One `listen` of one call: run() streams until an outcome, emitting events."""

    call: int
    listen_id: int
    params: ListenParams
    emit: Emit
    frames: deque[bytes] = field(default_factory=deque)
    stop_reason: str | None = None
    done: bool = False

    def stop(self, reason: str) -> None:
        """Ask run() to end (from any thread): stop_listen, hang-up, teardown."""
        self.stop_reason = reason

    def _drain(self) -> bytes:
        chunks = []
        while self.frames:
            chunks.append(self.frames.popleft())
        return b"".join(chunks)

    def _event(self, kind: str, **fields: Any) -> None:
        self.emit(kind, {"call": self.call, "listen": self.listen_id, **fields})

    async def run(self, session: aiohttp.ClientSession) -> None:
        try:
            await self._run(session)
        except SpeechUnavailable as exc:
            self._event("speech.error", error="unavailable", message=str(exc))
        except Exception as exc:  # the worker must survive a confused stream
            log.exception("call=%s listen=%s failed", self.call, self.listen_id)
            self._event("speech.error", error="error", message=str(exc))
        finally:
            self.done = True

    async def _run(self, session: aiohttp.ClientSession) -> None:
        p = self.params
        stream = RecognitionStream(session, p.url)
        await stream.open(p.sample_rate, p.phrases)
        ends = Endpointer(p.sample_rate, p.energy_threshold, p.min_speech_ms, p.end_silence_ms)
        began = time.monotonic()
        min_chunk = p.sample_rate * 2 * MIN_CHUNK_MS // 1000
        pending = b""
        partial = ""
        reason = ""
        heard: list[Reply] = []
        try:
            while not reason:
                await asyncio.sleep(POLL_S)
                if self.stop_reason:
                    reason = self.stop_reason
                    break
                pending += self._drain()
                if len(pending) < min_chunk:
                    continue
                chunk, pending = pending, b""
                was_started = ends.started
                ends.feed(chunk)
                reply = await stream.send_audio(chunk)
                if reply.partial and reply.partial != partial:
                    partial = reply.partial
                    self._event("speech.partial", text=partial)
                if reply.partial and not ends.started:
                    ends.started = True  # quiet speech the model hears is still speech
                if ends.started and not was_started:
                    self._event("speech.started")
                if reply.text:  # the service's own endpoint; a pause may follow mid-phrase
                    heard.append(reply)
                elapsed_ms = (time.monotonic() - began) * 1000
                if ends.ended:
                    reason = "recognized"
                elif ends.started and ends.speech_ms >= p.max_speech_ms:
                    reason = "max_speech"
                elif not ends.started and not partial and elapsed_ms >= p.timeout_ms:
                    reason = "no_input"
            if pending:
                reply = await stream.send_audio(pending)
                if reply.text:
                    heard.append(reply)
            last = await stream.finish()
            if last.text:
                heard.append(last)
        finally:
            await stream.close()
        if reason == "no_input":
            heard = []
        self._final(Reply(text=" ".join(r.text or "" for r in heard),
                          words=tuple(w for r in heard for w in r.words)), reason)

    def _final(self, reply: Reply, reason: str) -> None:
        self._event("speech.final", text=reply.text or "", confidence=reply.confidence,
                    words=list(reply.words), reason=reason)
