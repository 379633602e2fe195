"""An agent takes a queued call in the browser softphone page, audio both ways.

Headless Chromium opens /ui/softphone/, logs in as the agent, gets the edge's
WebSocket URL from /softphone/config and registers with JsSIP; its fake
microphone plays a 600 Hz tone. A SIPp caller (400 Hz) dials the support
queue, the router rings the browser through Kamailio and rtpengine, the page
answers with a click. Both sides must be heard: the caller's and the agent's
channels of the call's stereo recording carry energy, and the page's own
RTP statistics show audio arriving. Closing the page takes the registration
with it, so the next offer finds no phone and the agent goes away instead of
ringing nothing while the caller keeps their place.
"""

from __future__ import annotations

import array
import asyncio
import math
import os
import shutil
import signal
import socket
import subprocess
import wave
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import chromium
from tests.support.rtp_pcap import tone_pcm, write_rtp_pcap
from tests.support.server import ROOT, ServerPorts, ServerProcess
from tests.support.sipp import SippResult, SippRun
from voicecenter.edge import WorkerTarget, render_kamailio
from voicecenter.edge.kamailio_config import rpc_socket_path
from voicecenter.edge.rpc import KamailioRpc
from voicecenter.edge.rtpengine import RtpEngine, ng_ping
from voicecenter.settings import Settings

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=6190, websocket=9189, http=9181, mqtt=3084, control=9192,
                    worker_sip_base=9500, rtp_base=54000, speech=2798)
RTPENGINE = {"browsers": True, "rtpengine_ng_port": 22290, "rtpengine_port_min": 56000,
             "rtpengine_port_max": 56180}
# The supervisor test's own rtpengine, beside the server's.
LONE_RTPENGINE = {"rtpengine_ng_port": 22291, "rtpengine_port_min": 56190,
                  "rtpengine_port_max": 56200}
AGENT, PASSWORD = "wanda", "wanda-pw-1"
TLS_MODULE = "/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so"
VENDOR_JSSIP = ROOT / "voicecenter" / "web" / "vendor" / "jssip.min.js"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if not VENDOR_JSSIP.exists():
        pytest.fail(f"{VENDOR_JSSIP} is missing: run `make setup`")
    work = tmp_path_factory.mktemp("softphone")
    flows = work / "flows"  # the support queue (200) and the digits demo (100)
    flows.mkdir()
    for source in (ROOT / "tests" / "fixtures" / "queue_flows" / "support_queue.yaml",
                   ROOT / "ivr_flows" / "digits_demo.yaml"):
        shutil.copy(source, flows / source.name)
    running = ServerProcess(work, workers=2, ports=PORTS, overrides={
        "sip": RTPENGINE,
        "paths": {"flows": str(flows)},
        "entry_points": {"200": "support_queue", "100": "digits_demo"},
        "routing": {"ring_timeout_s": 10, "max_misses": 2, "missed_retry_after": 0},
    }).start(timeout_s=60)
    try:
        yield running
    finally:
        assert running.stop() == 0, running.tail()


def channel_rms(path: Path) -> tuple[float, float]:
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2
        samples = array.array("h", wav.readframes(wav.getnframes()))
    left, right = samples[0::2], samples[1::2]
    return (math.sqrt(sum(x * x for x in left) / max(len(left), 1)),
            math.sqrt(sum(x * x for x in right) / max(len(right), 1)))


def timeline(server: ServerProcess, call_id: str) -> list[dict[str, Any]]:
    return server.call(call_id)["timeline"]


def kinds(server: ServerProcess, call_id: str) -> list[str]:
    return [event["kind"] for event in timeline(server, call_id)]


def new_inbound_call(server: ServerProcess, before: set[str]) -> str:
    found = server.wait_for(lambda: [c for c in server.calls()
                                     if c["id"] not in before and c["direction"] == "inbound"])
    return str(found[0]["id"])


def registered_contacts(server: ServerProcess, agent: str) -> int:
    """How many contacts the edge's registrar holds for the agent (Kamailio's ul.dump)."""
    rpc = KamailioRpc(rpc_socket_path(server.workdir / "var" / "kamailio"))
    # Playwright's sync API keeps an event loop on this thread: ask from another.
    with ThreadPoolExecutor(1) as thread:
        dump = thread.submit(asyncio.run, rpc.call("ul.dump")).result()
    return sum(len(record["Info"]["Contacts"] or [])
               for domain in dump["Domains"] for record in domain["Domain"]["AoRs"] or []
               if record["Info"]["AoR"] == agent)


def rtpengine_calls() -> bytes:
    """rtpengine's own list of the calls it relays (ng "list"), as its bencoded answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(b"vc1 d7:command4:liste", ("127.0.0.1", RTPENGINE["rtpengine_ng_port"]))
        answer = sock.recv(65535)
    assert answer.startswith(b"vc1 ") and b"6:result2:ok" in answer, answer
    return answer[4:]


def caller(tmp_path: Path, name: str, seconds: int, pool: ThreadPoolExecutor,
           server: ServerProcess, recv_timeout_ms: int) -> Future[SippResult]:
    pcap = tmp_path / f"{name}.pcap"
    write_rtp_pcap(pcap, "", lead_ms=seconds * 1000, tail_ms=0,
                   audio=tone_pcm(400, seconds * 1000))
    run = SippRun("uac_digits.xml", server.sip_target, service="200", pcap=pcap,
                  recv_timeout_ms=recv_timeout_ms, timeout_s=seconds + 20,
                  workdir=tmp_path / name)
    (tmp_path / name).mkdir()
    return pool.submit(run.run)


def test_browser_agent_answers_a_queued_call_and_both_sides_are_heard(
    server: ServerProcess, tmp_path: Path
) -> None:
    status, body = server.request("POST", "/agents", {
        "name": AGENT, "password": PASSWORD, "skills": {"support": 5}})
    assert status == 201, body
    tone = tmp_path / "agent.wav"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(tone), "synth",
                    "60", "sine", "600", "vol", "0.4"], check=True)

    with chromium(fake_audio=tone) as browser, ThreadPoolExecutor(2) as pool:
        page = browser.new_page()
        page.on("pageerror", lambda exc: print("page error:", exc))
        page.goto(f"{server.http_url}/ui/softphone/")
        page.fill("#name", AGENT)
        page.fill("#password", PASSWORD)
        page.click("#register")
        page.wait_for_selector("#status[data-state=registered]", timeout=10000)
        assert page.input_value("#ws-url") == f"ws://127.0.0.1:{PORTS.websocket}/ws"
        assert registered_contacts(server, AGENT) == 1

        status, body = server.request("PUT", f"/agents/{AGENT}/state", {"state": "available"})
        assert status == 200, body
        before = {c["id"] for c in server.calls()}
        first = caller(tmp_path, "first", 40, pool, server, recv_timeout_ms=40000)
        call_id = new_inbound_call(server, before)

        page.wait_for_selector("#call-state[data-state=incoming]", timeout=15000)
        assert "Incoming call" in page.inner_text("#call-state")
        page.click("#answer")
        page.wait_for_selector("#call-state[data-state=connected]", timeout=10000)
        server.wait_for(lambda: "call.bridged" in kinds(server, call_id), 10)
        assert server.get(f"/agents/{AGENT}/state")["state"] == "busy"
        # The caller's tone reaches the browser: packets and audio energy arrive.
        page.wait_for_function(
            "() => Number(document.getElementById('call-state').dataset.audioEnergyReceived"
            " || 0) > 0.01 && Number(document.getElementById('call-state').dataset"
            ".packetsReceived || 0) > 100", timeout=10000)
        # Hold and resume are re-INVITEs through rtpengine; audio flows again after.
        page.click("#hold")
        page.wait_for_selector("#call-state[data-state=held]", timeout=5000)
        page.click("#unhold")
        page.wait_for_selector("#call-state[data-state=connected]", timeout=5000)
        resumed_at = int(page.get_attribute("#call-state", "data-packets-received") or 0)
        page.wait_for_function(
            f"() => Number(document.getElementById('call-state').dataset.packetsReceived)"
            f" > {resumed_at + 50}", timeout=5000)
        page.click("#hangup")
        page.wait_for_selector("#call-state[data-state=idle]", timeout=10000)
        result = first.result(timeout=30)
        assert result.ok, result.describe()
        # The BYE freed the call's media relay.
        server.wait_for(lambda: b"5:callsle" in rtpengine_calls(), 5)

        def recorded() -> dict[str, Any] | None:
            for event in timeline(server, call_id):
                if event["kind"] == "recording.completed":
                    return event["data"]  # type: ignore[no-any-return]
            return None

        recording = server.wait_for(recorded, 15)
        assert recording["agents"] == [AGENT]
        left, right = channel_rms(Path(recording["path"]))
        assert left > 300, f"the caller's channel is silent ({left:.0f})"
        assert right > 300, f"the browser agent's channel is silent ({right:.0f})"
        server.wait_for(
            lambda: server.get(f"/agents/{AGENT}/state")["state"] == "available", 10)

        # The page closes: the registration goes with its WebSocket.
        page.close()
        server.wait_for(lambda: registered_contacts(server, AGENT) == 0, 10)

        # The next caller is not rung at a closed page: the offer finds no phone,
        # the agent goes away, the caller keeps waiting in the queue.
        before = {c["id"] for c in server.calls()}
        second = caller(tmp_path, "second", 15, pool, server, recv_timeout_ms=6000)
        second_id = new_inbound_call(server, before)
        server.wait_for(lambda: "interaction.offer_missed" in kinds(server, second_id), 15)
        (missed,) = [e["data"] for e in timeline(server, second_id)
                     if e["kind"] == "interaction.offer_missed"]
        assert "480" in missed["reason"], f"the edge's 480 for the closed page was lost: {missed}"
        state = server.get(f"/agents/{AGENT}/state")
        assert state["state"] == "away" and state["reason"] == "phone_unreachable", state
        assert "call.bridged" not in kinds(server, second_id)
        second.result(timeout=40)  # the caller gives up by itself (recv timeout)


def test_browser_agent_places_a_call_and_sends_dtmf(server: ServerProcess, tmp_path: Path) -> None:
    """The other direction: the page calls the digits demo (100), which collects
    the digits the page sends (RFC 4733 through rtpengine), says them back and
    hangs up."""
    status, body = server.request("POST", "/agents", {"name": "xavier", "password": "xavier-pw-1"})
    assert status == 201, body
    tone = tmp_path / "agent.wav"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(tone), "synth",
                    "30", "sine", "600", "vol", "0.4"], check=True)
    before = {c["id"] for c in server.calls()}
    with chromium(fake_audio=tone) as browser:
        page = browser.new_page()
        page.goto(f"{server.http_url}/ui/softphone/")
        page.fill("#name", "xavier")
        page.fill("#password", "xavier-pw-1")
        page.click("#register")
        page.wait_for_selector("#status[data-state=registered]", timeout=10000)
        page.fill("#target", "100")
        page.click("#call")
        page.wait_for_selector("#call-state[data-state=connected]", timeout=10000)
        call_id = new_inbound_call(server, before)
        # Digits during the welcome prompt barge in; the demo reads them back.
        for digit in "42#":
            page.click(f"#keypad button:text-is('{digit}')")
            page.wait_for_timeout(300)
        page.wait_for_selector("#call-state[data-state=idle]", timeout=20000)
        assert "Terminated" in page.inner_text("#call-state"), "the demo hung up"

        # Closing the page in a call hangs the call up (a BYE), nothing is left open.
        before_close = {c["id"] for c in server.calls()}
        page.fill("#target", "100")
        page.click("#call")
        page.wait_for_selector("#call-state[data-state=connected]", timeout=10000)
        open_call = new_inbound_call(server, before_close)
        page.close()
        ended = server.wait_for(lambda: server.call(open_call)["end_reason"], 5)
        assert "Normal call clearing" in ended, ended
    call = server.call(call_id)
    assert call["from_uri"].startswith('"xavier" <sip:xavier@'), call["from_uri"]
    steps = [(e["data"]["node"], e["data"]["outcome"]) for e in call["timeline"]
             if e["kind"] == "flow.step"]
    assert ("digits", "next") in steps and "say_back" in [node for node, _ in steps], steps
    server.wait_for(lambda: b"5:callsle" in rtpengine_calls(), 5)


@pytest.mark.parametrize("sip", [{"browsers": True}, {"browsers": False},
                                 {"browsers": True, "tls_certificate": "cert.pem",
                                  "tls_private_key": "key.pem"}],
                         ids=["browsers", "no-browsers", "wss"])
def test_kamailio_accepts_the_edge_config(tmp_path: Path, sip: dict[str, Any]) -> None:
    if "tls_certificate" in sip:
        if not Path(TLS_MODULE).exists():
            pytest.skip("kamailio-tls-modules is not installed")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-keyout", str(tmp_path / "key.pem"),
                        "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
    settings = Settings.model_validate({"sip": sip}).resolve(tmp_path)
    files = render_kamailio(settings, [WorkerTarget(0, "127.0.0.1", 5100, 4)], tmp_path)
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    checked = subprocess.run([settings.sip.kamailio_binary, "-c", "-f",
                              str(tmp_path / "kamailio.cfg")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    config = files["kamailio.cfg"]
    assert ("#!define WITH_RTPENGINE" in config) is sip["browsers"]
    assert ("#!define WITH_WEBSOCKET" in config) is sip["browsers"]
    assert ("#!define WITH_TLS" in config) is ("tls_certificate" in sip)


async def test_rtpengine_is_restarted_when_it_dies_and_stopped_with_the_server() -> None:
    settings = Settings.model_validate({"sip": LONE_RTPENGINE})
    engine = RtpEngine(settings)
    await engine.start()
    try:
        first = engine.pid
        assert first is not None and await ng_ping(LONE_RTPENGINE["rtpengine_ng_port"])
        os.kill(first, signal.SIGKILL)
        for _ in range(100):
            if engine.restarts == 1 and engine.pid not in (None, first):
                break
            await asyncio.sleep(0.05)
        assert engine.restarts == 1 and engine.pid not in (None, first)
        assert await ng_ping(LONE_RTPENGINE["rtpengine_ng_port"])
        second = engine.pid
    finally:
        await engine.stop()
    assert engine.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)  # reaped, not left running
    assert not await ng_ping(LONE_RTPENGINE["rtpengine_ng_port"])
