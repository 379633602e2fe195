"""A caller queued for agents on real softphones: routing, bridge, recording, transfer.

SIPp calls 200 (tests/fixtures/queue_flows/support_queue.yaml) and sends a
tone; two baresip agents registered to the edge send another tone from a
file. The router offers the call, the worker rings the agent through the
edge, bridges and records both sides; a blind transfer through the API moves
the caller to the second agent, who hangs up.
"""

from __future__ import annotations

import array
import asyncio
import math
import subprocess
import wave
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.speech_audio import speech_pcap
from tests.support.rtp_pcap import tone_pcm, write_rtp_pcap
from tests.support.server import ROOT, ServerPorts, ServerProcess
from tests.support.sipp import SippRun
from tests.support.softphone import Softphone

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=5490, websocket=8489, http=8481, mqtt=2284, control=8492,
                    worker_sip_base=6600, rtp_base=38000, speech=2791)


@pytest.fixture(scope="module")
def queue_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("queue")
    server = ServerProcess(work, workers=2, ports=PORTS, speech=True, overrides={
        "paths": {"flows": str(ROOT / "tests" / "fixtures" / "queue_flows")},
        "entry_points": {"200": "support_queue"},
        "routing": {"ring_timeout_s": 4, "max_misses": 2, "missed_retry_after": 0},
    }).start(timeout_s=90)
    try:
        yield server
    finally:
        assert server.stop() == 0, server.tail()


def agent_tone(path: Path, seconds: int = 90) -> Path:
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth",
                    str(seconds), "sine", "600", "vol", "0.4"], check=True)
    return path


def channel_rms(path: Path) -> tuple[float, float]:
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2
        samples = array.array("h", wav.readframes(wav.getnframes()))
    left, right = samples[0::2], samples[1::2]
    return tuple(math.sqrt(sum(x * x for x in side) / max(len(side), 1))  # type: ignore[return-value]
                 for side in (left, right))


def kinds(call: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in call["timeline"]]


async def test_queued_caller_reaches_an_agent_is_recorded_and_transferred(
    queue_server: ServerProcess, tmp_path: Path
) -> None:
    server = queue_server
    for name in ("alice", "bob"):
        status, body = server.request("POST", "/agents", {
            "name": name, "password": f"{name}-pw-1", "skills": {"support": 5}})
        assert status == 201, body
    tone = agent_tone(tmp_path / "agent.wav")
    phones = {name: Softphone(tmp_path / name, name, f"{name}-pw-1", "127.0.0.1", PORTS.sip,
                              audio_file=tone) for name in ("alice", "bob")}
    caller_pcap = tmp_path / "caller.pcap"
    write_rtp_pcap(caller_pcap, "", lead_ms=40000, tail_ms=0, audio=tone_pcm(400, 40000))
    try:
        for phone in phones.values():
            await phone.start()
            await phone.wait_registered()
        status, body = server.request("PUT", "/agents/alice/state", {"state": "available"})
        assert status == 200 and body["state"] == "available", body

        before = {c["id"] for c in server.calls()}
        caller = asyncio.create_task(SippRun(
            "uac_digits.xml", server.sip_target, service="200", pcap=caller_pcap,
            recv_timeout_ms=60000, timeout_s=90).run_async())
        call = await asyncio.to_thread(server.wait_for, lambda: [
            c for c in server.calls() if c["id"] not in before and c["direction"] == "inbound"])
        call_id = call[0]["id"]
        await phones["alice"].wait_event("CALL_ESTABLISHED", timeout=15)
        await asyncio.to_thread(server.wait_for,
                                lambda: "call.bridged" in kinds(server.call(call_id)))
        assert server.get("/agents/alice/state")["state"] == "busy"
        await asyncio.sleep(2)  # both sides talk

        status, body = server.request("POST", f"/calls/{call_id}/transfer", {"to": "bob"})
        assert status == 409 and body["error"] == "agent-not-available"
        server.request("PUT", "/agents/bob/state", {"state": "available"})
        status, body = await asyncio.to_thread(
            server.request, "POST", f"/calls/{call_id}/transfer", {"to": "bob"})
        assert status == 200, body
        await phones["bob"].wait_event("CALL_ESTABLISHED", timeout=15)
        await phones["alice"].wait_event("CALL_CLOSED", timeout=10)
        assert server.get("/agents/alice/state")["state"] == "available"
        await asyncio.sleep(2)
        await phones["bob"].hangup()
        result = await caller
        assert result.ok, result.describe()
    finally:
        for phone in phones.values():
            await phone.stop()

    def recorded() -> dict[str, Any] | None:
        found = server.call(call_id)
        return found if "recording.completed" in kinds(found) else None

    final = await asyncio.to_thread(server.wait_for, recorded, 15)
    order = [k for k in kinds(final) if k in (
        "interaction.assigned", "call.bridged", "call.transfer_started", "call.transferred",
        "recording.completed", "call.ended")]
    assert order[:4] == ["interaction.assigned", "call.bridged", "call.transfer_started",
                         "call.transferred"]
    (assigned,) = [e["data"] for e in final["timeline"] if e["kind"] == "interaction.assigned"]
    assert assigned["agent"] == "alice" and assigned["why"]["rule"] in ("strategy", "sticky")
    (recording,) = [e["data"] for e in final["timeline"] if e["kind"] == "recording.completed"]
    assert recording["agents"] == ["alice", "bob"]
    left, right = channel_rms(Path(recording["path"]))
    assert left > 300, "the caller's side has the caller's tone"
    assert right > 300, "the agent side has the agents' tone"
    assert server.get("/agents/bob/state")["state"] == "available"


async def test_missed_offers_keep_the_callers_place_and_send_the_agent_away(
    queue_server: ServerProcess, tmp_path: Path
) -> None:
    server = queue_server
    for name in ("carol", "dave"):
        status, body = server.request("POST", "/agents", {
            "name": name, "password": f"{name}-pw-1", "skills": {"support": 5}})
        assert status == 201, body
    tone = agent_tone(tmp_path / "agent.wav")
    carol = Softphone(tmp_path / "carol", "carol", "carol-pw-1", "127.0.0.1", PORTS.sip,
                      auto_answer=False, audio_file=tone)
    dave = Softphone(tmp_path / "dave", "dave", "dave-pw-1", "127.0.0.1", PORTS.sip,
                     audio_file=tone)
    caller_pcap = tmp_path / "caller.pcap"
    write_rtp_pcap(caller_pcap, "", lead_ms=30000, tail_ms=0, audio=tone_pcm(400, 30000))
    try:
        for phone in (carol, dave):
            await phone.start()
            await phone.wait_registered()
        for name in ("alice", "bob"):  # the earlier test's agents log off
            server.request("PUT", f"/agents/{name}/state", {"state": "offline"})
        server.request("PUT", "/agents/carol/state", {"state": "available"})
        before = {c["id"] for c in server.calls()}
        caller = asyncio.create_task(SippRun(
            "uac_digits.xml", server.sip_target, service="200", pcap=caller_pcap,
            recv_timeout_ms=40000, timeout_s=60).run_async())
        calls = await asyncio.to_thread(server.wait_for, lambda: [
            c for c in server.calls() if c["id"] not in before and c["direction"] == "inbound"])
        call_id = calls[0]["id"]

        def missed_twice() -> bool:
            return kinds(server.call(call_id)).count("interaction.offer_missed") == 2

        await asyncio.to_thread(server.wait_for, missed_twice, 20)
        state = server.get("/agents/carol/state")
        misses = [e["data"] for e in server.call(call_id)["timeline"]
                  if e["kind"] == "interaction.offer_missed"]
        assert state["state"] == "away" and state["reason"] == "missed_offers", (state, misses)
        # The caller still waits, in the same place; the next agent gets the call.
        server.request("PUT", "/agents/dave/state", {"state": "available"})
        await dave.wait_event("CALL_ESTABLISHED", timeout=15)
        await asyncio.to_thread(server.wait_for,
                                lambda: "call.bridged" in kinds(server.call(call_id)))
        await dave.hangup()
        assert (await caller).ok
    finally:
        await carol.stop()
        await dave.stop()
    timeline = server.call(call_id)["timeline"]
    offers = [(e["kind"], e["data"]["agent"]) for e in timeline
              if e["kind"] in ("interaction.assigned", "interaction.offer_missed")]
    assert offers == [("interaction.assigned", "carol"), ("interaction.offer_missed", "carol"),
                      ("interaction.assigned", "carol"), ("interaction.offer_missed", "carol"),
                      ("interaction.assigned", "dave")]


async def test_a_recorded_conversation_is_transcribed_per_channel(
    queue_server: ServerProcess, tmp_path: Path
) -> None:
    """The caller says 네 (yes); the agent's phone sends silence. The transcript
    has the word on the caller's channel, with its time, and nothing on the agent's."""
    server = queue_server
    status, body = server.request("POST", "/agents", {
        "name": "erin", "password": "erin-pw-1", "skills": {"support": 5}})
    assert status == 201, body
    erin = Softphone(tmp_path / "erin", "erin", "erin-pw-1", "127.0.0.1", PORTS.sip)
    try:
        await erin.start()
        await erin.wait_registered()
        for name in ("alice", "bob", "carol", "dave"):
            server.request("PUT", f"/agents/{name}/state", {"state": "offline"})
        server.request("PUT", "/agents/erin/state", {"state": "available"})
        before = {c["id"] for c in server.calls()}
        # Hold music plays ~1 s before erin answers; 네 comes well after that.
        pcap = speech_pcap("네", tmp_path, lead_ms=4000, tail_ms=3000)
        caller = asyncio.create_task(SippRun(
            "uac_digits.xml", server.sip_target, service="200", pcap=pcap,
            recv_timeout_ms=9000, timeout_s=40).run_async())
        assert (await caller).ok
    finally:
        await erin.stop()
    (call,) = [c for c in server.calls() if c["id"] not in before
               and c["direction"] == "inbound"]

    def transcribed() -> list[dict[str, Any]] | None:
        items = server.get(f"/calls/{call['id']}/transcript")["items"]
        return items if len(items) == 2 else None

    items = await asyncio.to_thread(server.wait_for, transcribed, 30)
    by_label = {item["label"]: item for item in items}
    assert set(by_label) == {"caller", "agent"}
    assert "네" in by_label["caller"]["text"], by_label
    assert "네" not in by_label["agent"]["text"]
    words = [w for w in by_label["caller"]["words"] if "네" in w["word"]]
    assert words, by_label["caller"]["words"]
    assert 0 < words[0]["start"] < words[0]["end"]
    found = server.get("/transcripts?q=%EB%84%A4")["items"]
    assert call["id"] in {item["call_id"] for item in found}

