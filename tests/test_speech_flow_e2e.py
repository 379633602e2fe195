"""A spoken menu written in YAML, through the whole server with its speech service.

SIPp dials 300 (tests/fixtures/listen_flows/listen_menu.yaml) and speaks
espeak-ng Korean into the call; the listen node's branch is the answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.speech_audio import MENUS, OUT_OF_GRAMMAR, speech_pcap
from tests.support.server import ROOT, ServerPorts, ServerProcess
from tests.support.sipp import SippRun

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=5990, websocket=8989, http=8981, mqtt=2884, control=8992,
                    worker_sip_base=7100, rtp_base=47000, speech=2796)
AGENT, BOOKING = MENUS["agent_or_booking"]


@pytest.fixture(scope="module")
def speech_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = ServerProcess(tmp_path_factory.mktemp("speech"), workers=2, ports=PORTS,
                           speech=True, overrides={
                               "paths": {"flows": str(ROOT / "tests" / "fixtures" /
                                                      "listen_flows")},
                               "entry_points": {"300": "listen_menu"}}).start(timeout_s=90)
    try:
        yield server
    finally:
        assert server.stop() == 0, server.tail()


def path_of(server: ServerProcess, pcap: Path) -> tuple[list[str], dict[str, Any]]:
    before = {c["id"] for c in server.calls()}
    result = SippRun("uac_digits.xml", server.sip_target, service="300", pcap=pcap,
                     recv_timeout_ms=20000, timeout_s=40).run()
    assert result.ok, result.describe()
    (summary,) = [c for c in server.calls() if c["id"] not in before]

    def done() -> dict[str, Any] | None:
        call = server.call(summary["id"])
        return call if any(e["kind"] == "flow.ended" for e in call["timeline"]) else None

    call = server.wait_for(done)
    steps = [e["data"]["node"] for e in call["timeline"] if e["kind"] == "flow.step"]
    (heard,) = [e["data"] for e in call["timeline"]
                if e["kind"] == "flow.input" and e["data"]["node"] == "ask"]
    return steps, heard


@pytest.mark.parametrize(("phrase", "branch"), [(AGENT, "agent"), (BOOKING, "booking")])
def test_a_spoken_option_takes_its_branch(speech_server: ServerProcess, tmp_path: Path,
                                          phrase: str, branch: str) -> None:
    steps, heard = path_of(speech_server, speech_pcap(phrase, tmp_path))
    assert steps == ["answer", "ask", "route", branch, "bye"], heard
    assert heard["option"] == branch and heard["confidence"] >= 0.8


def test_speech_outside_the_grammar_is_no_match(speech_server: ServerProcess,
                                                tmp_path: Path) -> None:
    steps, heard = path_of(speech_server, speech_pcap(OUT_OF_GRAMMAR[0], tmp_path))
    assert steps == ["answer", "ask", "no_match", "bye"], heard


def test_speech_over_the_prompt_stops_it(speech_server: ServerProcess, tmp_path: Path) -> None:
    # welcome.wav lasts 6 s; the caller speaks after 0.8 s.
    steps, _ = path_of(speech_server, speech_pcap(AGENT, tmp_path, lead_ms=800))
    assert steps[:4] == ["answer", "ask", "route", "agent"]
    call = speech_server.calls(1)[0]
    timeline = speech_server.call(call["id"])["timeline"]
    (first,) = [e["data"] for e in timeline if e["kind"] == "prompt.played"][:1]
    assert first["files"] == ["welcome.wav"] and first["reason"] == "barge_in"
