"""Calls through the real stack: SIPp -> Kamailio -> pjsua2 workers -> flows -> store.

Module-scoped server (12 workers); every test places real calls on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.support.rtp_pcap import read_pcap
from tests.support.server import ServerProcess
from tests.support.sipp import SippRun

pytestmark = pytest.mark.sip


def kinds(call: dict[str, Any]) -> list[str]:
    return [event["kind"] for event in call["timeline"]]


def new_calls(server: ServerProcess, before: set[str]) -> list[dict[str, Any]]:
    return [c for c in server.calls(200) if c["id"] not in before]


def finished(server: ServerProcess, call_id: str) -> dict[str, Any]:
    """The call once it has ended and its flow has written its last step."""

    def done() -> dict[str, Any] | None:
        call = server.call(call_id)
        ended = call["state"] == "ended"
        flow_done = call["flow"] is None or "flow.ended" in kinds(call)
        return call if ended and flow_done else None

    return server.wait_for(done)


def call_ids(server: ServerProcess) -> set[str]:
    return {c["id"] for c in server.calls(1000)}


def test_digits_reach_the_store(server: ServerProcess, digits_pcap: Path) -> None:
    before = call_ids(server)
    result = SippRun("uac_digits.xml", server.sip_target, pcap=digits_pcap,
                     recv_timeout_ms=20000, timeout_s=40).run()
    assert result.ok, result.describe()
    (summary,) = new_calls(server, before)
    call = finished(server, summary["id"])

    assert call["called_number"] == "100"
    assert call["flow"] == "digits_demo"
    assert call["end_reason"]
    dtmf = [e["data"]["digit"] for e in call["timeline"] if e["kind"] == "dtmf.received"]
    assert dtmf == ["4", "7", "1", "1"]
    (collected,) = [e["data"] for e in call["timeline"] if e["kind"] == "flow.input"]
    assert collected["digits"] == "4711"
    steps = [e["data"]["node"] for e in call["timeline"] if e["kind"] == "flow.step"]
    assert steps == ["answer", "welcome", "digits", "say_back", "goodbye", "bye"]
    said = [e["data"] for e in call["timeline"] if e["kind"] == "prompt.played"]
    assert said[1]["files"] == ["you_entered.wav", "4.wav", "7.wav", "1.wav", "1.wav"]
    assert said[1]["reason"] == "finished"
    assert kinds(call)[:2] == ["call.created", "flow.started"]
    assert "call.answered" in kinds(call) and "call.ended" in kinds(call)

    (stats,) = [e["data"] for e in call["timeline"] if e["kind"] == "media.stats"]
    assert stats["codec"] == "PCMU/8000"
    assert stats["rx_packets"] >= len(read_pcap(digits_pcap)) - 2


def test_the_prompt_reaches_the_caller(server: ServerProcess) -> None:
    """The caller sends no audio of its own and echoes what it hears (-rtp_echo):
    every packet the worker receives is its own prompt, back from the caller."""
    before = call_ids(server)
    result = SippRun("uac_prompt.xml", server.sip_target, rtp_echo=True, recv_timeout_ms=4000,
                     timeout_s=20).run()
    assert result.ok, result.describe()
    (summary,) = new_calls(server, before)
    call = finished(server, summary["id"])
    (stats,) = [e["data"] for e in call["timeline"] if e["kind"] == "media.stats"]
    assert stats["tx_packets"] > 150  # 4 s of the welcome prompt at 50 packets/s
    assert stats["rx_packets"] > 0.8 * stats["tx_packets"]
    assert stats["rx_lost"] < 5


def test_forty_concurrent_calls_with_audio_all_succeed(
    server: ServerProcess, digits_pcap: Path
) -> None:
    before = call_ids(server)
    result = SippRun("uac_digits.xml", server.sip_target, pcap=digits_pcap, calls=40, limit=40,
                     rate=40, recv_timeout_ms=25000, timeout_s=90).run()
    assert result.ok and result.successful == 40 and result.failed == 0, result.describe()
    calls = server.wait_for(
        lambda: len(c := [x for x in new_calls(server, before) if x["state"] == "ended"]) == 40
        and c, timeout_s=20)
    assert {c["worker_id"] for c in calls} >= set(range(10)), "calls spread over the pool"
    for summary in calls:
        call = server.call(summary["id"])
        digits = [e["data"]["digits"] for e in call["timeline"] if e["kind"] == "flow.input"]
        assert digits == ["4711"], (summary["id"], digits)


def test_killed_worker_ends_its_call_and_is_replaced(server: ServerProcess,
                                                     digits_pcap: Path) -> None:
    before = call_ids(server)
    caller = subprocess.Popen(
        SippRun("uac_prompt.xml", server.sip_target, recv_timeout_ms=30000,
                timeout_s=40).command(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        live = server.wait_for(
            lambda: [c for c in new_calls(server, before) if c["state"] == "answered"])
        worker_id = live[0]["worker_id"]
        health = server.get("/health")
        old_pid = health["workers"][worker_id]["pid"]
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        ended = server.wait_for(
            lambda: (c := server.call(live[0]["id"]))["state"] == "ended" and c, timeout_s=5)
        assert time.monotonic() - killed_at < 1.5
        assert "media worker lost" in ended["end_reason"]
        assert "SIGKILL" in ended["end_reason"]

        def replaced() -> bool:
            worker = server.get("/health")["workers"][worker_id]
            return worker["ready"] and worker["pid"] != old_pid

        server.wait_for(replaced, timeout_s=5)
        assert len(server.get("/health")["workers"]) == 12
    finally:
        caller.kill()
        caller.wait()
    # The pool is whole again: a full round of calls, one per worker, succeeds.
    result = SippRun("uac_digits.xml", server.sip_target, pcap=digits_pcap, calls=12, limit=12,
                     rate=20, recv_timeout_ms=25000, timeout_s=60).run()
    assert result.ok and result.successful == 12, result.describe()


def test_every_step_is_published_on_mqtt(server: ServerProcess, digits_pcap: Path) -> None:
    async def scenario() -> list[tuple[str, dict[str, Any]]]:
        import json

        received: list[tuple[str, dict[str, Any]]] = []
        async with aiomqtt.Client("127.0.0.1", server.ports.mqtt) as client:
            await client.subscribe("voicecenter/calls/#", qos=1)
            run = SippRun("uac_digits.xml", server.sip_target, pcap=digits_pcap,
                          recv_timeout_ms=20000, timeout_s=40)
            sipp = asyncio.create_task(run.run_async())

            async def collect() -> None:
                ours = None  # the first call created after we subscribed
                async for message in client.messages:
                    payload = json.loads(message.payload)
                    if ours is None and payload["kind"] == "call.created":
                        ours = payload["call_id"]
                    if ours is not None and payload["call_id"] == ours:
                        received.append((str(message.topic), payload))
                        if payload["kind"] == "flow.ended":
                            return

            await asyncio.wait_for(collect(), 40)
            assert (await sipp).ok
        return received

    received = asyncio.run(scenario())
    call_id = received[-1][1]["call_id"]
    ours = [(t, p) for t, p in received if p["call_id"] == call_id]
    topics = [t.removeprefix(f"voicecenter/calls/{call_id}/") for t, _ in ours]
    assert topics[0] == "created"
    assert "answered" in topics and "dtmf" in topics and topics.count("flow/step") == 6
    call = server.call(call_id)
    last = ours[-1][1]["event_id"]
    stored = [e["id"] for e in call["timeline"] if e["id"] <= last]
    assert [p["event_id"] for _, p in ours] == stored, "MQTT carries the stored timeline"


def test_unknown_number_is_refused_and_recorded(server: ServerProcess) -> None:
    before = call_ids(server)
    restarts = sum(w["restarts"] for w in server.get("/health")["workers"])
    result = SippRun("uac_prompt.xml", server.sip_target, service="999", recv_timeout_ms=5000,
                     timeout_s=15).run()
    assert not result.ok
    (summary,) = new_calls(server, before)
    call = finished(server, summary["id"])
    assert call["end_reason"].startswith("refused 404")
    assert call["flow"] is None
    # Refusing must not hold up the worker's events: past the heartbeat timeout
    # (3 s) the worker that refused is still the same process.
    time.sleep(3.5)
    assert sum(w["restarts"] for w in server.get("/health")["workers"]) == restarts


def test_sip_info_digits_are_collected_too(server: ServerProcess) -> None:
    before = call_ids(server)
    result = SippRun("uac_info_digits.xml", server.sip_target, recv_timeout_ms=20000,
                     timeout_s=40).run()
    assert result.ok, result.describe()
    (summary,) = new_calls(server, before)
    call = finished(server, summary["id"])
    dtmf = [(e["data"]["digit"], e["data"]["method"]) for e in call["timeline"]
            if e["kind"] == "dtmf.received"]
    assert dtmf == [("9", "info"), ("8", "info"), ("#", "info")]
    (collected,) = [e["data"] for e in call["timeline"] if e["kind"] == "flow.input"]
    assert collected == {"node": "digits", "digits": "98", "reason": "terminator"}
