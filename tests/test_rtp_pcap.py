"""The RTP/DTMF pcap writer, checked on paper and against real SIP peers.

The unit tests read the written file back and check the RTP rules a receiver
relies on.  The ``sip`` tests prove it end to end: SIPp plays the pcap into a
call to a minimal pjsua2 answering machine (this module run as
``python -m tests.test_rtp_pcap --uas``), which must report exactly the
digits sent.  Running the answering side in its own process keeps pjsua2's
one-thread rule and its abort on leftover Call objects away from pytest.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import shutil
import socket
import struct
import subprocess
import sys
import time
import warnings
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import rtp_pcap
from tests.support.rtp_pcap import (
    DtmfEvent,
    RtpPacket,
    build_rtp_stream,
    g711_encode,
    read_pcap,
    tone_pcm,
    write_rtp_pcap,
)
from tests.support.sipp import (
    SippRun,
    can_play_pcap,
    free_media_port,
    free_udp_port,
    sipp_available,
)

ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------ unit tests


def _events(packets: list[RtpPacket], event_pt: int = 101) -> list[tuple[RtpPacket, DtmfEvent]]:
    return [(p, DtmfEvent.from_payload(p.payload)) for p in packets if p.payload_type == event_pt]


def _digits(packets: list[RtpPacket]) -> str:
    """Digits as a receiver that starts a new event on each marker bit sees them."""
    return "".join(ev.digit for pkt, ev in _events(packets) if pkt.marker)


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "d.pcap"
    written = write_rtp_pcap(path, "1*9#", ssrc=0x11223344, seq_start=100, ts_start=5000)
    assert read_pcap(path) == written


def test_sequence_timestamps_and_timing_are_continuous() -> None:
    packets = build_rtp_stream("0123456789*#ABCD", seq_start=65530, ts_start=2**32 - 500)
    assert len({p.ssrc for p in packets}) == 1
    for k, (a, b) in enumerate(itertools.pairwise(packets)):
        assert b.seq == (a.seq + 1) & 0xFFFF, f"sequence gap after packet {k}"
        assert b.time_s == pytest.approx(a.time_s + 0.020)
    # Audio timestamps follow the send clock; event packets keep their event's start.
    first = packets[0]
    for k, pkt in enumerate(packets):
        if pkt.payload_type == 0:
            assert pkt.timestamp == (first.timestamp + 160 * k) & 0xFFFFFFFF
            assert len(pkt.payload) == 160


def test_each_digit_is_one_rfc4733_event() -> None:
    packets = build_rtp_stream("1#D", lead_ms=100, digit_ms=160, gap_ms=100, tail_ms=60)
    assert _digits(packets) == "1#D"
    codes = {"1": 1, "#": 11, "D": 15}
    index = {id(p): k for k, p in enumerate(packets)}
    runs: list[list[tuple[RtpPacket, DtmfEvent]]] = []
    for pkt, ev in _events(packets):
        if pkt.marker:
            runs.append([])
        runs[-1].append((pkt, ev))
    for run, digit in zip(runs, "1#D", strict=True):
        pkts = [p for p, _ in run]
        evs = [e for _, e in run]
        assert len(run) == 8 + 2  # 160 ms of updates, then the end packet twice more
        assert {p.timestamp for p in pkts} == {pkts[0].timestamp}
        assert pkts[0].timestamp == (packets[0].timestamp + 160 * index[id(pkts[0])]) & 0xFFFFFFFF
        assert [p.marker for p in pkts] == [True] + [False] * 9
        assert [e.duration for e in evs] == [160 * n for n in range(1, 9)] + [1280, 1280]
        assert [e.end for e in evs] == [False] * 7 + [True] * 3
        assert {e.volume for e in evs} == {10}
        assert all(e.digit == digit for e in evs)
        assert all(p.payload[0] == codes[digit] for p in pkts)
    # Lead 100 ms, gaps 100 ms, tail 60 ms: 5 + 3 * 10 + 2 * 5 + 3 packets.
    assert len(packets) == 48


def test_durations_round_up_to_whole_packets() -> None:
    packets = build_rtp_stream("5", lead_ms=0, digit_ms=50, tail_ms=0)
    durations = [DtmfEvent.from_payload(p.payload).duration for p in packets]
    assert durations == [160, 320, 400, 400, 400]
    assert packets[0].marker


def test_repeated_digit_starts_a_new_event() -> None:
    # PJSIP treats a packet of the same digit with a duration not below the last
    # one as an update of that event, so the next event must start short again.
    packets = build_rtp_stream("11", gap_ms=40)
    events = _events(packets)
    starts = [k for k, (pkt, _) in enumerate(events) if pkt.marker]
    assert len(starts) == 2
    assert events[starts[1]][1].duration < events[starts[1] - 1][1].duration
    assert events[starts[0]][0].timestamp != events[starts[1]][0].timestamp


def test_audio_follows_the_media_clock() -> None:
    tone = tone_pcm(1000, 2000)
    packets = build_rtp_stream("7", lead_ms=200, audio=tone)
    start = packets[0].timestamp
    for pkt in packets:
        if pkt.payload_type == 0:
            offset = (pkt.timestamp - start) & 0xFFFFFFFF
            assert pkt.payload == g711_encode(tone[2 * offset : 2 * (offset + 160)])
    silent = build_rtp_stream("", lead_ms=40, tail_ms=0)
    assert [p.payload for p in silent] == [b"\xff" * 160] * 2  # mu-law silence


def test_pcma_and_custom_event_payload_types() -> None:
    packets = build_rtp_stream("9", audio_pt=8, event_pt=96, lead_ms=20, tail_ms=20)
    assert {p.payload_type for p in packets} == {8, 96}
    assert packets[0].payload == b"\xd5" * 160  # A-law silence
    with pytest.raises(ValueError):
        build_rtp_stream("9", audio_pt=18)
    with pytest.raises(ValueError):
        build_rtp_stream("9", event_pt=0)


def test_rejects_what_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="not a DTMF digit"):
        build_rtp_stream("12x")
    with pytest.raises(ValueError):
        build_rtp_stream("1", digit_ms=9000)  # duration field is 16 bits
    assert _digits(build_rtp_stream("abcd")) == "ABCD"


def test_g711_matches_the_reference_codec() -> None:
    samples = struct.pack("<65536h", *range(-32768, 32768))
    assert g711_encode(b"\x00\x00\xff\x7f\x00\x80", 0) == bytes([0xFF, 0x80, 0x00])
    assert g711_encode(b"\x00\x00\xff\x7f\x00\x80", 8) == bytes([0xD5, 0xAA, 0x2A])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # the C reference, gone in 3.13
    assert g711_encode(samples, 0) == audioop.lin2ulaw(samples, 2)
    assert g711_encode(samples, 8) == audioop.lin2alaw(samples, 2)


def test_wav_input(tmp_path: Path) -> None:
    wav_path = tmp_path / "a.wav"
    pcm = tone_pcm(440, 100)
    with wave.open(str(wav_path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(pcm)
    assert rtp_pcap.read_wav_pcm(wav_path) == pcm
    with wave.open(str(wav_path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(pcm)
    with pytest.raises(ValueError, match="8000 Hz"):
        rtp_pcap.read_wav_pcm(wav_path)


def test_cli_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "cli.pcap"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.rtp_pcap", str(out), "42", "--tone", "600"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert "packets" in proc.stdout
    assert _digits(read_pcap(out)) == "42"


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
def test_tshark_decodes_it_as_rtp_events(tmp_path: Path) -> None:
    """An independent dissector agrees on checksums, RTP and RFC 4733 fields."""
    path = tmp_path / "t.pcap"
    write_rtp_pcap(path, "3#", seq_start=10, ts_start=1000, lead_ms=40, gap_ms=40, tail_ms=40)
    fields = ["ip.checksum.status", "udp.checksum.status", "rtp.p_type", "rtp.seq",
              "rtp.marker", "rtpevent.event_id", "rtpevent.end_of_event", "rtpevent.duration"]
    cmd = ["tshark", "-r", str(path), "-d", "udp.port==6000,rtp",
           "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-T", "fields"]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.strip().splitlines()]
    assert all(r[0] == "1" and r[1] == "1" for r in rows)  # 1 = good checksum
    assert [int(r[3]) for r in rows] == list(range(10, 10 + len(rows)))
    events = [r for r in rows if r[2] == "101"]
    starts = [(r[5], r[6], r[7]) for r in events if r[4] == "1"]
    assert starts == [("3", "0", "160"), ("11", "0", "160")]
    assert sum(r[6] == "1" for r in events) == 6


# ------------------------------------------------ end to end: SIPp -> pjsua2

def sip_test(test: Any) -> Any:
    """Marks a test that needs SIPp (with raw-socket rights for pcap play) and pjsua2."""
    for mark in (
        pytest.mark.sip,
        pytest.mark.timeout(30),
        pytest.mark.skipif(not sipp_available(), reason="needs sipp"),
        pytest.mark.skipif(not can_play_pcap(), reason="play_pcap_audio needs root/CAP_NET_RAW"),
    ):
        test = mark(test)
    return test


class Uas:
    """This file's ``--uas`` mode in a subprocess: port, and the events it printed."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.test_rtp_pcap", "--uas", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # pjlib prints a banner before its log config applies
            if line.startswith("{"):
                self.port = int(json.loads(line)["port"])
                break
        else:
            _, err = self.proc.communicate()
            raise RuntimeError(f"UAS did not start: {err}")
        self.events: list[dict[str, Any]] = []

    def finish(self, timeout: float = 10) -> list[dict[str, Any]]:
        out, err = self.proc.communicate(timeout=timeout)
        self.events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert self.proc.returncode == 0, err[-2000:]
        return self.events

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def uas_factory() -> Iterator[type[Uas]]:
    started: list[Uas] = []

    class Tracked(Uas):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for uas in started:
        uas.kill()


def _by_call(events: list[dict[str, Any]], kind: str, key: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for ev in events:
        if ev["event"] == kind:
            out[ev["call"]] = out.get(ev["call"], "") + str(ev[key])
    return out


@sip_test
@pytest.mark.parametrize("uas_hangs_up", [True, False], ids=["server-bye", "caller-bye"])
def test_pjsua2_hears_exactly_the_digits(
    tmp_path: Path, uas_factory: type[Uas], uas_hangs_up: bool
) -> None:
    digits = "19#*0A11"
    pcap = tmp_path / "digits.pcap"
    write_rtp_pcap(pcap, digits, lead_ms=300, digit_ms=160, gap_ms=120, tail_ms=300)
    uas = uas_factory("--calls", "1", "--max-seconds", "15",
                      "--hangup-after-digits", str(len(digits)) if uas_hangs_up else "0")
    result = SippRun("uac_digits", f"127.0.0.1:{uas.port}", pcap=pcap,
                     recv_timeout_ms=8000 if uas_hangs_up else 4000, timeout_s=15,
                     workdir=tmp_path).run()
    events = uas.finish()
    assert result.ok, result.describe()
    assert result.successful == 1
    assert _by_call(events, "digit", "digit") == {0: digits}
    ends = [ev for ev in events if ev["event"] == "dtmf" and ev["end"]]
    assert "".join(ev["digit"] for ev in ends) == digits
    assert {ev["duration"] for ev in ends} == {160}
    hangup_by = [ev["by"] for ev in events if ev["event"] == "hangup"]
    assert hangup_by == (["uas"] if uas_hangs_up else [])
    if not uas_hangs_up:
        assert "jumping to label" in result.errors  # SIPp's note that it hung up itself


@sip_test
def test_parallel_calls_each_hear_their_digits(tmp_path: Path, uas_factory: type[Uas]) -> None:
    """4 calls at once (pjsua2's own limit per process), 8 in all, one shared media port."""
    digits = "2580"
    pcap = tmp_path / "digits.pcap"
    write_rtp_pcap(pcap, digits, lead_ms=200, gap_ms=100)
    uas = uas_factory("--calls", "8", "--max-seconds", "15",
                      "--hangup-after-digits", str(len(digits)))
    result = SippRun("uac_digits", f"127.0.0.1:{uas.port}", pcap=pcap, calls=8, limit=4, rate=20,
                     recv_timeout_ms=6000, timeout_s=15, workdir=tmp_path).run()
    events = uas.finish(timeout=15)
    assert result.ok, result.describe()
    assert result.successful == 8
    assert sorted(_by_call(events, "digit", "digit").values()) == [digits] * 8
    assert max(ev["active"] for ev in events if ev["event"] == "answered") == 4


@sip_test
def test_prompt_reaches_the_caller_media_port(tmp_path: Path, uas_factory: type[Uas]) -> None:
    """The UAS plays a tone; SIPp echoes it (-rtp_echo); the UAS records its energy."""
    record = tmp_path / "caller.wav"
    uas = uas_factory("--calls", "1", "--max-seconds", "10", "--tone-hz", "800",
                      "--record", str(record), "--hangup-after-ms", "2000")
    result = SippRun("uac_prompt", f"127.0.0.1:{uas.port}", rtp_echo=True,
                     recv_timeout_ms=5000, timeout_s=10, workdir=tmp_path).run()
    uas.finish()
    assert result.ok, result.describe()
    with wave.open(str(record), "rb") as wav:
        pcm = wav.readframes(wav.getnframes())
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    assert max(abs(s) for s in samples) > 2000, "no echoed prompt: server RTP did not reach SIPp"


def test_sipp_command_never_takes_the_server_port(tmp_path: Path) -> None:
    run = SippRun("uac_digits", "127.0.0.1:5060", pcap="x.pcap", calls=40, limit=40, rate=20,
                  workdir=tmp_path)
    cmd = run.command()
    assert cmd[:2] == ["sipp", "127.0.0.1:5060"]
    opts = dict(itertools.pairwise(cmd))
    assert int(opts["-p"]) not in (0, 5060)
    assert int(opts["-mp"]) % 2 == 0
    assert (opts["-m"], opts["-l"], opts["-r"]) == ("40", "40", "20")
    key = cmd.index("-key")
    assert cmd[key + 1 : key + 3] == ["pcap", str(Path("x.pcap").resolve())]
    assert opts["-stf"] == str(tmp_path / "stats.csv")


@pytest.mark.sip
@pytest.mark.skipif(not sipp_available(), reason="needs sipp")
def test_sipp_result_counts_failed_calls(tmp_path: Path) -> None:
    """Nobody answers: the call fails on the receive timeout and the result says so."""
    result = SippRun("uac_prompt", f"127.0.0.1:{free_udp_port()}", recv_timeout_ms=1000,
                     timeout_s=10, workdir=tmp_path).run()
    assert (result.ok, result.successful, result.failed, result.returncode) == (False, 0, 1, 1)
    assert "receive timeout" in result.errors


async def _until_bound(port: int, timeout: float = 5) -> None:
    """Wait until some process holds UDP ``port`` on 127.0.0.1 (SIPp is listening)."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                    probe.bind(("127.0.0.1", port))
            except OSError:
                return
            await asyncio.sleep(0.02)


@sip_test
async def test_forty_concurrent_calls_share_one_media_port(tmp_path: Path) -> None:
    """40 calls at once against SIPp's own UAS (it never hangs up: the caller-BYE branch)."""
    pcap = tmp_path / "digits.pcap"
    write_rtp_pcap(pcap, "1234")
    port = free_udp_port()
    uas = await asyncio.create_subprocess_exec(
        "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
        "-mp", str(free_media_port()), "-nostdin", "-m", "40", "-timeout", "20s",
        cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await _until_bound(port)
        result = await SippRun("uac_digits", f"127.0.0.1:{port}", pcap=pcap, calls=40, limit=40,
                               rate=100, recv_timeout_ms=3000, timeout_s=15,
                               workdir=tmp_path).run_async()
    finally:
        uas.terminate()  # its calls are over; skip its 4 s timewait
        await uas.wait()
    assert result.ok, result.describe()
    assert result.successful == 40
    assert result.stats_path is not None
    with result.stats_path.open() as fh:
        peak = max(int(row["CurrentCall"]) for row in csv.DictReader(fh, delimiter=";"))
    assert peak == 40


# ------------------------------------------- the answering side (--uas mode)


def run_uas(argv: list[str]) -> int:  # pragma: no cover - runs in a subprocess
    """Answer calls with pjsua2 and print one JSON line per event.

    All pjsua2 work happens on this thread, which polls libHandleEvents
    (threadCnt=0, mainThreadOnly); Call objects are dropped before libDestroy.
    """
    import argparse
    import gc

    import pjsua2 as pj

    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1, help="exit after this many calls ended")
    parser.add_argument("--max-seconds", type=float, default=15)
    parser.add_argument("--hangup-after-digits", type=int, default=0, help="0: never hang up")
    parser.add_argument("--hangup-after-ms", type=int, default=0, help="0: never hang up")
    parser.add_argument("--tone-hz", type=int, default=0, help="play a tone to the caller")
    parser.add_argument("--record", default="", help="record the caller's audio to this WAV")
    args = parser.parse_args(argv)

    def emit(**fields: Any) -> None:
        print(json.dumps(fields), flush=True)

    DTMF_IS_END = 1 << 1  # PJMEDIA_STREAM_DTMF_IS_END, not exported by the Python module

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.boundAddress = "127.0.0.1"
    tcfg.port = 0
    tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    port = int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[1])

    calls: dict[int, Any] = {}
    finished: list[Any] = []
    media: list[Any] = []  # players/recorders, kept alive while calls run
    state = {"ended": 0, "answered": 0, "next_id": 0}
    deadline = time.monotonic() + args.max_seconds

    class UasCall(pj.Call):
        def __init__(self, acc: Any, call_id: int) -> None:
            super().__init__(acc, call_id)
            self.n = state["next_id"]
            state["next_id"] += 1
            self.ends = 0
            self.hangup_at: float | None = None

        def onCallState(self, prm: Any) -> None:
            info = self.getInfo()
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED and args.hangup_after_ms:
                self.hangup_at = time.monotonic() + args.hangup_after_ms / 1000
            if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                emit(event="disconnected", call=self.n, reason=info.lastReason)
                state["ended"] += 1
                finished.append(calls.pop(info.id, None))  # dropped outside the callback

        def onCallMediaState(self, prm: Any) -> None:
            audio = self.getAudioMedia(-1)
            if args.tone_hz:
                tone = pj.ToneGenerator()
                tone.createToneGenerator()
                desc = pj.ToneDesc()
                desc.freq1 = desc.freq2 = args.tone_hz
                desc.on_msec, desc.off_msec, desc.volume = 1000, 0, 0
                tones = pj.ToneDescVector()
                tones.append(desc)
                tone.play(tones, True)
                tone.startTransmit(audio)
                media.append(tone)
            if args.record:
                recorder = pj.AudioMediaRecorder()
                recorder.createRecorder(args.record)
                audio.startTransmit(recorder)
                media.append(recorder)

        def onDtmfDigit(self, prm: Any) -> None:
            emit(event="digit", call=self.n, digit=prm.digit)

        def onDtmfEvent(self, prm: Any) -> None:
            end = bool(prm.flags & DTMF_IS_END)
            emit(event="dtmf", call=self.n, digit=prm.digit, duration=prm.duration, end=end)
            if end:
                self.ends += 1
                if args.hangup_after_digits and self.ends == args.hangup_after_digits:
                    self.hangup_at = time.monotonic() + 0.3  # "says them back", then hangs up

    class UasAccount(pj.Account):
        def onIncomingCall(self, prm: Any) -> None:
            call = UasCall(self, prm.callId)
            calls[prm.callId] = call
            state["answered"] += 1
            emit(event="answered", call=call.n, active=len(calls))
            op = pj.CallOpParam()
            op.statusCode = 200
            call.answer(op)

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:uas@127.0.0.1:{port}"
    acfg.sipConfig.transportId = tid
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    account = UasAccount()
    account.create(acfg)
    emit(event="ready", port=port)

    while state["ended"] < args.calls and time.monotonic() < deadline:
        ep.libHandleEvents(10)
        finished.clear()
        now = time.monotonic()
        for call in list(calls.values()):
            if call.hangup_at is not None and now >= call.hangup_at:
                call.hangup_at = None
                emit(event="hangup", call=call.n, by="uas")
                op = pj.CallOpParam()
                op.statusCode = 200
                call.hangup(op)
    ep.hangupAllCalls()
    for _ in range(20):
        ep.libHandleEvents(10)
    calls.clear()
    finished.clear()
    call = None  # the loop variable too: no Call may outlive the library
    media.clear()
    del account
    gc.collect()  # a Call kept alive by a stored traceback must go before libDestroy
    ep.libDestroy()
    emit(event="exit", ended=state["ended"])
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--uas"]:
        raise SystemExit(run_uas(sys.argv[2:]))
    raise SystemExit("usage: python -m tests.test_rtp_pcap --uas [options]")
