"""A caller leaves a callback, the server restarts, the callback reaches an agent.

SIPp calls 300 (tests/fixtures/callback_flows/callback_queue.yaml) while no
agent is available, hears its position, presses 9 and types the number to
call back; the flow hangs up. The server is stopped and started on the same
work directory: the callback is still pending, still in the queue. Once a
baresip agent is available it is rung first, then a SIPp UAS playing the
customer is dialed and bridged to it. Then a callback scheduled through the
API to a number nobody answers is tried three times and given up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.support.rtp_pcap import tone_pcm, write_rtp_pcap
from tests.support.server import ROOT, ServerPorts, ServerProcess
from tests.support.sipp import SippRun, free_media_port
from tests.support.softphone import Softphone

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=5690, websocket=8689, http=8681, mqtt=2484, control=8692,
                    worker_sip_base=6800, rtp_base=42000, speech=2793)
CUSTOMER_PORT = 5697


def kinds(call: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in call["timeline"]]


def wait_until_ports_free(timeout_s: float = 90.0) -> None:
    """Another run of this module (a parallel suite) would answer our health checks."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", PORTS.http)) != 0:
                return
        time.sleep(1.0)
    raise RuntimeError(f"port {PORTS.http} stays busy: another server runs on these ports")


async def figures_from_mqtt(port: int, queue: str) -> dict[str, Any]:
    """The next figures message the server publishes for ``queue``."""
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(f"voicecenter/queues/{queue}/figures", qos=1)
        async for message in client.messages:
            return json.loads(message.payload)  # type: ignore[arg-type]
    raise AssertionError("no figures message")


async def customer_uas(workdir: Path) -> asyncio.subprocess.Process:
    """SIPp's built-in UAS on its own port: answers one call, waits for the BYE."""
    return await asyncio.create_subprocess_exec(
        "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(CUSTOMER_PORT),
        "-mi", "127.0.0.1", "-mp", str(free_media_port()), "-m", "1", "-nostdin",
        "-timeout", "60s", "-timeout_error", cwd=workdir,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def test_a_callback_survives_a_restart_and_reaches_an_agent(tmp_path: Path) -> None:
    await asyncio.to_thread(wait_until_ports_free)
    server = ServerProcess(tmp_path / "server", workers=2, ports=PORTS, overrides={
        "paths": {"flows": str(ROOT / "tests" / "fixtures" / "callback_flows")},
        "entry_points": {"300": "callback_queue"},
        "routing": {"ring_timeout_s": 8},
        "queues": {"callback_dial_host": f"127.0.0.1:{CUSTOMER_PORT}",
                   "callback_retry_s": 1, "callback_attempts": 3, "figures_period_s": 1,
                   "callback_ring_timeout_s": 4},
    }).start()
    phone: Softphone | None = None
    customer: asyncio.subprocess.Process | None = None
    try:
        status, body = server.request("POST", "/agents", {
            "name": "erin", "password": "erin-pw-1", "skills": {"support": 5}})
        assert status == 201, body
        # Hold music and the position announcement first, then 9, then the number.
        pcap = tmp_path / "caller.pcap"
        write_rtp_pcap(pcap, "95551234#", lead_ms=9000, gap_ms=600, tail_ms=6000,
                       audio=tone_pcm(400, 9000))
        caller = await SippRun("uac_digits.xml", server.sip_target, service="300", pcap=pcap,
                               recv_timeout_ms=30000, timeout_s=60).run_async()
        assert caller.ok, caller.describe()
        callbacks = server.get("/callbacks")["items"]
        assert [(c["number"], c["state"]) for c in callbacks] == [("5551234", "pending")]
        call = next(c for c in server.calls() if c["direction"] == "inbound")
        events = server.call(call["id"])["timeline"]
        timeline = [e["kind"] for e in events]
        assert "callback.requested" in timeline and "interaction.dequeued" not in timeline
        played = [f for e in events if e["kind"] == "prompt.played" for f in e["data"]["files"]]
        assert "moh.wav" in played and len(set(played)) >= 3, "music, position, questions"
        message = await asyncio.wait_for(figures_from_mqtt(PORTS.mqtt, "support"), 10)
        assert message["kind"] == "queue.figures" and message["data"]["waiting"] == 1
        support = server.get("/queues/support")
        assert support["waiting"] == 1 and support["abandoned"] == 0
        waited = support["longest_wait_s"]

        assert server.stop() == 0, server.tail()
        server.start()
        support = server.get("/queues/support")
        assert support["waiting"] == 1, "the callback is back in the queue"
        assert support["longest_wait_s"] >= waited, "with its original enqueue time"
        assert server.get("/callbacks")["items"][0]["state"] == "pending"

        (tmp_path / "customer").mkdir()
        customer = await customer_uas(tmp_path / "customer")
        phone = Softphone(tmp_path / "erin", "erin", "erin-pw-1", "127.0.0.1", PORTS.sip)
        await phone.start()
        await phone.wait_registered()
        server.request("PUT", "/agents/erin/state", {"state": "available"})
        await phone.wait_event("CALL_ESTABLISHED", timeout=15)

        def connected() -> Any:
            found = server.get(f"/callbacks/{callbacks[0]['id']}")
            return found if found["state"] == "connected" else None

        record = await asyncio.to_thread(server.wait_for, connected, 20)
        assert record["agent"] == "erin" and record["attempts"] == 1
        await asyncio.sleep(1.0)
        await phone.hangup()
        assert await asyncio.wait_for(customer.wait(), 20) == 0, "the customer's call ended well"
        done = await asyncio.to_thread(server.wait_for, lambda: server.get(
            f"/callbacks/{callbacks[0]['id']}")["state"] == "done", 10)
        assert done
        legs = [c for c in server.calls() if c["interaction_id"] == record["interaction_id"]]
        timeline = [k for leg in legs for k in kinds(server.call(leg["id"]))]
        assert "callback.connected" in timeline and "call.bridged" in timeline
        assert server.get("/queues/support")["waiting"] == 0
        await asyncio.to_thread(server.wait_for, lambda: server.get(
            "/agents/erin/state")["state"] == "available", 10)

        # Nobody answers at the customer's number any more: tried 3 times, then failed.
        status, scheduled = server.request("POST", "/callbacks", {
            "number": "5550000", "skills": ["support"], "queue": "support"})
        assert status == 201, scheduled
        failed = await asyncio.to_thread(server.wait_for, lambda: (
            found := server.get(f"/callbacks/{scheduled['id']}"))["state"] == "failed" and found,
            40, 0.5)
        assert failed["attempts"] == 3 and failed["error"]
        timeline = [k for leg in server.calls() for k in kinds(server.call(leg["id"]))]
        assert timeline.count("callback.attempt_failed") == 2
        assert timeline.count("callback.failed") == 1
        assert server.get("/agents/erin/state")["state"] == "available"
    finally:
        if phone is not None:
            await phone.stop()
        if customer is not None and customer.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                customer.kill()
            await customer.wait()
        assert server.stop() == 0, server.tail()
