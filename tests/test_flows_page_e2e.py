"""The flows page through the real stack: a server with its own flows directory
(one good flow, one broken), SIPp calls into the good flow, headless Chromium
signed in as a supervisor, and edits of the YAML file on disk that hot reload
turns into new live versions.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import chromium
from tests.support.server import ServerPorts, ServerProcess
from tests.support.sipp import SippRun

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=6690, websocket=9689, http=9681, mqtt=3584, control=9692,
                    worker_sip_base=10000, rtp_base=62000, speech=2803)
SUPERVISOR = ("designer", "designer-pass-1")
GOOD = """\
flow: good_flow
description: Answers, greets the caller and hangs up.
start: answer
nodes:
  answer: {type: answer, next: hello}
  hello:
    type: play
    prompt: Hello from the good flow.
    next: bye
  bye: {type: hangup}
"""
GOOD_V2 = GOOD.replace("next: bye\n", "next: thanks\n").replace(
    "  bye: {type: hangup}\n",
    "  thanks:\n    type: play\n    prompt: Thanks for calling.\n    next: bye\n"
    "  bye: {type: hangup}\n")
BROKEN = """\
flow: broken_flow
start: answer
nodes:
  answer: {type: answer, next: greet}
  greet:
    type: play
    prompt: Hi there.
    next: nowhere
"""
BROKEN_LINE = BROKEN.splitlines().index("    next: nowhere") + 1


def version_of(text: str) -> str:
    """What the loader calls a version: a hash of the file's text."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@pytest.fixture(scope="module")
def flows_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    for program in ("kamailio", "sipp", "mosquitto", "dot"):
        if not (shutil.which(program) or Path(f"/usr/sbin/{program}").exists()):
            pytest.fail(f"{program} is missing: run make setup")
    workdir = tmp_path_factory.mktemp("flows-page")
    flows = workdir / "flows"
    flows.mkdir()
    (flows / "good_flow.yaml").write_text(GOOD)
    (flows / "broken_flow.yaml").write_text(BROKEN)
    proc = ServerProcess(workdir, workers=2, ports=PORTS, overrides={
        "paths": {"flows": str(flows)},
        # rtpengine (for browser softphones) on ports of this module's own block.
        "sip": {"rtpengine_ng_port": 9695, "rtpengine_port_min": 62600,
                "rtpengine_port_max": 62699},
        "entry_points": {"300": "good_flow", "301": "broken_flow"}})
    proc.start(timeout_s=60)
    try:
        yield proc
    finally:
        code = proc.stop()
        assert code == 0, f"serve exited {code}:\n{proc.tail()}"


@pytest.fixture(scope="module")
def supervisor_token(flows_server: ServerProcess) -> str:
    return flows_server.add_user(SUPERVISOR[0], "supervisor", SUPERVISOR[1])


def call_good_flow(server: ServerProcess) -> dict[str, Any]:
    """One SIPp call to 300; the stored call once its flow has ended."""
    before = {c["id"] for c in server.calls(200)}
    result = SippRun("uac_prompt.xml", server.sip_target, service="300",
                     recv_timeout_ms=20000, timeout_s=40).run()
    assert result.ok, f"{result.describe()}\n{server.tail()}"
    (new,) = [c for c in server.calls(200) if c["id"] not in before]

    def ended() -> dict[str, Any] | None:
        call = server.call(new["id"])
        return call if any(e["kind"] == "flow.ended" for e in call["timeline"]) else None
    return server.wait_for(ended, timeout_s=15)


def test_bad_names_and_roles(flows_server: ServerProcess, supervisor_token: str) -> None:
    server = flows_server
    for raw in ("..%2F..%2Fetc%2Fpasswd", "%2E%2E", ".hidden", "bad%20name",
                "a%00b", "x" * 200):
        status, body = server.request("GET", f"/flows/{raw}", token=supervisor_token)
        assert status in (400, 404), (raw, status, body)
        assert body["error"] in ("invalid-request", "no-such-flow", "not-found"), body
        assert "root:" not in str(body)
    status, body = server.request("GET", "/flows/bad%20name", token=supervisor_token)
    assert status == 400 and "flow name" in body["message"]
    status, body = server.request("GET", "/flows/no_such_flow/graph.svg", token=supervisor_token)
    assert (status, body["error"]) == (404, "no-such-flow")
    for query in ("limit=0", "limit=abc", "limit=501", "version=..%2Fx"):
        status, body = server.request("GET", f"/flows/good_flow/calls?{query}",
                                      token=supervisor_token)
        assert status == 400, (query, body)
    status, body = server.request("GET", "/flows/broken_flow/graph.svg",
                                  token=supervisor_token)
    assert (status, body["error"]) == (409, "flow-not-loaded")
    # Read only, and only for supervisors and admins.
    status, _ = server.request("GET", "/flows", token="")
    assert status == 401
    qa = server.add_user("reviewer", "qa", "reviewer-pass-1")
    status, body = server.request("GET", "/flows", token=qa)
    assert (status, body["error"]) == (403, "forbidden")
    status, _ = server.request("PUT", "/flows/good_flow", {"source": "x"},
                               token=supervisor_token)
    assert status == 405


def test_api_lists_flows_with_status_and_findings(flows_server: ServerProcess,
                                                   supervisor_token: str) -> None:
    server = flows_server
    items = {f["name"]: f for f in server.get("/flows", token=supervisor_token)["items"]}
    good, broken = items["good_flow"], items["broken_flow"]
    assert good["status"] == "ok" and good["entry_points"] == ["300"]
    assert good["live"]["version"] == version_of(GOOD) and good["live"]["loaded_at"]
    assert broken["status"] == "error" and broken["live"] is None and broken["errors"] >= 1
    detail = server.get("/flows/broken_flow", token=supervisor_token)
    wheres = [f["where"] for f in detail["findings"]]
    assert f"broken_flow.yaml:{BROKEN_LINE}" in wheres, detail["findings"]
    assert detail["source"] == BROKEN


def test_page_graph_errors_calls_and_hot_reload(flows_server: ServerProcess,
                                                supervisor_token: str) -> None:
    server = flows_server
    flow_file = server.workdir / "flows" / "good_flow.yaml"
    v1, v2 = version_of(GOOD), version_of(GOOD_V2)
    first = call_good_flow(server)
    started = [e["data"] for e in first["timeline"] if e["kind"] == "flow.started"]
    assert started == [{"flow": "good_flow", "version": v1}]

    with chromium() as browser:
        page = browser.new_page()
        # Not signed in: the page sends the browser to the login page, which comes back.
        page.goto(f"{server.http_url}/ui/flows/")
        page.wait_for_url("**/ui/login/**", timeout=10000)
        page.fill("#name", SUPERVISOR[0])
        page.fill("#password", SUPERVISOR[1])
        page.click("#submit")
        page.wait_for_url("**/ui/flows/**", timeout=10000)
        page.click('#flow-list a:text-is("good_flow")', timeout=10000)

        # The graph: one SVG node per flow node (Graphviz titles are the node ids).
        page.wait_for_selector("#graph svg g.node", timeout=10000)
        titles = set(page.locator("#graph svg g.node > title").all_text_contents())
        assert titles == {"start", "answer", "hello", "bye"}
        assert page.get_attribute("#live-version", "data-version") == v1
        assert page.locator('#flow-list tr[data-flow="good_flow"]').get_attribute(
            "data-status") == "ok"
        assert page.locator('#flow-list tr[data-flow="broken_flow"]').get_attribute(
            "data-status") == "error"

        # The call that ran it, under its version.
        row = page.locator(f'#calls tr[data-call-id="{first["id"]}"]')
        row.wait_for(timeout=10000)
        assert row.get_attribute("data-version") == v1
        assert row.locator(".outcome").text_content() == "completed"

        # The broken flow's error, with file:line, and no graph.
        page.click('#flow-list a:text-is("broken_flow")')
        where = f"broken_flow.yaml:{BROKEN_LINE}"
        finding = page.locator(f'#findings li[data-where="{where}"]')
        finding.wait_for(timeout=10000)
        assert "unknown node 'nowhere'" in finding.text_content()
        assert page.locator("#graph svg").count() == 0
        assert "next: nowhere" in page.locator(f"#line-{BROKEN_LINE}").text_content()

        # Edit the good flow on disk: hot reload makes a new live version, and the page
        # follows it (version, graph) without a reload.
        page.click('#flow-list a:text-is("good_flow")')
        page.wait_for_selector(f'#live-version[data-version="{v1}"]', timeout=10000)
        flow_file.write_text(GOOD_V2)
        page.wait_for_selector(f'#live-version[data-version="{v2}"]', timeout=15000)
        page.wait_for_selector(f'#graph svg[data-version="{v2}"]', timeout=10000)
        titles = set(page.locator("#graph svg g.node > title").all_text_contents())
        assert "thanks" in titles
        assert page.locator("#versions tbody tr").count() == 2

        second = call_good_flow(server)
        page.locator(f'#calls tr[data-call-id="{second["id"]}"][data-version="{v2}"]').wait_for(
            timeout=10000)
        assert page.locator(f'#calls tr[data-call-id="{first["id"]}"]').get_attribute(
            "data-version") == v1

        # A broken edit is refused: the page says so with file:line, v2 keeps running.
        flow_file.write_text(GOOD_V2.replace("next: thanks", "next: thank"))
        page.wait_for_selector('#flow-status [data-status="refused"]', timeout=15000)
        line = GOOD_V2.splitlines().index("    next: thanks") + 1
        refused = page.locator(f'#findings li[data-where="good_flow.yaml:{line}"]')
        assert "unknown node 'thank'" in refused.text_content()
        assert page.get_attribute("#live-version", "data-version") == v2
        assert page.locator("#pending").is_visible()
        page.close()

    runs = server.get("/flows/good_flow/calls?limit=10", token=supervisor_token)["items"]
    assert [(r["call_id"], r["version"]) for r in runs] == [(second["id"], v2), (first["id"], v1)]
    only_v1 = server.get(f"/flows/good_flow/calls?version={v1}", token=supervisor_token)
    assert [r["call_id"] for r in only_v1["items"]] == [first["id"]]
    versions = server.get("/flows/good_flow", token=supervisor_token)["versions"]
    assert [(v["version"], v["runs"], v["live"]) for v in versions] == [(v1, 1, False),
                                                                       (v2, 1, True)]
