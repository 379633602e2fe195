"""One call inside a media worker: pjsua2 callbacks turned into protocol events.

Callbacks only append to the worker's event sink; nothing here blocks or
talks to the network, because PJSUA invokes them while holding its locks.
The player's end-of-file callback comes from the conference clock thread, so
it too only appends (deque.append is atomic under the GIL).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from .protocol import DTMF_DIGITS

if TYPE_CHECKING:
    from ..speech.listener import Listener
    from .speech_tap import SpeechTap

_STATE_NAMES = {
    pj.PJSIP_INV_STATE_NULL: "null",
    pj.PJSIP_INV_STATE_CALLING: "calling",
    pj.PJSIP_INV_STATE_INCOMING: "incoming",
    pj.PJSIP_INV_STATE_EARLY: "early",
    pj.PJSIP_INV_STATE_CONNECTING: "connecting",
    pj.PJSIP_INV_STATE_CONFIRMED: "confirmed",
    pj.PJSIP_INV_STATE_DISCONNECTED: "disconnected",
}

_DTMF_METHODS = {pj.PJSUA_DTMF_METHOD_RFC2833: "rfc2833", pj.PJSUA_DTMF_METHOD_SIP_INFO: "info"}

Sink = deque[tuple[str, dict[str, Any]]]


class Player(pj.AudioMediaPlayer):
    """A prompt or playlist whose end is reported to the sink."""

    def __init__(self, sink: Sink, call: int, play_id: int) -> None:
        super().__init__()
        self.sink = sink
        self.call = call
        self.play_id = play_id
        self.loop = False

    def onEof2(self) -> None:
        self.sink.append(("_eof", {"call": self.call, "play": self.play_id}))


@dataclass
class Collect:
    """A pending DTMF collection; the worker times it so digits are never late."""

    collect_id: int
    max_digits: int
    terminator: str
    first_deadline: float
    inter_digit_ms: int
    digits: str = ""
    deadline: float = 0.0

    def __post_init__(self) -> None:
        self.deadline = self.first_deadline


@dataclass
class CallMedia:
    """What a call holds on the conference bridge."""

    player: Player | None = None
    play_barge_in: bool = False
    recorder: pj.AudioMediaRecorder | None = None
    record_path: str = ""
    collect: Collect | None = None
    typed_ahead: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    # The caller's audio on its way to the speech service (listen).
    listener: Listener | None = None
    tap: SpeechTap | None = None
    bridged: set[int] = field(default_factory=set)
    # When the last digit arrived (monotonic); the next prompt reports how long
    # after it it started, the figure a caller feels as the IVR's reaction time.
    last_dtmf_at: float = 0.0


_SERIALS = itertools.count(1)


class WorkerCall(pj.Call):
    """A pjsua2 call that reports its life to the worker's sink."""

    def __init__(self, account: pj.Account, call_id: int, sink: Sink) -> None:
        super().__init__(account, call_id)
        self.number = call_id
        # pjsua reuses call ids at once; the serial tells this call's events
        # from those of the call that held the same id before it.
        self.serial = next(_SERIALS)
        self.sink = sink
        self.media = CallMedia()
        self.answered = False
        self.created = time.monotonic()

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        state = _STATE_NAMES.get(info.state, str(info.state))
        self.sink.append(
            (
                "call.state",
                {
                    "call": self.number,
                    "state": state,
                    "code": int(info.lastStatusCode),
                    "reason": info.lastReason,
                    "_serial": self.serial,
                },
            )
        )

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        active = any(
            m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE
            for m in info.media
        )
        self.sink.append(("call.media", {"call": self.number, "active": active}))

    def onStreamDestroyed(self, prm: pj.OnStreamDestroyedParam) -> None:
        self.media.stats = self.read_stats() or self.media.stats

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        """A phone's own transfer (REFER) is the control plane's decision, never ours.

        Left to PJSUA, a REFER would make this worker dial whatever the phone
        names (toll fraud, calls nobody routes). It is refused here and
        reported; the control plane may carry it out through routing.
        """
        prm.statusCode = 603
        self.sink.append(("call.refer", {"call": self.number, "to": prm.dstUri}))

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        digit = prm.digit.upper()
        if digit in DTMF_DIGITS:
            method = _DTMF_METHODS.get(prm.method, str(prm.method))
            self.sink.append(("_dtmf", {"call": self.number, "digit": digit, "method": method}))

    def audio(self) -> pj.AudioMedia | None:
        """The call's active audio on the bridge, or None before media is up."""
        try:
            return self.getAudioMedia(-1)
        except pj.Error:
            return None

    def read_stats(self) -> dict[str, Any] | None:
        """RTP counters of the audio stream, taken while the stream still exists."""
        try:
            stat = self.getStreamStat(0)
            info = self.getStreamInfo(0)
        except pj.Error:
            return None
        rx, tx = stat.rtcp.rxStat, stat.rtcp.txStat
        return {
            "codec": f"{info.codecName}/{info.codecClockRate}",
            "rx_packets": int(rx.pkt),
            "rx_bytes": int(rx.bytes),
            "rx_lost": int(rx.loss),
            "rx_jitter_ms": round(rx.jitterUsec.last / 1000, 2),
            "tx_packets": int(tx.pkt),
            "tx_bytes": int(tx.bytes),
        }
