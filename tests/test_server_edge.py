"""The SIP edge as the whole server runs it: agents from the store, bad SIP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import ROOT, ServerProcess
from tests.support.sipp import SippRun, free_udp_port
from tests.support.softphone import Softphone, SoftphoneError

pytestmark = pytest.mark.sip


def add_agent(server: ServerProcess, name: str, password: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "voicecenter", "--config", str(server.config_path), "agents",
         "add", name, "--password", password, "--skills", "sales:5"],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


async def test_agent_from_the_cli_registers_and_a_wrong_password_is_refused(
    server: ServerProcess, tmp_path: Path
) -> None:
    add_agent(server, "carol", "c4r0l-pass")
    good = Softphone(tmp_path / "good", "carol", "c4r0l-pass", "127.0.0.1", server.ports.sip)
    bad = Softphone(tmp_path / "bad", "carol", "wrong-pass", "127.0.0.1", server.ports.sip)
    try:
        await good.start()
        assert (await good.wait_registered())["param"].startswith("200")
        await bad.start()
        with pytest.raises(SoftphoneError):
            await bad.wait_registered()
    finally:
        await good.stop()
        await bad.stop()
    # Removing the agent removes its credentials at once.
    status, _ = server.request("DELETE", "/agents/carol")
    assert status == 204
    again = Softphone(tmp_path / "again", "carol", "c4r0l-pass", "127.0.0.1", server.ports.sip)
    try:
        await again.start()
        with pytest.raises(SoftphoneError):
            await again.wait_registered()
    finally:
        await again.stop()


def test_malformed_sip_gets_4xx_or_is_dropped_and_service_goes_on(
    server: ServerProcess, digits_pcap: Path, tmp_path: Path
) -> None:
    port = free_udp_port()
    malformed = subprocess.run(
        ["sipp", "-sf", str(ROOT / "tests" / "sipp" / "edge_malformed.xml"), "-s", "100",
         "-i", "127.0.0.1", "-p", str(port), "-m", "1", "-l", "1", "-nostdin", "-nd",
         "-recv_timeout", "3000", "-timeout", "30s", "-trace_err",
         "-error_file", str(tmp_path / "malformed.err"), server.sip_target],
        capture_output=True, text=True, timeout=60,
    )
    errors = (tmp_path / "malformed.err").read_text() if (tmp_path / "malformed.err").exists() \
        else malformed.stdout[-2000:]
    assert malformed.returncode == 0, errors
    # A bad worker-protocol line or SIP message must not have cost a worker.
    health = server.get("/health")
    assert all(w["ready"] for w in health["workers"])
    result = SippRun("uac_digits.xml", server.sip_target, pcap=digits_pcap,
                     recv_timeout_ms=20000, timeout_s=40).run()
    assert result.ok, result.describe()


def test_api_errors_are_json_with_a_stable_id(server: ServerProcess) -> None:
    status, body = server.request("GET", "/calls/does-not-exist")
    assert status == 404 and body["error"] == "no-such-call"
    status, body = server.request("GET", "/calls?limit=abc")
    assert status == 400 and body["error"] == "invalid-request"
    status, body = server.request("POST", "/agents", {"name": "dave"})
    assert status == 400 and "password" in body["message"]
    status, body = server.request("POST", "/agents", {"name": "dave", "password": "d4ve-pass",
                                                      "skills": {"sales": 99}})
    assert status == 400
    status, body = server.request("POST", "/agents", {"name": "dave", "password": "d4ve-pass",
                                                      "skills": {"sales": 4}})
    assert status == 201 and body["skills"] == {"sales": 4}
    status, body = server.request("POST", "/agents", {"name": "dave", "password": "d4ve-pass"})
    assert status == 409 and body["error"] == "agent-exists"
    status, body = server.request("POST", "/agents/dave/wrap_up", {"disposition": "sale"})
    assert status == 409 and body["error"] == "not-in-wrap-up"
    status, body = server.request("POST", "/agents/nobody/wrap_up", {})
    assert status == 404 and body["error"] == "no-such-agent"
    status, body = server.request("POST", "/agents/dave/wrap_up", {"notes": 5})
    assert status == 400
    status, body = server.request("GET", "/nowhere")
    assert status == 404 and body["error"] == "not-found"


def test_openapi_documents_every_route(server: ServerProcess) -> None:
    document = server.get("/openapi.json")
    assert document["openapi"].startswith("3.")
    from voicecenter.api.app import create_app

    app = create_app(None)  # type: ignore[arg-type]
    routes = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
              if r.method != "HEAD"}
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert routes == documented
