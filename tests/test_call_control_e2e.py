"""Call control against the whole server with real baresip agents.

A SIPp caller (400 Hz) reaches agents on baresip softphones (600 Hz; the
supervisor 800 Hz) through tests/fixtures/queue_flows/support_queue.yaml.
Through the API: the recording is paused and resumed, the call is
transferred attended (consult, cancel, consult, complete), a third agent is
conferenced in; a supervisor listens, whispers and barges (checked by what
each softphone heard); an agent clicks to call an internal extension, and
the dial plan refuses everything else.
"""

from __future__ import annotations

import array
import asyncio
import math
import shutil
import time
import wave
from pathlib import Path
from typing import Any

import pytest

from tests.support.rtp_pcap import tone_pcm, write_rtp_pcap
from tests.support.server import ROOT, ServerPorts, ServerProcess
from tests.support.sipp import SippRun
from tests.support.softphone import Softphone
from tests.test_agents_e2e import agent_tone, channel_rms, kinds
from voicecenter.distribution.dialplan import DestinationNotAllowed, DialPlan
from voicecenter.settings import DialplanSettings

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=5590, websocket=8589, http=8581, mqtt=2384, control=8592,
                    worker_sip_base=6700, rtp_base=39000, speech=2792)


class ListeningSoftphone(Softphone):
    """A softphone that also writes what it hears to a WAV (baresip's sndfile module)."""

    def write_config(self) -> None:
        super().write_config()
        config = self.workdir / "config"
        config.write_text(config.read_text()
                          + f"module\t\t\tsndfile.so\nsnd_path\t\t{self.workdir}\n")

    def heard(self) -> Path:
        dumps = sorted(self.workdir.glob("*dec*.wav"), key=lambda p: p.stat().st_mtime)
        assert dumps, f"{self.username}: no decoded audio dump in {self.workdir}"
        return dumps[-1]


def tone_level(path: Path, hz: float, start_s: float, end_s: float) -> float:
    """Goertzel magnitude of one frequency in a window of a mono WAV (0..~1)."""
    with wave.open(str(path)) as wav:
        rate = wav.getframerate()
        wav.setpos(min(int(start_s * rate), wav.getnframes()))
        frames = wav.readframes(max(0, int((end_s - start_s) * rate)))
    samples = array.array("h", frames)
    if not samples:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x / 32768 + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return math.sqrt(max(power, 0.0)) / len(samples)


def tone_file(path: Path, hz: int, seconds: int = 90) -> Path:
    import subprocess

    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth",
                    str(seconds), "sine", str(hz), "vol", "0.4"], check=True)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("control")
    flows = work / "flows"  # the support queue (200) and the digits demo (100)
    flows.mkdir()
    for source in (ROOT / "tests" / "fixtures" / "queue_flows" / "support_queue.yaml",
                   ROOT / "ivr_flows" / "digits_demo.yaml"):
        shutil.copy(source, flows / source.name)
    server = ServerProcess(work, workers=2, ports=PORTS, overrides={
        "paths": {"flows": str(flows)},
        "entry_points": {"200": "support_queue", "100": "digits_demo"},
        "routing": {"ring_timeout_s": 6},
    }).start()
    try:
        yield server
    finally:
        assert server.stop() == 0, server.tail()


def add_agents(server: ServerProcess, *names: str) -> None:
    for name in names:
        status, body = server.request("POST", "/agents", {
            "name": name, "password": f"{name}-pw-1", "skills": {"support": 5}})
        assert status == 201, body


async def start_phones(phones: dict[str, Softphone]) -> None:
    await asyncio.gather(*(phone.start() for phone in phones.values()))
    await asyncio.gather(*(phone.wait_registered() for phone in phones.values()))


async def call_in(server: ServerProcess, tmp_path: Path, seconds: int = 60) -> tuple[
        asyncio.Task[Any], str]:
    """A SIPp caller into the support queue; its task and the call id."""
    pcap = tmp_path / "caller.pcap"
    write_rtp_pcap(pcap, "", lead_ms=seconds * 1000, tail_ms=0,
                   audio=tone_pcm(400, seconds * 1000))
    before = {c["id"] for c in server.calls()}
    caller = asyncio.create_task(SippRun(
        "uac_digits.xml", server.sip_target, service="200", pcap=pcap,
        recv_timeout_ms=seconds * 1000, timeout_s=seconds + 20).run_async())
    calls = await asyncio.to_thread(server.wait_for, lambda: [
        c for c in server.calls() if c["id"] not in before and c["direction"] == "inbound"], 20)
    call_id = calls[0]["id"]
    await asyncio.to_thread(server.wait_for,
                            lambda: "recording.started" in kinds(server.call(call_id)), 20)
    return caller, call_id


def post(server: ServerProcess, path: str, body: Any = None) -> Any:
    return asyncio.to_thread(server.request, "POST", path, body or {})


async def test_attended_transfer_conference_and_paused_recording(
    server: ServerProcess, tmp_path: Path
) -> None:
    add_agents(server, "alice", "bob", "carol")
    tone = agent_tone(tmp_path / "agent.wav")
    phones = {name: Softphone(tmp_path / name, name, f"{name}-pw-1", "127.0.0.1", PORTS.sip,
                              audio_file=tone) for name in ("alice", "bob", "carol")}
    try:
        await start_phones(phones)
        server.request("PUT", "/agents/alice/state", {"state": "available"})
        caller, call_id = await call_in(server, tmp_path)
        await phones["alice"].wait_event("CALL_ESTABLISHED", timeout=10)
        base = f"/calls/{call_id}"
        await asyncio.sleep(1.5)
        status, body = await post(server, f"{base}/record/pause")
        assert status == 200, body
        assert (await post(server, f"{base}/record/pause"))[1]["error"] == "recording-paused"
        await asyncio.sleep(2.5)
        status, resumed = await post(server, f"{base}/record/resume")
        assert status == 200, resumed

        status, body = await post(server, f"{base}/transfer/attended", {"to": "bob"})
        assert status == 409 and body["error"] == "agent-not-available", body
        server.request("PUT", "/agents/bob/state", {"state": "available"})
        server.request("PUT", "/agents/carol/state", {"state": "available"})
        status, body = await post(server, f"{base}/transfer/attended", {"to": "bob"})
        assert status == 200, body
        await phones["bob"].wait_event("CALL_ESTABLISHED", timeout=10)
        view = server.get(f"{base}/control")
        assert view["held"] and view["parties"]["consult"]["agent"] == "bob"
        assert server.get("/agents/bob/state")["state"] == "busy"
        status, body = await post(server, f"{base}/transfer/cancel")
        assert status == 200 and not body["held"] and body["parties"] == {}, body
        await phones["bob"].wait_event("CALL_CLOSED", timeout=10)
        assert server.get("/agents/bob/state")["state"] == "available"

        since = len(phones["bob"].events)
        status, body = await post(server, f"{base}/transfer/attended", {"to": "bob"})
        assert status == 200, body
        await phones["bob"].wait_event("CALL_ESTABLISHED", timeout=10, since=since)
        await asyncio.sleep(1)
        status, body = await post(server, f"{base}/transfer/complete")
        assert status == 200 and body["agent"] == "bob", body
        await phones["alice"].wait_event("CALL_CLOSED", timeout=10)
        assert server.get("/agents/alice/state")["state"] == "available"
        assert (await post(server, f"{base}/transfer/complete"))[1]["error"] == \
            "no-consultation"

        status, body = await post(server, f"{base}/conference", {"with": "carol"})
        assert status == 200, body
        await phones["carol"].wait_event("CALL_ESTABLISHED", timeout=10)
        assert server.get(f"{base}/control")["parties"]["conference"]["agent"] == "carol"
        await asyncio.sleep(2)
        # The agent leaves the conference: the caller stays with the conferee.
        await phones["bob"].hangup()
        await asyncio.to_thread(server.wait_for, lambda: "call.conference_left" in kinds(
            server.call(call_id)))
        assert server.get(f"{base}/control")["agent"] == "carol"
        assert server.get("/agents/bob/state")["state"] == "available"
        await asyncio.sleep(1)
        assert not [e for e in phones["carol"].events if e.get("type") == "CALL_CLOSED"]
        # Hanging up during a consultation completes the transfer.
        since = len(phones["alice"].events)
        status, body = await post(server, f"{base}/transfer/attended", {"to": "alice"})
        assert status == 200, body
        await phones["alice"].wait_event("CALL_ESTABLISHED", timeout=10, since=since)
        await phones["carol"].hangup()
        await asyncio.to_thread(server.wait_for, lambda: kinds(server.call(call_id)).count(
            "call.transferred") == 2)
        assert server.get(f"{base}/control") == {
            "call_id": call_id, "agent": "alice", "held": False, "recording_paused": False,
            "parties": {}}
        await asyncio.sleep(1)
        await phones["alice"].hangup()
        assert (await caller).ok
    finally:
        for phone in phones.values():
            await phone.stop()

    def recorded() -> dict[str, Any] | None:
        found = server.call(call_id)
        return found if "recording.completed" in kinds(found) else None

    final = await asyncio.to_thread(server.wait_for, recorded, 15)
    order = [k for k in kinds(final) if k.startswith(("call.transfer", "call.consult",
                                                        "call.conference", "recording.p",
                                                        "recording.r"))]
    assert order == ["recording.paused", "recording.resumed",
                     "call.transfer_started", "call.consult_started", "call.transfer_cancelled",
                     "call.transfer_started", "call.consult_started", "call.transferred",
                     "call.conference_started", "call.conference_left",
                     "call.transfer_started", "call.consult_started", "call.transferred"], order
    (left,) = [e["data"] for e in final["timeline"] if e["kind"] == "call.conference_left"]
    assert left["agent"] == "bob" and left["caller_stays_with"] == "carol"
    (recording,) = [e["data"] for e in final["timeline"] if e["kind"] == "recording.completed"]
    assert recording["agents"] == ["alice", "bob", "carol"]
    (span,) = recording["paused"]
    assert span == {"start": resumed["paused"]["start"], "end": resumed["paused"]["end"]}
    assert 2.0 < span["end"] - span["start"] < 4.0
    path = Path(recording["path"])
    paused = _window(path, span["start"] + 0.3, span["end"] - 0.3)
    talking = _window(path, span["end"] + 0.5, span["end"] + 2.0)
    assert max(paused) < 50, f"the paused span is silence: {paused}"
    assert min(talking) > 300, f"both sides are recorded again after resume: {talking}"
    assert all(server.get(f"/agents/{a}/state")["state"] == "available"
               for a in ("alice", "bob", "carol"))


def _window(path: Path, start_s: float, end_s: float) -> tuple[float, float]:
    cut = path.with_name(f"window-{start_s:.1f}.wav")
    with wave.open(str(path)) as wav, wave.open(str(cut), "wb") as out:
        rate = wav.getframerate()
        wav.setpos(int(start_s * rate))
        out.setparams(wav.getparams())
        out.writeframes(wav.readframes(int((end_s - start_s) * rate)))
    return channel_rms(cut)


async def test_supervisor_listens_whispers_and_barges(server: ServerProcess,
                                                       tmp_path: Path) -> None:
    add_agents(server, "dave", "sue")
    dave = ListeningSoftphone(tmp_path / "dave", "dave", "dave-pw-1", "127.0.0.1", PORTS.sip,
                              audio_file=tone_file(tmp_path / "600.wav", 600))
    sue = ListeningSoftphone(tmp_path / "sue", "sue", "sue-pw-1", "127.0.0.1", PORTS.sip,
                             audio_file=tone_file(tmp_path / "800.wav", 800))
    phones = {"dave": dave, "sue": sue}
    try:
        await start_phones(phones)
        server.request("PUT", "/agents/dave/state", {"state": "available"})
        caller, call_id = await call_in(server, tmp_path)
        await dave.wait_event("CALL_ESTABLISHED", timeout=10)
        base = f"/calls/{call_id}"
        status, body = await post(server, f"{base}/supervise", {"supervisor": "sue",
                                                                 "mode": "shout"})
        assert status == 400, body
        marks: dict[str, float] = {}
        for mode in ("listen", "whisper", "barge"):
            status, body = await post(server, f"{base}/supervise", {"supervisor": "sue",
                                                                     "mode": mode})
            assert status == 200, body
            if mode == "listen":
                await sue.wait_event("CALL_ESTABLISHED", timeout=10)
            marks[mode] = time.monotonic()
            await asyncio.sleep(2.5)
        status, body = await post(server, f"{base}/supervise/stop")
        assert status == 200, body
        await sue.wait_event("CALL_CLOSED", timeout=10)
        marks["end"] = time.monotonic()
        await dave.hangup()
        assert (await caller).ok
    finally:
        for phone in phones.values():
            await phone.stop()
    timeline = server.call(call_id)["timeline"]
    modes = [e["data"]["mode"] for e in timeline if e["kind"] == "call.supervision_started"]
    assert modes == ["listen", "whisper", "barge"]
    assert "call.supervision_stopped" in [e["kind"] for e in timeline]
    assert server.get("/agents/sue/state")["state"] == "offline"  # as before supervising

    # What each softphone heard, per mode (windows inside each 2.5 s phase).
    heard_by_sue, heard_by_dave = sue.heard(), dave.heard()
    sue_start = marks["listen"]
    dave_start = _established_at(dave)

    def level(path: Path, start: float, mode: str, hz: float) -> float:
        begin = marks[mode] - start + 0.5
        return tone_level(path, hz, begin, begin + 1.5)

    assert level(heard_by_sue, sue_start, "listen", 400) > 0.01, "sue hears the caller"
    assert level(heard_by_sue, sue_start, "listen", 600) > 0.01, "sue hears the agent"
    assert level(heard_by_dave, dave_start, "listen", 800) < 0.003, "listen: dave hears no sue"
    assert level(heard_by_dave, dave_start, "whisper", 800) > 0.01, "whisper: dave hears sue"
    assert level(heard_by_dave, dave_start, "barge", 800) > 0.01, "barge: dave hears sue"


def _established_at(phone: ListeningSoftphone) -> float:
    """When the agent's dump started, in time.monotonic() terms (from its mtime span)."""
    dump = phone.heard()
    with wave.open(str(dump)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    return time.monotonic() - (time.time() - dump.stat().st_mtime) - seconds


async def test_click_to_call_rings_the_agent_then_an_allowed_destination(
    server: ServerProcess, tmp_path: Path
) -> None:
    for refused in ("+4930123456", "sip:100@evil.example.com",
                    "sip:100@127.0.0.1;maddr=192.0.2.1", "0090012345678"):
        status, body = server.request("POST", "/agents/erin/calls", {"to": refused})
        assert status == 403 and body["error"] == "destination-not-allowed", (refused, body)
    status, body = server.request("POST", "/agents/nobody/calls", {"to": "100"})
    assert status == 404 and body["error"] == "no-such-agent", body

    add_agents(server, "erin")
    erin = Softphone(tmp_path / "erin", "erin", "erin-pw-1", "127.0.0.1", PORTS.sip,
                     audio_file=agent_tone(tmp_path / "agent.wav"))
    try:
        await start_phones({"erin": erin})
        status, body = await post(server, "/agents/erin/calls", {"to": "100"})
        assert status == 201, body
        await erin.wait_event("CALL_ESTABLISHED", timeout=5)
        assert server.get("/agents/erin/state")["state"] == "busy"
        await asyncio.sleep(1)
        await erin.hangup()
        await asyncio.to_thread(server.wait_for, lambda: server.get(
            "/agents/erin/state")["state"] != "busy", 10)
    finally:
        await erin.stop()
    customer = server.call(body["call_id"])
    assert customer["direction"] == "outbound" and customer["called_number"] == "100"
    assert "call.bridged" in kinds(customer)
    demo = [c for c in server.calls() if c["direction"] == "inbound"
            and c["called_number"] == "100"]
    assert demo and demo[0]["flow"] == "digits_demo"


def test_dial_plan_defaults_allow_only_extensions_and_this_host() -> None:
    plan = DialPlan.from_patterns(DialplanSettings().allow, "127.0.0.1:5060")
    assert plan.uri_for("1000") == "sip:1000@127.0.0.1:5060"
    assert plan.uri_for("sip:bob@127.0.0.1:5070") == "sip:bob@127.0.0.1:5070"
    for refused in ("+4930123456", "900123456789", "sip:a@127.0.0.2", "sip:a@127.0.0.1?X=1",
                    "sips:a@example.com", "10x", "sip:a@127.0.0.1;transport=tcp"):
        with pytest.raises(DestinationNotAllowed):
            plan.uri_for(refused)
    public = DialPlan.from_patterns([r"^\+?[0-9]{3,15}$"], "trunk.example:5060")
    assert public.uri_for("+4930123456") == "sip:+4930123456@trunk.example:5060"
