"""What a media worker does for each protocol command.

DTMF collection and barge-in live here, next to the media, so a digit stops
a prompt within one poll interval instead of after a round trip to the
control plane.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from . import worker_legs
from .worker_call import Collect, Player, WorkerCall

if TYPE_CHECKING:
    from .speech_tap import SpeechThread
    from .worker import MediaWorker

log = logging.getLogger("voicecenter.media.worker")


class CommandError(Exception):
    """A command that cannot be carried out; `code` is a stable error id."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class CommandHandler:
    def __init__(self, worker: MediaWorker) -> None:
        self.worker = worker
        # Started on the first listen: the speech client (aiohttp and its thread)
        # costs each worker ~20 MB it need not carry until a flow listens.
        self.speech: SpeechThread | None = None

    def run(self, command: dict[str, Any]) -> dict[str, Any] | None:
        kind = command["type"]
        if kind == "shutdown":
            self.worker.running = False
            return None
        if kind == "dial":
            try:
                return worker_legs.dial(self.worker, command)
            except worker_legs.LegError as exc:
                raise CommandError(exc.code, str(exc)) from exc
        call = self.worker.calls.get(command["call"])
        if call is None:
            raise CommandError("no-such-call", f"call {command['call']} is not on this worker")
        handler = getattr(self, "do_" + kind)
        return handler(call, command)

    # -- call control -----------------------------------------------------
    def do_ring(self, call: WorkerCall, command: dict[str, Any]) -> None:
        self._answer(call, 180)

    def do_answer(self, call: WorkerCall, command: dict[str, Any]) -> None:
        call.answered = True
        self._answer(call, 200)

    def do_reject(self, call: WorkerCall, command: dict[str, Any]) -> None:
        code = command["code"]
        if not 400 <= code <= 699:
            raise CommandError("invalid-code", f"reject code {code} is not 4xx-6xx")
        call.answered = True
        prm = pj.CallOpParam()
        prm.statusCode = code
        if command.get("retry_after"):
            header = pj.SipHeader()
            header.hName = "Retry-After"
            header.hValue = str(int(command["retry_after"]))
            prm.txOption.headers.append(header)
        call.hangup(prm)

    def do_hangup(self, call: WorkerCall, command: dict[str, Any]) -> None:
        prm = pj.CallOpParam()
        code = command.get("code")
        if isinstance(code, int) and 400 <= code <= 699:
            prm.statusCode = code
        call.answered = True
        call.hangup(prm)

    def do_bridge(self, call: WorkerCall, command: dict[str, Any]) -> None:
        try:
            worker_legs.bridge(self.worker, call, command)
        except worker_legs.LegError as exc:
            raise CommandError(exc.code, str(exc)) from exc

    def do_unbridge(self, call: WorkerCall, command: dict[str, Any]) -> None:
        try:
            worker_legs.unbridge(self.worker, call, command)
        except worker_legs.LegError as exc:
            raise CommandError(exc.code, str(exc)) from exc

    @staticmethod
    def _answer(call: WorkerCall, code: int) -> None:
        prm = pj.CallOpParam()
        prm.statusCode = code
        call.answer(prm)

    def do_stats(self, call: WorkerCall, command: dict[str, Any]) -> dict[str, Any]:
        return {"stats": call.read_stats() or {}}

    # -- prompts ----------------------------------------------------------
    def do_play(self, call: WorkerCall, command: dict[str, Any]) -> dict[str, Any] | None:
        files = command["files"]
        if not files or not all(isinstance(f, str) and os.path.isfile(f) for f in files):
            raise CommandError("no-such-file", f"cannot play {files!r}: missing file")
        audio = call.audio()
        if audio is None:
            raise CommandError("no-media", "call has no active audio")
        self._stop_player(call, "replaced")
        player = Player(self.worker.sink, call.number, command["id"])
        # A looping prompt (music on hold) plays until stopped; its ends are not reported.
        player.loop = bool(command.get("loop", False))
        options = 0 if player.loop else pj.PJMEDIA_FILE_NO_LOOP
        if len(files) == 1:
            player.createPlayer(files[0], options)
        else:
            player.createPlaylist(files, "", options)
        player.startTransmit(audio)
        call.media.player = player
        since_dtmf = None
        if call.media.last_dtmf_at:
            since_dtmf = round((time.monotonic() - call.media.last_dtmf_at) * 1000, 1)
            call.media.last_dtmf_at = 0.0
        call.media.play_barge_in = bool(command.get("barge_in", False))
        if call.media.play_barge_in and call.media.typed_ahead:
            self._stop_player(call, "barge_in")
        return {"since_dtmf_ms": since_dtmf} if since_dtmf is not None else None

    def do_stop_play(self, call: WorkerCall, command: dict[str, Any]) -> None:
        self._stop_player(call, "stopped")

    def on_eof(self, number: int, play_id: int) -> None:
        call = self.worker.calls.get(number)
        player = call.media.player if call else None
        if call and player and player.play_id == play_id and not player.loop:
            self._stop_player(call, "finished")

    def _stop_player(self, call: WorkerCall, reason: str) -> None:
        player = call.media.player
        if player is None:
            return
        call.media.player = None
        audio = call.audio()
        if audio is not None:
            try:
                player.stopTransmit(audio)
            except pj.Error:
                pass
        self.worker.send("play.done", call=call.number, play=player.play_id, reason=reason)
        del player

    # -- DTMF -------------------------------------------------------------
    def do_collect(self, call: WorkerCall, command: dict[str, Any]) -> None:
        max_digits = command["max_digits"]
        if not 1 <= max_digits <= 64:
            raise CommandError("invalid-max-digits", "max_digits must be 1..64")
        now = time.monotonic()
        collect = Collect(
            collect_id=command["id"],
            max_digits=max_digits,
            terminator=str(command.get("terminator") or ""),
            first_deadline=now + int(command.get("timeout_ms", 5000)) / 1000,
            inter_digit_ms=int(command.get("inter_digit_ms", 3000)),
        )
        call.media.collect = collect
        typed, call.media.typed_ahead = call.media.typed_ahead, ""
        if command.get("flush"):
            typed = ""
        for digit in typed:
            if call.media.collect is collect:
                self._collect_digit(call, digit, now)

    def on_dtmf(self, fields: dict[str, Any]) -> None:
        call = self.worker.calls.get(fields["call"])
        if call is None:
            return
        self.worker.send("dtmf", **fields)
        call.media.last_dtmf_at = time.monotonic()
        if call.media.player is not None and call.media.play_barge_in:
            self._stop_player(call, "barge_in")
        if call.media.collect is None:
            call.media.typed_ahead = (call.media.typed_ahead + fields["digit"])[-64:]
        else:
            self._collect_digit(call, fields["digit"], time.monotonic())

    def _collect_digit(self, call: WorkerCall, digit: str, now: float) -> None:
        collect = call.media.collect
        assert collect is not None
        if collect.terminator and digit == collect.terminator:
            self._finish_collect(call, "terminator")
            return
        collect.digits += digit
        collect.deadline = now + collect.inter_digit_ms / 1000
        if len(collect.digits) >= collect.max_digits:
            self._finish_collect(call, "max_digits")

    def _finish_collect(self, call: WorkerCall, reason: str) -> None:
        collect = call.media.collect
        if collect is None:
            return
        call.media.collect = None
        self.worker.send("collect.done", call=call.number, collect=collect.collect_id,
                         digits=collect.digits, reason=reason)

    def tick(self, now: float) -> None:
        """Expire collections whose first-digit or inter-digit timeout passed."""
        for call in self.worker.calls.values():
            collect = call.media.collect
            if collect is not None and now >= collect.deadline:
                self._finish_collect(call, "timeout" if not collect.digits else "inter_digit")
            if call.media.listener is not None and call.media.listener.done:
                self._stop_listener(call, "")

    # -- speech -----------------------------------------------------------
    def do_listen(self, call: WorkerCall, command: dict[str, Any]) -> None:
        audio = call.audio()
        if audio is None:
            raise CommandError("no-media", "call has no active audio")
        phrases = command.get("phrases")
        if phrases is not None and not (
            isinstance(phrases, list) and all(isinstance(p, str) for p in phrases)
        ):
            raise CommandError("invalid-phrases", "phrases must be a list of strings")
        rate = int(command.get("sample_rate", 16000))
        if rate not in (8000, 16000):
            raise CommandError("invalid-sample-rate", "sample_rate must be 8000 or 16000")
        from ..speech.listener import Listener, ListenParams
        from .speech_tap import SpeechTap, SpeechThread, make_emit

        self._stop_listener(call, "replaced")
        params = ListenParams(
            url=command["url"], sample_rate=rate, phrases=phrases,
            timeout_ms=int(command.get("timeout_ms", 5000)),
            max_speech_ms=int(command.get("max_speech_ms", 10000)),
            end_silence_ms=int(command.get("end_silence_ms", 700)),
        )
        listener = Listener(call.number, command["id"], params, make_emit(self.worker.sink))
        tap = SpeechTap(listener.frames, rate)
        audio.startTransmit(tap)
        call.media.listener, call.media.tap = listener, tap
        if self.speech is None:
            self.speech = SpeechThread()
        self.speech.start(listener)

    def do_stop_listen(self, call: WorkerCall, command: dict[str, Any]) -> None:
        if call.media.listener is None:
            raise CommandError("not-listening", "call is not listening")
        self._stop_listener(call, "stopped")

    def _stop_listener(self, call: WorkerCall, reason: str) -> None:
        """Disconnect the tap here, on the main thread; the stream ends on its own thread."""
        listener, call.media.listener = call.media.listener, None
        tap, call.media.tap = call.media.tap, None
        if listener is not None and reason and not listener.done:
            listener.stop(reason)
        if tap is not None:
            audio = call.audio()
            if audio is not None:
                try:
                    audio.stopTransmit(tap)
                except pj.Error:
                    pass
            del tap  # the port leaves the bridge with its last reference

    # -- recording --------------------------------------------------------
    def do_record(self, call: WorkerCall, command: dict[str, Any]) -> None:
        audio = call.audio()
        if audio is None:
            raise CommandError("no-media", "call has no active audio")
        if call.media.recorder is not None:
            raise CommandError("already-recording", "call is already being recorded")
        path = command["path"]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(path)
        audio.startTransmit(recorder)
        call.media.recorder = recorder
        call.media.record_path = path

    def do_stop_record(self, call: WorkerCall, command: dict[str, Any]) -> None:
        if call.media.recorder is None:
            raise CommandError("not-recording", "call is not being recorded")
        self._stop_recorder(call)

    def _stop_recorder(self, call: WorkerCall) -> None:
        recorder, call.media.recorder = call.media.recorder, None
        if recorder is None:
            return
        audio = call.audio()
        if audio is not None:
            try:
                audio.stopTransmit(recorder)
            except pj.Error:
                pass
        del recorder  # closing the recorder finalizes the WAV header
        self.worker.send("record.stopped", call=call.number, path=call.media.record_path)

    # -- teardown ---------------------------------------------------------
    def release(self, call: WorkerCall) -> None:
        """Free a finished call's media so nothing references pjsua2 objects."""
        worker_legs.release_bridges(self.worker, call)
        if call.media.player is not None:
            self._stop_player(call, "hangup")
        if call.media.collect is not None:
            self._finish_collect(call, "hangup")
        self._stop_recorder(call)
        self._stop_listener(call, "hangup")

    def clear(self) -> None:
        if self.speech is not None:
            self.speech.stop()
        log.info("worker=%s media released", self.worker.worker_id)
