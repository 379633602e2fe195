"""The supervisor's wallboard through the real stack.

A real server (Kamailio, pjsua2 workers, broker), SIPp callers into the
support queue, agents on baresip softphones, and headless Chromium logged in
as a supervisor through the login page: the page shows the waiting count and
the agent's state change, its CSV export downloads the day's rows, and its
Listen button rings the supervisor's phone into the live call (checked on
the call-control state and on the phone). Then the server restarts and the
figures and their history are still there.
"""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.support.browser import CHROMIUM, QUIET
from tests.support.rtp_pcap import tone_pcm, write_rtp_pcap
from tests.support.server import ROOT, ServerPorts, ServerProcess
from tests.support.sipp import SippResult, SippRun
from tests.support.softphone import Softphone

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=6590, websocket=9589, http=9581, mqtt=3484, control=9592,
                    worker_sip_base=9900, rtp_base=61000, speech=2802)
BOSS = ("boss", "boss-pass-1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    for program in ("kamailio", "sipp", "mosquitto", "baresip"):
        if not (shutil.which(program) or Path(f"/usr/sbin/{program}").exists()):
            pytest.fail(f"{program} is missing: run make setup")
    work = tmp_path_factory.mktemp("wallboard")
    flows = work / "flows"
    flows.mkdir()
    shutil.copy(ROOT / "tests" / "fixtures" / "queue_flows" / "support_queue.yaml", flows)
    proc = ServerProcess(work, workers=2, ports=PORTS, overrides={
        "paths": {"flows": str(flows)},
        "entry_points": {"200": "support_queue"},
        "routing": {"ring_timeout_s": 6},
        "queues": {"history_period_s": 1, "figures_period_s": 1},
    })
    proc.start(timeout_s=60)
    try:
        yield proc
    finally:
        code = proc.stop()
        assert code == 0, f"serve exited {code}:\n{proc.tail()}"


@asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        found = await playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET)
        try:
            yield found
        finally:
            await found.close()


def caller(server: ServerProcess, tmp: Path, name: str, hold_s: int) -> asyncio.Task[SippResult]:
    """A SIPp caller into the support queue that hangs up after ``hold_s`` at the latest."""
    pcap = tmp / f"{name}.pcap"
    write_rtp_pcap(pcap, "", lead_ms=hold_s * 1000, tail_ms=0, audio=tone_pcm(400, hold_s * 1000))
    return asyncio.create_task(SippRun(
        "uac_digits.xml", server.sip_target, service="200", pcap=pcap,
        recv_timeout_ms=hold_s * 1000, timeout_s=hold_s + 20).run_async())


async def wait_for(predicate: Any, timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met in {timeout_s} s")
        await asyncio.sleep(0.2)


async def figure(page: Page, queue: str, name: str) -> str:
    return await page.locator(f'[data-queue="{queue}"] [data-figure="{name}"]').inner_text()


async def log_in(page: Page, server: ServerProcess) -> None:
    await page.goto(f"{server.http_url}/ui/wallboard/")
    await page.wait_for_url("**/ui/login/**", timeout=10000)
    await page.fill("#name", BOSS[0])
    await page.fill("#password", BOSS[1])
    await page.click("#submit")
    await page.wait_for_url("**/ui/wallboard/**", timeout=10000)


async def test_wallboard_live_csv_and_listen(server: ServerProcess, tmp_path: Path) -> None:
    for name, skills in (("alice", {"support": 5}), ("sup1", {})):
        status, body = server.request("POST", "/agents", {
            "name": name, "password": f"{name}-pw-1", "skills": skills})
        assert status == 201, body
    server.add_user(BOSS[0], "supervisor", BOSS[1])
    phones = {name: Softphone(tmp_path / name, name, f"{name}-pw-1", "127.0.0.1", PORTS.sip)
              for name in ("alice", "sup1")}
    callers: list[asyncio.Task[SippResult]] = []
    try:
        await asyncio.gather(*(p.start() for p in phones.values()))
        await asyncio.gather(*(p.wait_registered() for p in phones.values()))
        async with browser() as chromium:
            page = await chromium.new_page()
            await log_in(page, server)
            alice = page.locator('#agents tr[data-agent="alice"]')
            await alice.and_(page.locator('[data-state="offline"]')).wait_for(timeout=10000)

            # Nobody available: one caller gives up after 4 s, one waits.
            callers.append(caller(server, tmp_path, "gives-up", 4))
            await page.locator('[data-queue="support"]').wait_for(timeout=10000)
            callers.append(caller(server, tmp_path, "waits", 60))
            await page.wait_for_function(
                """() => document.querySelector('[data-queue="support"] '
                   + '[data-figure="waiting"]')?.textContent === "2" """, timeout=10000)
            assert (await callers[0]).ok
            await page.wait_for_function(
                """() => document.querySelector('[data-queue="support"] '
                   + '[data-figure="abandoned"]')?.textContent === "1" """, timeout=10000)
            assert await figure(page, "support", "waiting") == "1"

            # Alice becomes available: the caller reaches her and the page follows.
            server.request("PUT", "/agents/alice/state", {"state": "available"})
            await phones["alice"].wait_event("CALL_ESTABLISHED", timeout=10)
            await alice.and_(page.locator('[data-state="busy"]')).wait_for(timeout=10000)
            await page.wait_for_function(
                """() => document.querySelector('[data-queue="support"] '
                   + '[data-figure="waiting"]')?.textContent === "0" """, timeout=10000)
            call_id = await alice.locator("td.call").get_attribute("data-call")
            assert call_id

            # Listen: the supervisor's phone (agent sup1) is rung into the call.
            await page.fill("#phone", "sup1")
            await alice.locator('button[data-mode="listen"]').click()
            await phones["sup1"].wait_event("CALL_ESTABLISHED", timeout=10)
            await page.locator("#supervise-status", has_text="Listening").wait_for(
                timeout=10000)
            control = server.get(f"/calls/{call_id}/control")
            assert control["parties"]["supervisor"] == {
                "agent": "sup1", "mode": "listen", "leg": control["parties"]["supervisor"]["leg"]}
            await page.wait_for_function(
                """() => document.querySelector('#agents tr[data-agent="alice"] td.call')
                   ?.textContent.includes("sup1 listening")""", timeout=10000)

            # The conversation ends; the reports tab downloads today's rows as CSV.
            await asyncio.sleep(1)
            await phones["alice"].hangup()
            assert (await callers[1]).ok
            await alice.and_(page.locator('[data-state="available"]')).wait_for(timeout=10000)
            # The charts draw the stored samples (one a second in this test).
            await page.select_option("#chart-hours", "1")
            await page.locator('#charts svg path.chart-line[data-series="waiting"]').first \
                .wait_for(timeout=10000)
            assert int(await page.locator("#charts").get_attribute("data-samples") or 0) >= 3
            await page.click("#tab-reports")
            await page.locator("#report-daily tbody tr td", has_text="support").first.wait_for(
                timeout=10000)
            async with page.expect_download() as download_info:
                await page.click("#csv-daily")
            download = await download_info.value
            assert download.suggested_filename.startswith("voicecenter-daily-")
            saved = tmp_path / download.suggested_filename
            await download.save_as(saved)
            rows = list(csv.DictReader(io.StringIO(saved.read_text())))
            (row,) = rows
            assert (row["queue"], row["offered"], row["answered"], row["abandoned"]) == \
                ("support", "2", "1", "1"), rows
            assert row["handled"] == "1" and float(row["talk_s"]) > 1, row
            async with page.expect_download() as download_info:
                await page.click("#csv-agents")
            agents_csv = tmp_path / "agents.csv"
            await (await download_info.value).save_as(agents_csv)
            agents = list(csv.DictReader(io.StringIO(agents_csv.read_text())))
            (alice_row,) = [r for r in agents if r["agent"] == "alice"]
            assert alice_row["answered"] == "1" and alice_row["handled"] == "1", agents
            await page.close()
    finally:
        for task in callers:
            task.cancel()
        await asyncio.gather(*callers, return_exceptions=True)
        for phone in phones.values():
            await phone.stop()

    # The API: supervisors only, every parameter checked.
    boss = server.login(*BOSS)
    agent = server.login("alice", "alice-pw-1")
    assert server.request("GET", "/wallboard", token=agent)[0] == 403
    assert server.request("GET", "/wallboard", token="")[0] == 401
    for path, needle in (("/reports/daily?from=2026-13-01", "from"),
                         ("/reports/daily?from=2026-02-02&to=2026-02-01", "before"),
                         ("/reports/daily?from=2020-01-01&to=2026-01-01", "366"),
                         ("/reports/daily?tz=Mars/Olympus", "tz"),
                         ("/reports/agents?format=xls", "format"),
                         ("/reports/agents?queue=no%20such", "queue"),
                         ("/wallboard/history?hours=0", "hours"),
                         ("/wallboard/history?hours=abc", "hours"),
                         ("/wallboard?x=1", "'x'")):
        status, body = server.request("GET", path, token=boss)
        assert status == 400 and needle in body["message"], (path, body)
    board = server.get("/wallboard", token=boss)
    (support,) = [q for q in board["queues"] if q["name"] == "support"]
    assert (support["answered"], support["abandoned"]) == (1, 1)


async def test_figures_and_history_survive_a_restart(server: ServerProcess) -> None:
    before = server.get("/queues/support")
    assert before["answered"] >= 1 and before["abandoned"] >= 1
    history = server.get("/wallboard/history?queue=support&hours=1")["queues"]["support"]
    assert len(history) >= 3
    assert server.stop() == 0, server.tail()
    server.start(timeout_s=60)

    after = server.get("/queues/support")
    # Counted again from the stored timeline: the same calls, times to a fraction
    # of a second (the timeline's clock, not the live counters').
    assert (after["answered"], after["abandoned"]) == (before["answered"], before["abandoned"])
    assert after["service_level"] == before["service_level"]
    for key in ("asa_s", "aht_s"):
        assert after[key] == pytest.approx(before[key], abs=0.6), (key, before, after)
    assert after["waiting"] == 0
    again = server.get("/wallboard/history?queue=support&hours=1")["queues"]["support"]
    assert [s["at"] for s in again[:len(history)]] == [s["at"] for s in history]
    # And sampling goes on after the restart.
    await wait_for(lambda: len(server.get(
        "/wallboard/history?queue=support&hours=1")["queues"]["support"]) > len(again) + 1, 10)
