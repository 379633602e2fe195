"""Blind transfer to a queue and to an outside destination, against the whole server.

A SIPp caller (400 Hz) dials the support queue (200) and reaches alice on a
baresip softphone. Transferred to the sales queue (a flow's queue node with
skills [sales]), the caller waits again on the same interaction and reaches
bob; transferred to an outside SIP URI, a SIPp UAS (echoing the caller's
audio) answers and the caller is bridged to it. The dial plan refuses
destinations it does not allow with 403 before anything is dialed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ROOT, ServerPorts, ServerProcess
from tests.support.sipp import free_media_port, free_udp_port, scenario_path
from tests.support.softphone import Softphone
from tests.test_agents_e2e import agent_tone, channel_rms, kinds
from tests.test_call_control_e2e import call_in, post, start_phones

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=7390, websocket=10389, http=10381, mqtt=4384, control=10392,
                    worker_sip_base=10600, rtp_base=64600, speech=2813)

SALES_FLOW = """\
# Dial 300: straight into the sales queue (the transfer target of these tests).
flow: sales_queue
start: answer
nodes:
  answer:
    type: answer
    next: queue
  queue:
    type: queue
    queue: sales
    skills: [sales]
    hold_prompt: moh.wav
    max_wait_s: 20
    timeout: bye
  bye:
    type: hangup
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("transfer_targets")
    flows = work / "flows"
    flows.mkdir()
    shutil.copy(ROOT / "tests" / "fixtures" / "queue_flows" / "support_queue.yaml",
                flows / "support_queue.yaml")
    (flows / "sales_queue.yaml").write_text(SALES_FLOW)
    server = ServerProcess(work, workers=2, ports=PORTS, overrides={
        "paths": {"flows": str(flows)},
        "entry_points": {"200": "support_queue", "300": "sales_queue"},
        "routing": {"ring_timeout_s": 6},
    }).start()
    try:
        yield server
    finally:
        assert server.stop() == 0, server.tail()


def add_agent(server: ServerProcess, name: str, skills: dict[str, int],
              team: str | None = None) -> None:
    status, body = server.request("POST", "/agents", {
        "name": name, "password": f"{name}-pw-1", "skills": skills, "team": team})
    assert status == 201, body


async def test_transfer_to_a_queue_reaches_an_agent_with_its_skills(
    server: ServerProcess, tmp_path: Path
) -> None:
    add_agent(server, "alice", {"support": 5}, team="Front")
    add_agent(server, "bob", {"sales": 5}, team="Sales")
    tone = agent_tone(tmp_path / "agent.wav")
    phones = {name: Softphone(tmp_path / name, name, f"{name}-pw-1", "127.0.0.1", PORTS.sip,
                              audio_file=tone) for name in ("alice", "bob")}
    try:
        await start_phones(phones)
        server.request("PUT", "/agents/alice/state", {"state": "available"})
        server.request("PUT", "/agents/bob/state", {"state": "available"})
        caller, call_id = await call_in(server, tmp_path, seconds=40)
        await phones["alice"].wait_event("CALL_ESTABLISHED", timeout=10)
        base = f"/calls/{call_id}"
        # Wrong bodies and unknown targets change nothing.
        for body in ({}, {"queue": "sales", "to": "bob"}, {"queue": ""}, {"queue": 7},
                     {"desk": "sales"}):
            status, answer = await post(server, f"{base}/transfer", body)
            assert status == 400 and answer["error"] == "invalid-request", (body, answer)
        status, answer = await post(server, f"{base}/transfer", {"queue": "nowhere"})
        assert status == 404 and answer["error"] == "no-such-queue", answer
        status, answer = await post(server, f"{base}/transfer", {"number": "+4930123456"})
        assert status == 403 and answer["error"] == "destination-not-allowed", answer
        status, answer = await post(server, "/calls/nosuchcall/transfer", {"queue": "sales"})
        assert status == 409 and answer["error"] == "not-connected", answer
        await asyncio.sleep(1.0)

        status, answer = await post(server, f"{base}/transfer", {"queue": "sales"})
        assert status == 200 and answer["skills"] == ["sales"], answer
        await phones["alice"].wait_event("CALL_CLOSED", timeout=10)
        await phones["bob"].wait_event("CALL_ESTABLISHED", timeout=10)
        assert server.get("/agents/alice/state")["state"] == "available"
        await asyncio.sleep(1.5)
        await phones["bob"].hangup()
        assert (await caller).ok
    finally:
        for phone in phones.values():
            await phone.stop()

    def recorded() -> dict[str, Any] | None:
        found = server.call(call_id)
        return found if kinds(found).count("recording.completed") == 2 else None

    final = await asyncio.to_thread(server.wait_for, recorded, 15)
    timeline = final["timeline"]
    order = [k for k in kinds(final) if k in (
        "interaction.assigned", "call.bridged", "call.transfer_started", "call.transferred")]
    assert order == ["interaction.assigned", "call.bridged", "call.transfer_started",
                     "call.transferred", "interaction.assigned", "call.bridged"], order
    moved = [e["data"] for e in timeline if e["kind"] == "call.transferred"]
    assert moved == [{"from": "alice", "to": "sales", "kind": "queue", "queue": "sales",
                      "skills": ["sales"], "by": "api"}]
    assert len({e["interaction_id"] for e in timeline}) == 1, "one interaction throughout"
    with sqlite3.connect(server.db_path) as db:  # interaction-level events: not per call
        queued = [json.loads(data)["queue"] for (data,) in db.execute(
            "SELECT data FROM call_events WHERE interaction_id = ? AND kind = ? ORDER BY id",
            (final["interaction_id"], "interaction.queued"))]
    assert queued == ["support", "sales"], "the same interaction queued again"
    recordings = [e["data"] for e in timeline if e["kind"] == "recording.completed"]
    assert [r["agents"] for r in recordings] == [["alice"], ["bob"]]
    assert recordings[0]["path"] != recordings[1]["path"]
    for recording in recordings:
        left, right = channel_rms(Path(recording["path"]))
        assert left > 300 and right > 300, (recording["path"], left, right)

    # Teams are shown where supervisors group agents.
    rows = {a["name"]: a for a in server.get("/wallboard")["agents"]}
    assert (rows["alice"]["team"], rows["bob"]["team"]) == ("Front", "Sales")
    listed = {a["name"]: a["team"] for a in server.get("/agents")["items"]}
    assert listed["alice"] == "Front"


async def customer_uas(port: int) -> asyncio.subprocess.Process:
    """The outside party: answers one INVITE, echoes the audio, waits for the BYE."""
    return await asyncio.create_subprocess_exec(
        "sipp", "-sf", str(scenario_path("edge_uas.xml")), "-i", "127.0.0.1", "-p", str(port),
        "-mi", "127.0.0.1", "-mp", str(free_media_port()), "-m", "1", "-nostdin", "-nd",
        "-rtp_echo", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_transfer_to_an_allowed_outside_uri(server: ServerProcess,
                                                  tmp_path: Path) -> None:
    add_agent(server, "carol", {"support": 5})
    carol = Softphone(tmp_path / "carol", "carol", "carol-pw-1", "127.0.0.1", PORTS.sip,
                      audio_file=agent_tone(tmp_path / "agent.wav"))
    port = free_udp_port()
    outside = await customer_uas(port)
    uri = f"sip:desk@127.0.0.1:{port}"
    try:
        await start_phones({"carol": carol})
        server.request("PUT", "/agents/carol/state", {"state": "available"})
        caller, call_id = await call_in(server, tmp_path, seconds=9)
        await carol.wait_event("CALL_ESTABLISHED", timeout=10)
        base = f"/calls/{call_id}"
        for refused in ("sip:desk@evil.example.com", f"{uri};maddr=192.0.2.1"):
            status, answer = await post(server, f"{base}/transfer", {"uri": refused})
            assert status == 403 and answer["error"] == "destination-not-allowed", answer
        await asyncio.sleep(1.0)
        status, answer = await post(server, f"{base}/transfer", {"uri": uri})
        assert status == 200 and answer["kind"] == "external", answer
        await carol.wait_event("CALL_CLOSED", timeout=10)
        assert server.get("/agents/carol/state")["state"] == "available"
        status, answer = await post(server, f"{base}/hold/start")
        assert status == 409 and answer["error"] == "not-connected", answer
        assert (await caller).ok  # the caller hangs up (recv timeout), the outside leg too
        assert await asyncio.wait_for(outside.wait(), 10) == 0
    finally:
        await carol.stop()
        if outside.returncode is None:
            outside.kill()
            with contextlib.suppress(Exception):
                await outside.wait()

    def recorded() -> dict[str, Any] | None:
        found = server.call(call_id)
        return found if "recording.completed" in kinds(found) else None

    final = await asyncio.to_thread(server.wait_for, recorded, 15)
    timeline = final["timeline"]
    started, moved = ([e["data"] for e in timeline if e["kind"] == kind]
                      for kind in ("call.transfer_started", "call.transferred"))
    assert [s["kind"] for s in started] == ["external"]
    assert moved[0]["kind"] == "external" and moved[0]["to"] == uri and moved[0]["from"] == "carol"
    (recording,) = [e["data"] for e in timeline if e["kind"] == "recording.completed"]
    assert recording["agents"] == ["carol"] and recording["outside"] == uri
    left, right = channel_rms(Path(recording["path"]))
    assert left > 300 and right > 300, (left, right)


def test_agents_team_and_skills_are_changed_through_the_api(server: ServerProcess) -> None:
    status, body = server.request("POST", "/agents", {"name": "dora", "password": "dora-pw-1",
                                                      "skills": {"support": 2}, "team": 5})
    assert status == 400 and body["error"] == "invalid-request", body
    status, body = server.request("POST", "/agents", {"name": "dora", "password": "dora-pw-1",
                                                      "skills": {"support": 2},
                                                      "team": "/nope"})
    assert status == 400 and "team" in body["message"], body
    add_agent(server, "dora", {"support": 2}, team="Night shift")
    assert server.get("/agents/dora")["team"] == "Night shift"
    for wrong in ({}, {"password": "x"}, {"team": 3}, {"skills": ["sales"]},
                  {"skills": {"sales": 11}}, {"display_name": 4}):
        status, body = server.request("PATCH", "/agents/dora", wrong)
        assert status == 400 and body["error"] == "invalid-request", (wrong, body)
    status, body = server.request("PATCH", "/agents/nobody", {"team": "A"})
    assert status == 404 and body["error"] == "no-such-agent", body
    server.request("PUT", "/agents/dora/state", {"state": "away", "reason": "lunch"})
    status, body = server.request("PATCH", "/agents/dora", {"team": "Day",
                                                            "skills": {"sales": 4}})
    assert status == 200 and (body["team"], body["skills"]) == ("Day", {"sales": 4}), body
    state = server.get("/agents/dora/state")
    assert (state["skills"], state["team"], state["state"], state["reason"]) == (
        {"sales": 4}, "Day", "away", "lunch"), state
    status, body = server.request("PATCH", "/agents/dora", {"team": None})
    assert status == 200 and body["team"] is None and body["skills"] == {"sales": 4}, body
    token = server.add_user("sam", "supervisor", "sam-password-1")
    status, body = server.request("PATCH", "/agents/dora", {"team": "Day"}, token=token)
    assert status == 200, body
    agent_token = server.login("dora", "dora-pw-1")
    status, body = server.request("PATCH", "/agents/dora", {"team": "Mine"}, token=agent_token)
    assert status == 403, body
