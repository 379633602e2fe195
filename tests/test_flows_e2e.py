"""The sample main line and hot reload through the real stack: SIPp -> Kamailio ->
pjsua2 workers -> flow engine -> store.

Callers type ahead (all digits early, as RFC 2833 in one pcap), so barge-in
prompts stop at once and every call also shows the welcome prompt being
skipped. The same inputs through `flows simulate` must take the same path.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import voicecenter.server
from tests.support.rtp_pcap import write_rtp_pcap
from tests.support.server import ServerPorts, ServerProcess
from tests.support.sipp import SippRun, can_play_pcap
from voicecenter.flows.backends import MemoryFlowStore
from voicecenter.flows.loader import load_flows
from voicecenter.flows.simulate import simulate
from voicecenter.settings import Settings

pytestmark = pytest.mark.sip

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "voicecenter" / "store" / "migrations" / "versions"
PORTS = ServerPorts(sip=5390, websocket=8389, http=8381, mqtt=2184, control=8392,
                    worker_sip_base=6400, rtp_base=36000)
# The demo customers migration 0002 seeds (their PINs, for simulate's copy).
DEMO = [
    {"account": "100001", "pin": "1234", "name": "Ada Lovelace", "segment": "standard",
     "language": "en"},
    {"account": "100002", "pin": "4321", "name": "Grace Hopper", "segment": "vip",
     "language": "en"},
    {"account": "100003", "pin": "5555", "name": "Marta Lopez", "segment": "standard",
     "language": "es"},
    {"account": "100004", "pin": "2468", "name": "Alan Turing", "segment": "standard",
     "language": "en"},
]
RELOAD_V1 = """
flow: reload_demo
start: answer
nodes:
  answer: {type: answer, next: hello_v1}
  hello_v1:
    type: play
    prompt: This is the first version of the reload demo. It speaks for a few seconds.
    next: bye
  bye: {type: hangup}
"""


def _wired() -> str | None:
    if "FlowRuntime" not in inspect.getsource(voicecenter.server):
        return "serve does not run flows through FlowRuntime yet (see docs/flows.md)"
    if not list(MIGRATIONS.glob("0002_*.py")):
        return "store migration 0002 (customers, flow_versions) is not installed"
    return None


@pytest.fixture(scope="module")
def flow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    why = _wired()
    if why:
        pytest.skip(why)
    if not can_play_pcap():
        pytest.fail("SIPp needs root or CAP_NET_RAW to play RTP")
    workdir = tmp_path_factory.mktemp("flows-server")
    flows = workdir / "flows"
    shutil.copytree(ROOT / "ivr_flows", flows)
    (flows / "reload_demo.yaml").write_text(RELOAD_V1)
    overrides: dict[str, Any] = {
        "paths": {"flows": str(flows)},
        "entry_points": {"100": "digits_demo", "1000": "main_line", "200": "reload_demo"},
    }
    if "speech" in Settings.model_fields:  # DTMF menus here; speech has its own tests
        overrides["speech"] = {"enabled": False}
    proc = ServerProcess(workdir, workers=4, ports=PORTS, overrides=overrides)
    proc.start(timeout_s=60)
    try:
        yield proc
    finally:
        code = proc.stop()
        assert code == 0, f"serve exited {code}:\n{proc.tail()}"


def query(server: ServerProcess, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(server.db_path) as db:
        return db.execute(sql, args).fetchall()


def finished(server: ServerProcess, call_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        call = server.call(call_id)
        ended = call["state"] == "ended"
        return call if ended and any(e["kind"] == "flow.ended" for e in call["timeline"]) \
            else None
    return server.wait_for(done, timeout_s=20)


def steps(call: dict[str, Any]) -> list[str]:
    return [e["data"]["node"] for e in call["timeline"] if e["kind"] == "flow.step"]


def of_kind(call: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in call["timeline"] if e["kind"] == kind]


CALLERS = {
    # name: digits typed (all ahead of the prompts)
    "support": "1" "100001" "1234" "2" "#",
    "sales": "1" "100001" "1234" "1" "#",
    "billing_es": "2" "100003" "5555" "3" "#",
    "vip": "1" "100002" "4321" "#",
    "locked": "1" "100004" "0000" "100004" "1111" "100004" "2222",
}


async def _call(server: ServerProcess, pcap: Path) -> Any:
    return await SippRun("uac_digits.xml", server.sip_target, service="1000", pcap=pcap,
                         recv_timeout_ms=45000, timeout_s=90).run_async()


def test_main_line_paths_through_sip(flow_server: ServerProcess, tmp_path: Path) -> None:
    server = flow_server
    pcaps = {}
    for name, digits in CALLERS.items():
        pcaps[name] = tmp_path / f"{name}.pcap"
        write_rtp_pcap(pcaps[name], digits, lead_ms=1200, digit_ms=100, gap_ms=120,
                       tail_ms=400)
    before = {c["id"] for c in server.calls(500)}

    async def place_all() -> list[Any]:
        results = []
        for name in CALLERS:  # one by one into the server, then all at once in flows
            results.append(asyncio.create_task(_call(server, pcaps[name])))
            await asyncio.sleep(0.4)
        return await asyncio.gather(*results)

    started = time.monotonic()
    results = asyncio.run(place_all())
    for name, result in zip(CALLERS, results, strict=True):
        assert result.ok, f"{name}: {result.describe()}\n{server.tail()}"
    new = sorted((c for c in server.calls(500) if c["id"] not in before),
                 key=lambda c: c["started_at"])
    assert len(new) == len(CALLERS)
    calls = {name: finished(server, summary["id"]) for name, summary in zip(CALLERS, new,
                                                                             strict=True)}
    assert time.monotonic() - started < 80

    for name, call in calls.items():
        assert call["flow"] == "main_line"
        welcome = of_kind(call, "prompt.played")[0]
        assert welcome["reason"] == "barge_in", f"{name}: the typed digit skips the welcome"
        pin_inputs = [i for i in of_kind(call, "flow.input") if i.get("digits") == "***"]
        assert pin_inputs, f"{name}: PINs are masked"
        assert all(CALLERS[name][7:11] not in json.dumps(e) for e in of_kind(call, "flow.input")
                   if e.get("digits") == "***")

    assert steps(calls["support"])[-5:] == ["department_menu", "segment", "queue", "voicemail",
                                            "goodbye"]
    assert "vip_queue" in steps(calls["vip"]) and "department_menu" not in steps(calls["vip"])
    assert steps(calls["locked"])[-2:] == ["authenticate", "locked"]
    assert of_kind(calls["locked"], "customer.locked_out")[0]["account"] == "100004"
    assert query(server, "SELECT locked_until IS NOT NULL FROM customers WHERE account=?",
                 "100004") == [(1,)]

    for name, department, segment, language in (
            ("support", "support", "standard", "en"), ("sales", "sales", "standard", "en"),
            ("billing_es", "billing", "standard", "es"), ("vip", "priority", "vip", "en")):
        call = calls[name]
        ((attached,),) = query(server, "SELECT attached FROM interactions WHERE id=?",
                               call["interaction_id"])
        attached = json.loads(attached)
        assert attached["segment"] == segment and attached["language"] == language, name
        assert attached["department"] == department, name
        skills = ["vip", f"language_{language}"] if name == "vip" else \
            [department, f"language_{language}"]
        assert attached["skills"] == skills, name
        kinds = [k for (k,) in query(
            server, "SELECT kind FROM call_events WHERE interaction_id=? ORDER BY id",
            call["interaction_id"])]
        assert "interaction.queued" in kinds and "interaction.dequeued" in kinds, name

    # The same inputs through simulate take the same path.
    flows, errors = load_flows(server.workdir / "flows")
    assert errors == []
    for name, call in calls.items():
        sim = asyncio.run(simulate(flows["main_line"], flows, {"inputs": [CALLERS[name]]},
                                   ROOT / "sounds", MemoryFlowStore(DEMO),
                                   show=lambda _line: None))
        assert sim.path == steps(call), name


def test_hot_reload_during_a_call(flow_server: ServerProcess) -> None:
    server = flow_server
    flow_file = server.workdir / "flows" / "reload_demo.yaml"

    async def scenario() -> tuple[Any, Any, Any]:
        before = {c["id"] for c in server.calls(500)}
        first = asyncio.create_task(SippRun("uac_prompt.xml", server.sip_target, service="200",
                                            recv_timeout_ms=30000, timeout_s=60).run_async())
        await asyncio.to_thread(server.wait_for, lambda: [
            c for c in server.calls(500) if c["id"] not in before and c["state"] == "answered"])
        flow_file.write_text(RELOAD_V1.replace("hello_v1", "hello_v2")
                             .replace("first version", "second version"))
        await asyncio.to_thread(server.wait_for, lambda: len(query(
            server, "SELECT version FROM flow_versions WHERE flow='reload_demo'")) == 2)
        second = await SippRun("uac_prompt.xml", server.sip_target, service="200",
                               recv_timeout_ms=30000, timeout_s=60).run_async()
        flow_file.write_text(RELOAD_V1.replace("type: play", "type: plya"))
        await asyncio.to_thread(server.wait_for,
                                lambda: "flow edit refused" in server.tail(200))
        third = await SippRun("uac_prompt.xml", server.sip_target, service="200",
                              recv_timeout_ms=30000, timeout_s=60).run_async()
        return await first, second, third

    before = {c["id"] for c in server.calls(500)}
    results = asyncio.run(scenario())
    assert all(r.ok for r in results), [r.describe() for r in results if not r.ok]
    new = sorted((c for c in server.calls(500) if c["id"] not in before),
                 key=lambda c: c["started_at"])
    first, second, third = (finished(server, c["id"]) for c in new)
    versions = [v for (v,) in query(
        server, "SELECT version FROM flow_versions WHERE flow='reload_demo' ORDER BY id")]
    assert len(versions) == 2
    assert steps(first) == ["answer", "hello_v1", "bye"], "the running call kept its version"
    assert of_kind(first, "flow.started")[0]["version"] == versions[0]
    assert steps(second) == ["answer", "hello_v2", "bye"]
    assert of_kind(second, "flow.started")[0]["version"] == versions[1]
    assert steps(third) == steps(second), "the invalid edit was refused"
    assert "unknown type 'plya'" in server.tail(400)
