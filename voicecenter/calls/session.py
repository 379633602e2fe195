"""One live call as the control plane drives it.

The session turns flow requests (answer, play, collect, hang up) into worker
commands and waits for the worker's events, so flows read as plain awaits.
It never touches pjsua2. When the caller hangs up or the worker is lost,
every pending wait fails with CallEnded and the flow unwinds.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ..flows.context import CallEnded, CollectResult, SpeechResult
from ..media.worker_link import CommandFailed, WorkerLink, WorkerUnavailable
from ..speech.live import ListenWait, SpeechEndpoint, listen_on_call
from .journal import CallJournal
from .waiting import first_set

log = logging.getLogger("voicecenter.calls")

MEDIA_TIMEOUT_S = 5.0


class CallSession:
    # The speech service this call listens with (set by whoever creates the
    # session); None means no speech, and listen() answers 'unavailable'.
    speech: SpeechEndpoint | None = None
    _listen: ListenWait | None = None
    def __init__(self, call_id: str, link: WorkerLink, number: int, journal: CallJournal,
                 info: dict[str, Any]) -> None:
        self.call_id = call_id
        self.link = link
        self.worker_id = link.worker_id
        self.number = number  # the worker's own call number
        self.interaction_id: str | None = None
        # The agent this caller is bridged to: the call outlives its flow then.
        self.connected_to: str | None = None
        self.journal = journal
        self.info = info
        self.state = "incoming"
        self.answered = False
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.media_up = asyncio.Event()
        self.waiters: dict[tuple[str, int], asyncio.Future[dict[str, Any]]] = {}
        self.task: asyncio.Task[Any] | None = None

    # -- CallControl ------------------------------------------------------
    async def answer(self) -> None:
        await self._command("answer")
        self.answered = True
        await self._until(self.media_up, MEDIA_TIMEOUT_S, "media did not start")

    async def ring(self) -> None:
        await self._command("ring")

    async def reject(self, code: int, retry_after: int | None = None) -> None:
        fields: dict[str, Any] = {"code": code}
        if retry_after:
            fields["retry_after"] = retry_after
        await self._command("reject", **fields)

    async def play(self, files: list[Path], barge_in: bool = False) -> str:
        play_id = self.link.next_id()
        waiter = self._expect("play.done", play_id)
        started = await self._command("play", id=play_id, files=[str(f) for f in files],
                                      barge_in=barge_in)
        done = await waiter
        played: dict[str, Any] = {"files": [f.name for f in files], "reason": done["reason"]}
        if started.get("since_dtmf_ms") is not None:
            played["since_dtmf_ms"] = started["since_dtmf_ms"]
        await self.record_event("prompt.played", played)
        return str(done["reason"])

    async def collect(self, max_digits: int, timeout_ms: int, inter_digit_ms: int,
                      terminator: str, flush: bool = False) -> CollectResult:
        collect_id = self.link.next_id()
        waiter = self._expect("collect.done", collect_id)
        await self._command("collect", id=collect_id, max_digits=max_digits,
                            timeout_ms=timeout_ms, inter_digit_ms=inter_digit_ms,
                            terminator=terminator, flush=flush)
        done = await waiter
        return CollectResult(done["digits"], done["reason"])

    async def listen(self, phrases: list[str] | None, timeout_ms: int = 5000,
                     max_speech_ms: int = 10000, end_silence_ms: int = 700,
                     prompt: list[Path] | None = None) -> SpeechResult:
        """Recognize one utterance (see CallControl.listen); details in speech/live.py."""
        return await listen_on_call(self, self.speech, phrases, timeout_ms, max_speech_ms,
                                    end_silence_ms, prompt)

    async def stop_play(self) -> None:
        await self._command("stop_play")

    async def stop_record(self) -> None:
        await self._command("stop_record")

    async def record(self, path: Path) -> None:
        await self._command("record", path=str(path))
        await self.record_event("recording.started", {"path": str(path)})

    async def hangup(self, code: int | None = None) -> None:
        if self.ended.is_set():
            return
        fields = {"code": code} if code else {}
        try:
            await self._command("hangup", **fields)
        except CallEnded:
            return
        await self._until(self.ended, MEDIA_TIMEOUT_S, "hangup not confirmed")

    async def record_event(self, kind: str, data: dict[str, Any]) -> None:
        await self.journal.event(self.call_id, kind, data)

    # -- worker events ----------------------------------------------------
    async def on_event(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "call.state":
            await self._on_state(message)
        elif kind == "call.media":
            if message["active"]:
                self.media_up.set()
        elif kind == "call.refer":
            await self.record_event("call.transfer_requested",
                                    {"to": message["to"], "by": "phone"})
        elif kind == "dtmf":
            await self.record_event("dtmf.received",
                                    {"digit": message["digit"], "method": message["method"]})
        elif kind == "play.done":
            self._resolve(("play.done", message["play"]), message)
        elif kind == "collect.done":
            self._resolve(("collect.done", message["collect"]), message)
        elif kind == "media.stats":
            stats = {k: v for k, v in message.items() if k not in ("type", "call")}
            await self.record_event("media.stats", stats)
        elif kind.startswith("speech."):
            if self._listen is not None:
                self._listen.offer(message)
        elif kind == "record.stopped":
            await self.record_event("recording.stopped", {"path": message["path"]})

    async def _on_state(self, message: dict[str, Any]) -> None:
        state = message["state"]
        previous, self.state = self.state, state
        log.info("call=%s worker=%d state %s -> %s (%s %s)", self.call_id, self.worker_id,
                 previous, state, message.get("code"), message.get("reason"))
        if state == "confirmed" and not self.answered:
            self.answered = True
        if state == "confirmed":
            await self.journal.answered(self.call_id)
        elif state == "disconnected":
            reason = f"{message.get('code')} {message.get('reason', '')}".strip()
            await self.finish(reason or "disconnected")

    async def finish(self, reason: str) -> None:
        """The call is over (caller hung up, we hung up, or the worker died)."""
        if self.ended.is_set():
            return
        self.end_reason = reason
        self.ended.set()
        for future in self.waiters.values():
            if not future.done():
                future.set_exception(CallEnded(reason))
        self.waiters.clear()
        await self.journal.ended(self.call_id, reason)

    # -- helpers ----------------------------------------------------------

    def _expect(self, kind: str, ident: int) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if self.ended.is_set():
            future.set_exception(CallEnded(self.end_reason))
        else:
            self.waiters[(kind, ident)] = future
        return future

    def _resolve(self, key: tuple[str, int], message: dict[str, Any]) -> None:
        future = self.waiters.pop(key, None)
        if future is not None and not future.done():
            future.set_result(message)

    async def _command(self, kind: str, **fields: Any) -> dict[str, Any]:
        if self.ended.is_set():
            raise CallEnded(self.end_reason)
        try:
            return await self.link.command(kind, call=self.number, **fields)
        except WorkerUnavailable as exc:
            raise CallEnded(str(exc)) from exc
        except CommandFailed as exc:
            if exc.code == "no-such-call":
                raise CallEnded("call already gone") from exc
            raise

    async def _until(self, event: asyncio.Event, timeout: float, what: str) -> None:
        await first_set(event, self.ended, timeout=timeout)
        if event.is_set():
            return
        if self.ended.is_set():
            raise CallEnded(self.end_reason)
        raise TimeoutError(what)
