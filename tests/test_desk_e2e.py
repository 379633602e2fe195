"""The agent desk page, end to end: offers with the IVR's answers, call controls,
rejecting an offer and closing the page.

A SIPp caller dials 300 (tests/fixtures/desk_flows/desk_line.yaml), presses 2
in a DTMF menu (department = billing) and waits in the support queue. Agent
dana works in headless Chromium: she logs in through the login page, goes
available, sees the offer with her caller's answer, accepts it in the page's
browser softphone (JsSIP through Kamailio and rtpengine), holds and resumes
the caller (the server's view of the call is checked too) and transfers the
call to bob, who answers on a real baresip phone. Rejecting an offer sends the
call to another agent; closing the page sets the agent away.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import chromium
from tests.support.rtp_pcap import write_rtp_pcap
from tests.support.server import ROOT, ServerPorts, ServerProcess
from tests.support.sipp import SippResult, SippRun
from tests.support.softphone import Softphone

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=6390, websocket=9389, http=9381, mqtt=3284, control=9392,
                    worker_sip_base=9700, rtp_base=58000, speech=2800)
RTPENGINE = {"browsers": True, "rtpengine_ng_port": 22390, "rtpengine_port_min": 58400,
             "rtpengine_port_max": 58600}
VENDOR_JSSIP = ROOT / "voicecenter" / "web" / "vendor" / "jssip.min.js"
T = TypeVar("T")


class PhoneLoop:
    """baresip phones are asyncio; Playwright's sync API owns this thread's loop.
    The phones run on their own loop in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    if not VENDOR_JSSIP.exists():
        pytest.fail(f"{VENDOR_JSSIP} is missing: run `make setup`")
    work = tmp_path_factory.mktemp("desk")
    running = ServerProcess(work, workers=2, ports=PORTS, overrides={
        "sip": RTPENGINE,
        "paths": {"flows": str(ROOT / "tests" / "fixtures" / "desk_flows")},
        "entry_points": {"300": "desk_line"},
        "routing": {"ring_timeout_s": 15, "max_misses": 3, "missed_retry_after": 60},
    }).start(timeout_s=60)
    try:
        for name in ("dana", "bob", "cleo", "eve", "fay", "gus"):
            status, body = running.request("POST", "/agents", {
                "name": name, "password": f"{name}-pw-1", "skills": {"support": 5}})
            assert status == 201, body
        yield running
    finally:
        assert running.stop() == 0, running.tail()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    tone = tmp_path_factory.mktemp("tone") / "agent.wav"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(tone), "synth",
                    "90", "sine", "600", "vol", "0.4"], check=True)
    with chromium(fake_audio=tone) as found:
        yield found


@pytest.fixture
def phones() -> Iterator[PhoneLoop]:
    loop = PhoneLoop()
    try:
        yield loop
    finally:
        loop.close()


def baresip(loop: PhoneLoop, tmp_path: Path, name: str, auto_answer: bool = True) -> Softphone:
    tone = tmp_path / f"{name}.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(tone), "synth",
                    "90", "sine", "700", "vol", "0.4"], check=True)
    phone = Softphone(tmp_path / name, name, f"{name}-pw-1", "127.0.0.1", PORTS.sip,
                      audio_file=tone, auto_answer=auto_answer)
    loop.run(phone.start())
    loop.run(phone.wait_registered())
    return phone


def desk_login(browser: Browser, server: ServerProcess, agent: str) -> Page:
    """Open the desk as a fresh visitor: the login page, then back to the desk."""
    page = browser.new_context().new_page()
    page.on("pageerror", lambda exc: print(f"{agent} page error:", exc))
    page.goto(f"{server.http_url}/ui/desk/")
    page.wait_for_url("**/ui/login/**", timeout=10000)
    page.fill("#name", agent)
    page.fill("#password", f"{agent}-pw-1")
    page.click("#submit")
    page.wait_for_url("**/ui/desk/", timeout=10000)
    page.wait_for_selector("#link[data-up=true]", timeout=10000)
    page.wait_for_function(
        "() => document.getElementById('phone-status').textContent === 'browser phone ready'",
        timeout=15000)
    return page


def go_available(page: Page, server: ServerProcess, agent: str) -> None:
    page.click("#go-available")
    page.wait_for_selector("#state[data-state=available]", timeout=5000)
    assert server.get(f"/agents/{agent}/state")["state"] == "available"


def dial_300(tmp_path: Path, pool: ThreadPoolExecutor, server: ServerProcess, name: str,
             seconds: int = 50) -> Future[SippResult]:
    """A caller who presses 2 (billing) in the menu, then waits on the line."""
    pcap = tmp_path / f"{name}.pcap"
    write_rtp_pcap(pcap, "2", lead_ms=1500, tail_ms=seconds * 1000)
    (tmp_path / name).mkdir()
    run = SippRun("uac_digits.xml", server.sip_target, service="300", pcap=pcap,
                  recv_timeout_ms=(seconds + 10) * 1000, timeout_s=seconds + 20,
                  workdir=tmp_path / name)
    return pool.submit(run.run)


def kinds(server: ServerProcess, call_id: str) -> list[str]:
    return [e["kind"] for e in server.call(call_id)["timeline"]]


def offered_call(page: Page) -> str:
    """The offer's caller call id, once the desk shows it with the IVR answer."""
    page.wait_for_selector("#offer:not([hidden])", timeout=20000)
    page.wait_for_function(
        "() => document.querySelector('#answers').textContent.includes('billing')",
        timeout=10000)
    return str(page.evaluate("() => window.voicecenterDesk.calls.offer.callId"))


def test_offer_accept_hold_resume_and_transfer(
    server: ServerProcess, browser: Browser, phones: PhoneLoop, tmp_path: Path
) -> None:
    bob = baresip(phones, tmp_path, "bob")
    page = desk_login(browser, server, "dana")
    try:
        assert page.inner_text("#agent-name") == "dana"
        reasons = page.eval_on_selector_all("#away-reason option", "o => o.map(x => x.value)")
        assert "lunch" in reasons
        go_available(page, server, "dana")
        with ThreadPoolExecutor(1) as pool:
            caller = dial_300(tmp_path, pool, server, "caller")
            call_id = offered_call(page)
            # The customer's context: the IVR answer, the segment, the attached data.
            answers = page.inner_text("#answers")
            assert "department" in answers and "billing (pressed 2)" in answers, answers
            assert page.inner_text("#segment") == "gold"
            assert "spring-offer" in page.inner_text("#attached")
            assert "flow.input" in page.inner_text("#timeline")

            page.click("#offer-accept")
            page.wait_for_selector("#call:not([hidden])", timeout=15000)
            assert page.inner_text("#call-status") == "connected"
            server.wait_for(lambda: "call.bridged" in kinds(server, call_id), 10)
            assert server.get("/agents/dana/state")["state"] == "busy"
            page.wait_for_selector("#offer", state="hidden")

            page.click("#hold")
            page.wait_for_selector("#call-status[data-held=true]", timeout=5000)
            assert page.inner_text("#call-status") == "on hold"
            assert server.get(f"/calls/{call_id}/control")["held"] is True
            page.click("#resume")
            page.wait_for_selector("#call-status[data-held=false]", timeout=5000)
            assert server.get(f"/calls/{call_id}/control")["held"] is False
            timeline = kinds(server, call_id)
            assert timeline.index("call.hold_started") < timeline.index("call.hold_stopped")

            server.request("PUT", "/agents/bob/state", {"state": "available"})
            page.fill("#transfer-to", "bob")
            page.click("#transfer")
            phones.run(bob.wait_event("CALL_ESTABLISHED", timeout=15))
            page.wait_for_selector("#call", state="hidden", timeout=15000)
            server.wait_for(lambda: "call.transferred" in kinds(server, call_id), 10)
            assert server.get(f"/calls/{call_id}/control")["agent"] == "bob"
            server.wait_for(
                lambda: server.get("/agents/dana/state")["state"] == "available", 10)
            page.wait_for_selector("#state[data-state=available]", timeout=5000)
            phones.run(bob.hangup())
            result = caller.result(timeout=60)
            assert result.ok, result.describe()
        transferred = [e["data"] for e in server.call(call_id)["timeline"]
                       if e["kind"] == "call.transferred"]
        assert transferred[0]["from"] == "dana" and transferred[0]["to"] == "bob"
    finally:
        page.click("#go-offline")
        page.context.close()
        phones.run(bob.stop())


def test_rejected_offer_goes_to_another_agent(
    server: ServerProcess, browser: Browser, phones: PhoneLoop, tmp_path: Path
) -> None:
    for name in ("dana", "bob"):
        server.request("PUT", f"/agents/{name}/state", {"state": "offline"})
    cleo = baresip(phones, tmp_path, "cleo")
    page = desk_login(browser, server, "eve")
    try:
        go_available(page, server, "eve")
        with ThreadPoolExecutor(1) as pool:
            caller = dial_300(tmp_path, pool, server, "caller", seconds=30)
            call_id = offered_call(page)
            server.request("PUT", "/agents/cleo/state", {"state": "available"})
            page.click("#offer-reject")
            page.wait_for_selector("#offer", state="hidden", timeout=5000)
            phones.run(cleo.wait_event("CALL_ESTABLISHED", timeout=20))
            server.wait_for(lambda: "call.bridged" in kinds(server, call_id), 10)
            desk = server.get("/agents/eve/desk")
            assert desk["rejected_offers"] == 1 and desk["offer"] is None, desk
            assert desk["agent"]["state"] == "available", desk
            phones.run(cleo.hangup())
            caller.result(timeout=40)
        offers = [(e["kind"], e["data"]["agent"]) for e in server.call(call_id)["timeline"]
                  if e["kind"].startswith("interaction.offer") or
                  e["kind"] == "interaction.assigned"]
        assert offers == [("interaction.assigned", "eve"), ("interaction.offer_rejected", "eve"),
                          ("interaction.assigned", "cleo")], offers
        # Nothing rings any more: rejecting again is a clear 404.
        token = server.login("eve", "eve-pw-1")
        status, body = server.request("POST", f"/agents/eve/offers/{call_id}/reject",
                                      token=token)
        assert status == 404 and body["error"] == "no-such-offer", body
        status, body = server.request("POST", f"/agents/cleo/offers/{call_id}/reject",
                                      token=token)
        assert status == 403, body
    finally:
        page.context.close()
        phones.run(cleo.stop())
        server.request("PUT", "/agents/cleo/state", {"state": "offline"})


def test_closing_the_desk_sets_the_agent_away(server: ServerProcess, browser: Browser) -> None:
    page = desk_login(browser, server, "eve")
    go_available(page, server, "eve")
    assert server.get("/agents/eve/desk")["desk_open"] is True
    page.context.close()
    server.wait_for(lambda: server.get("/agents/eve/state")["state"] == "away", 10)
    state = server.get("/agents/eve/state")
    assert state["reason"] == "desk closed", state
    assert server.get("/agents/eve/desk")["desk_open"] is False


def test_a_desk_closed_during_a_call_sets_the_agent_away_after_it(
    server: ServerProcess, browser: Browser, phones: PhoneLoop, tmp_path: Path
) -> None:
    """fay answers on her desk phone (baresip); her page closes mid-call. The call
    goes on, and when it ends she goes away rather than available."""
    for name in ("dana", "bob", "cleo", "eve"):
        server.request("PUT", f"/agents/{name}/state", {"state": "offline"})
    fay = baresip(phones, tmp_path, "fay", auto_answer=False)
    page = desk_login(browser, server, "fay")
    try:
        page.select_option("#phone-mode", "desk")
        page.wait_for_function("() => document.getElementById('phone-status').textContent"
                               ".startsWith('desk phone')", timeout=5000)
        go_available(page, server, "fay")
        with ThreadPoolExecutor(1) as pool:
            caller = dial_300(tmp_path, pool, server, "caller", seconds=30)
            page.wait_for_selector("#offer:not([hidden])", timeout=20000)
            assert "desk phone" in page.inner_text("#offer-hint")
            page.click("#offer-accept")  # nothing to answer in the page: the phone rings
            assert "Pick up your desk phone" in page.inner_text("#offer-hint")
            phones.run(fay.wait_event("CALL_INCOMING", timeout=10))
            phones.run(fay.answer())
            phones.run(fay.wait_event("CALL_ESTABLISHED", timeout=10))
            page.wait_for_selector("#call:not([hidden])", timeout=10000)
            page.context.close()
            time.sleep(3)  # past the reload grace: the call is not disturbed
            assert server.get("/agents/fay/state")["state"] == "busy"
            phones.run(fay.hangup())
            server.wait_for(lambda: server.get("/agents/fay/state")["state"] == "away", 10)
            assert server.get("/agents/fay/state")["reason"] == "desk closed"
            caller.result(timeout=40)
    finally:
        phones.run(fay.stop())


class Visitor:
    """A customer in the web chat, on the visitors' WebSocket (as the widget is)."""

    def __init__(self, server: ServerProcess, ident: str) -> None:
        self.url = f"ws://127.0.0.1:{server.ports.http}/chat/ws?visitor={ident}"
        self.conversation = ""
        self.heard: list[dict[str, Any]] = []

    async def open(self, text: str) -> str:
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(self.url)
        welcome = await self.ws.receive_json(timeout=5)
        self.conversation = welcome["conversation"]
        await self.ws.send_json({"type": "message", "text": text, "client_id": "first"})
        return self.conversation

    async def hear(self, text: str, timeout: float = 10) -> dict[str, Any]:
        while True:
            frame = await self.ws.receive_json(timeout=timeout)
            if frame.get("type") == "message" and frame.get("text") == text:
                return frame  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


def test_two_chats_at_once(server: ServerProcess, browser: Browser, phones: PhoneLoop) -> None:
    for name in ("dana", "bob", "cleo", "eve", "fay"):
        server.request("PUT", f"/agents/{name}/state", {"state": "offline"})
    page = desk_login(browser, server, "gus")
    visitors = [Visitor(server, f"desk-visitor-{n}") for n in (1, 2)]
    try:
        go_available(page, server, "gus")
        ids = [phones.run(v.open(f"hello from {n}")) for n, v in enumerate(visitors, 1)]
        for ident in ids:
            page.click(f".chat-offer[data-conversation='{ident}'] .accept-chat", timeout=15000)
        page.wait_for_function("() => document.querySelectorAll('#chat-tabs .tab').length === 2",
                               timeout=10000)
        for n, (ident, visitor) in enumerate(zip(ids, visitors, strict=True), 1):
            page.click(f"#chat-tabs .tab[data-conversation='{ident}']")
            view = f".chat[data-conversation='{ident}']"
            page.wait_for_selector(f"{view} .lines li.from-customer", timeout=5000)
            assert f"hello from {n}" in page.inner_text(f"{view} .lines")
            page.fill(f"{view} .reply input", f"hi {n}, how can I help?")
            page.press(f"{view} .reply input", "Enter")
            line = phones.run(visitor.hear(f"hi {n}, how can I help?"))
            assert line["from"] == "agent" and line["agent"] == "gus"
            page.wait_for_selector(f"{view} .lines li.from-agent", timeout=5000)
        # The customer panel follows the selected chat: its timeline has the lines.
        page.wait_for_function(
            "() => document.getElementById('timeline').textContent.includes('hello from 2')",
            timeout=5000)
        page.click(f"#chat-tabs .tab[data-conversation='{ids[0]}']")
        page.click(f".chat[data-conversation='{ids[0]}'] .close-chat")
        page.wait_for_function("() => document.querySelectorAll('#chat-tabs .tab').length === 1",
                               timeout=5000)
    finally:
        for visitor in visitors:
            phones.run(visitor.close())
        page.context.close()
