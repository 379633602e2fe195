"""Transfers from the agent's own softphone, callbacks as conversations, and wrap-up.

Real baresip agents (600 Hz tone) answer a SIPp caller (400 Hz) queued by
tests/fixtures/queue_flows/support_queue.yaml. The agent's phone transfers
with its own `transfer` command (a SIP REFER): the server refuses numbers
the dial plan forbids and agents who are not available, and carries out a
transfer to an available agent, also when the phone hangs up right after
its REFER (the caller hears music meanwhile). With `routing.wrap_up` the
agents are in wrap-up after the call until they post a disposition.
A callback's customer (SIPp UAS) and agent form a conversation that is held
through the API and recorded in stereo like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ROOT, ServerPorts, ServerProcess
from tests.support.sipp import free_media_port
from tests.support.softphone import Softphone
from tests.test_agents_e2e import agent_tone, channel_rms, kinds
from tests.test_call_control_e2e import add_agents, call_in, post, start_phones

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=7290, websocket=10289, http=10281, mqtt=4284, control=10292,
                    worker_sip_base=10500, rtp_base=64400, speech=2812)
CUSTOMER_PORT = 7297


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("phone-transfer")
    flows = work / "flows"
    flows.mkdir()
    shutil.copy(ROOT / "tests" / "fixtures" / "queue_flows" / "support_queue.yaml", flows)
    server = ServerProcess(work, workers=2, ports=PORTS, overrides={
        "paths": {"flows": str(flows)},
        "entry_points": {"200": "support_queue"},
        "routing": {"ring_timeout_s": 6, "wrap_up": True},
        "queues": {"callback_dial_host": f"127.0.0.1:{CUSTOMER_PORT}",
                   "callback_ring_timeout_s": 6},
    }).start()
    try:
        yield server
    finally:
        assert server.stop() == 0, server.tail()


def state(server: ServerProcess, agent: str) -> str:
    return str(server.get(f"/agents/{agent}/state")["state"])


def events_of(server: ServerProcess, call_id: str, kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in server.call(call_id)["timeline"] if e["kind"] == kind]


async def until(server: ServerProcess, predicate: Any, timeout_s: float = 15) -> Any:
    return await asyncio.to_thread(server.wait_for, predicate, timeout_s)


async def test_a_phones_own_transfer_is_carried_out_and_wrap_up_waits_for_a_disposition(
    server: ServerProcess, tmp_path: Path
) -> None:
    add_agents(server, "alice", "bob")
    tone = agent_tone(tmp_path / "agent.wav")
    phones = {name: Softphone(tmp_path / name, name, f"{name}-pw-1", "127.0.0.1", PORTS.sip,
                              audio_file=tone) for name in ("alice", "bob")}
    try:
        await start_phones(phones)
        server.request("PUT", "/agents/alice/state", {"state": "available"})
        caller, call_id = await call_in(server, tmp_path, seconds=50)
        await phones["alice"].wait_event("CALL_ESTABLISHED", timeout=10)

        # alice's phone transfers to bob. The worker answers the REFER itself (603:
        # pjsua2 cannot accept one without dialing it) and baresip 1.0 then hangs up,
        # so the caller hears music until bob answers.
        server.request("PUT", "/agents/bob/state", {"state": "available"})
        await asyncio.sleep(1)
        await phones["alice"].command("transfer", "bob")
        # baresip ends its call on a refused REFER without a CALL_CLOSED event.
        await phones["alice"].wait_event("TRANSFER_FAILED", timeout=10)
        await phones["bob"].wait_event("CALL_ESTABLISHED", timeout=10)
        moved = await until(server, lambda: events_of(server, call_id, "call.transferred"))
        assert moved[0] == {**moved[0], "from": "alice", "to": "bob", "by": "phone"}, moved
        held = events_of(server, call_id, "call.hold_started")
        assert held and held[-1]["reason"] == "transfer in progress", held
        assert server.get(f"/calls/{call_id}/control") == {
            "call_id": call_id, "agent": "bob", "held": False, "recording_paused": False,
            "parties": {}}
        # alice's routed work ends in wrap-up, which only her disposition ends.
        assert state(server, "alice") == "wrap_up"
        await asyncio.sleep(1)
        assert state(server, "alice") == "wrap_up", "no offers, no timer"
        status, body = server.request("POST", "/agents/alice/wrap_up",
                                      {"disposition": "transferred", "notes": "to bob"})
        assert status == 200 and body["state"] == "available" and body["call_id"] == call_id
        status, body = server.request("POST", "/agents/alice/wrap_up", {})
        assert status == 409 and body["error"] == "not-in-wrap-up", body

        # A number the dial plan forbids: refused and never dialed (baresip hangs up).
        await asyncio.sleep(2)
        await phones["bob"].command("transfer", "0900123456")
        refused = await until(server, lambda: events_of(server, call_id,
                                                        "call.transfer_refused"))
        assert refused[0]["error"] == "destination-not-allowed" and refused[0]["by"] == "phone"
        await phones["bob"].wait_event("TRANSFER_FAILED", timeout=10)
        assert (await caller).ok
        await until(server, lambda: state(server, "bob") == "wrap_up")
        status, body = server.request("POST", "/agents/bob/wrap_up", {"disposition": "resolved"})
        assert status == 200 and body["state"] == "available", body
    finally:
        for phone in phones.values():
            await phone.stop()

    def recorded() -> dict[str, Any] | None:
        found = server.call(call_id)
        return found if "recording.completed" in kinds(found) else None

    final = await until(server, recorded)
    order = [k for k in kinds(final) if k.startswith(("call.transfer", "call.hold",
                                                        "interaction.disposition"))]
    assert order == ["call.transfer_started", "call.hold_started", "call.transferred",
                     "interaction.disposition_set", "call.transfer_refused",
                     "interaction.disposition_set"], order
    dispositions = [e["data"] for e in final["timeline"]
                    if e["kind"] == "interaction.disposition_set"]
    assert [d.get("disposition") for d in dispositions] == ["transferred", "resolved"]
    (recording,) = [e["data"] for e in final["timeline"] if e["kind"] == "recording.completed"]
    assert recording["agents"] == ["alice", "bob"]
    assert min(channel_rms(Path(recording["path"]))) > 300, "both sides are recorded"


async def customer_uas(workdir: Path) -> asyncio.subprocess.Process:
    """SIPp's built-in UAS: the callback's customer answers and waits for the BYE."""
    return await asyncio.create_subprocess_exec(
        "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(CUSTOMER_PORT),
        "-mi", "127.0.0.1", "-mp", str(free_media_port()), "-m", "1", "-nostdin",
        "-timeout", "40s", "-timeout_error", cwd=workdir,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def test_a_connected_callback_is_held_and_recorded_like_any_conversation(
    server: ServerProcess, tmp_path: Path
) -> None:
    status, body = server.request("POST", "/agents", {
        "name": "dave", "password": "dave-pw-1", "skills": {"callbacks": 5}})
    assert status == 201, body
    phone = Softphone(tmp_path / "dave", "dave", "dave-pw-1", "127.0.0.1", PORTS.sip,
                      audio_file=agent_tone(tmp_path / "agent.wav"))
    (tmp_path / "customer").mkdir()
    customer = await customer_uas(tmp_path / "customer")
    try:
        await phone.start()
        await phone.wait_registered()
        server.request("PUT", "/agents/dave/state", {"state": "available"})
        status, scheduled = server.request("POST", "/callbacks", {
            "number": "5551234", "skills": ["callbacks"], "queue": "callbacks"})
        assert status == 201, scheduled
        await phone.wait_event("CALL_ESTABLISHED", timeout=10)
        record = await until(server, lambda: (
            found := server.get(f"/callbacks/{scheduled['id']}"))["state"] == "connected"
            and found)
        (leg,) = [c for c in server.calls() if c["interaction_id"] == record["interaction_id"]
                  and c.get("called_number") == "5551234"]
        customer_id = leg["id"]
        await until(server, lambda: "recording.started" in kinds(server.call(customer_id)))
        await asyncio.sleep(1)
        status, body = await post(server, f"/calls/{customer_id}/hold/start")
        assert status == 200 and body["held"], body
        assert server.get(f"/calls/{customer_id}/control")["held"]
        await asyncio.sleep(1)
        status, body = await post(server, f"/calls/{customer_id}/hold/stop")
        assert status == 200 and not body["held"], body
        await asyncio.sleep(1.5)
        await phone.hangup()
        assert await asyncio.wait_for(customer.wait(), 15) == 0, "the customer's call ended"
        await until(server, lambda: server.get(
            f"/callbacks/{scheduled['id']}")["state"] == "done")
        # The callback was routed work: wrap-up, then the disposition frees dave.
        await until(server, lambda: state(server, "dave") == "wrap_up")
        status, body = server.request("POST", "/agents/dave/wrap_up", {"disposition": "done"})
        assert status == 200 and body["state"] == "available", body
    finally:
        await phone.stop()
        if customer.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                customer.kill()
            await customer.wait()

    def recorded() -> dict[str, Any] | None:
        found = server.call(customer_id)
        return found if "recording.completed" in kinds(found) else None

    final = await until(server, recorded)
    timeline = kinds(final)
    assert timeline.index("callback.connected") < timeline.index("call.bridged") < \
        timeline.index("call.hold_started") < timeline.index("call.hold_stopped")
    (recording,) = [e["data"] for e in final["timeline"] if e["kind"] == "recording.completed"]
    assert recording["agents"] == ["dave"]
    assert recording["channels"] == {"left": "caller", "right": "agent"}
    assert channel_rms(Path(recording["path"]))[1] > 300, "the agent's side is recorded"
    assert server.get("/queues/callbacks")["waiting"] == 0
