"""Quality review through the real stack: a recorded, transcribed call, then a QA
reviewer in headless Chromium searches for a word the caller said, opens the call,
plays the recording, clicks the word (the player jumps to it) and saves a scorecard.

SIPp calls 200 (tests/fixtures/queue_flows/support_queue.yaml) and says 네 (yes) in
espeak-ng Korean, which the Korean model hears reliably; a baresip agent answers.
The speech service transcribes the stereo recording per channel with word times.
"""

from __future__ import annotations

import asyncio
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fixtures.speech_audio import speech_pcap
from tests.support.browser import chromium
from tests.support.server import ROOT, ServerPorts, ServerProcess
from tests.support.sipp import SippRun
from tests.support.softphone import Softphone

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=6490, websocket=9489, http=9481, mqtt=3384, control=9492,
                    worker_sip_base=9800, rtp_base=60000, speech=2801)
WORD = "네"
Q = urllib.parse.quote(WORD)
REVIEWER = ("quinn", "quinn-pass-1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("qa")
    proc = ServerProcess(work, workers=2, ports=PORTS, speech=True, overrides={
        "paths": {"flows": str(ROOT / "tests" / "fixtures" / "queue_flows")},
        "entry_points": {"200": "support_queue"},
        "routing": {"ring_timeout_s": 4},
    }).start(timeout_s=90)
    try:
        yield proc
    finally:
        assert proc.stop() == 0, proc.tail()


@pytest.fixture(scope="module")
def transcribed_call(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
                     ) -> dict[str, Any]:
    """One conversation: the caller says 네, agent erin answers; recorded and transcribed."""
    work = tmp_path_factory.mktemp("qa-call")
    status, body = server.request("POST", "/agents", {
        "name": "erin", "password": "erin-pw-1", "skills": {"support": 5}})
    assert status == 201, body

    async def converse() -> None:
        erin = Softphone(work / "erin", "erin", "erin-pw-1", "127.0.0.1", PORTS.sip)
        try:
            await erin.start()
            await erin.wait_registered()
            status, body = server.request("PUT", "/agents/erin/state", {"state": "available"})
            assert status == 200, body
            # Hold music plays ~1 s before erin answers; 네 comes well after that.
            pcap = speech_pcap(WORD, work, lead_ms=4000, tail_ms=3000)
            result = await SippRun("uac_digits.xml", server.sip_target, service="200",
                                   pcap=pcap, recv_timeout_ms=9000, timeout_s=40).run_async()
            assert result.ok, result.describe()
        finally:
            await erin.stop()

    asyncio.run(converse())
    (call,) = [c for c in server.calls() if c["direction"] == "inbound"]

    def transcribed() -> list[dict[str, Any]] | None:
        items = server.get(f"/calls/{call['id']}/transcript")["items"]
        return items if len(items) == 2 else None

    items = server.wait_for(transcribed, 30, 0.3)
    caller = next(t for t in items if t["label"] == "caller")
    assert WORD in caller["text"], caller
    return call


@pytest.fixture(scope="module")
def token(server: ServerProcess) -> str:
    """The QA reviewer's token."""
    return server.add_user(REVIEWER[0], "qa", REVIEWER[1])


def fetch(server: ServerProcess, path: str, token: str,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{PORTS.http}{path}", headers={
        "Authorization": f"Bearer {token}", **(headers or {})})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, dict(response.headers), response.read()


def test_reviewer_finds_plays_seeks_and_scores_a_call(
        server: ServerProcess, transcribed_call: dict[str, Any], token: str) -> None:
    call_id, interaction_id = transcribed_call["id"], transcribed_call["interaction_id"]

    # The API the page uses, as the reviewer.
    status, found = server.request("GET", f"/interactions/search?q={Q}&agent=erin",
                                   token=token)
    assert status == 200, found
    (item,) = [i for i in found["items"] if i["id"] == interaction_id]
    assert (item["agent"], item["queue"], item["channel"]) == ("erin", "support", "voice")
    assert item["duration_s"] > 5 and WORD in item["snippet"]["text"]
    status, review = server.request("GET", f"/interactions/{interaction_id}/review",
                                    token=token)
    assert status == 200, review
    caller = next(t for t in review["transcripts"] if t["label"] == "caller")
    word = next(w for w in caller["words"] if WORD in w["word"])
    assert review["recordings"][0]["url"] == f"/recordings/{call_id}"
    status, _, head = fetch(server, f"/recordings/{call_id}", token, {"Range": "bytes=0-43"})
    assert (status, head[:4], len(head)) == (206, b"RIFF", 44)
    status, body = server.request("GET", "/interactions/search?from=last+week", token=token)
    assert status == 400 and "ISO 8601" in body["message"]
    status, body = server.request("GET", f"/recordings/{call_id}", token="")
    assert status == 401

    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{PORTS.http}/ui/login/?next=/ui/qa/")
        page.fill("#name", REVIEWER[0])
        page.fill("#password", REVIEWER[1])
        page.click("#submit")
        page.wait_for_url("**/ui/qa/**")
        page.fill("input[name=q]", WORD)
        page.fill("input[name=agent]", "erin")
        page.click("#search")
        row = page.locator(f"#results tr[data-id='{interaction_id}']")
        row.wait_for(timeout=10_000)
        assert "support" in row.inner_text() and "—" in row.inner_text()  # no score yet
        row.locator("a.open").click()
        page.wait_for_selector("body[data-ready=true]", timeout=10_000)
        assert page.url.endswith(f"interaction.html?id={interaction_id}")

        # Play the recording: it loads (through the session cookie) and time moves.
        page.wait_for_function("document.getElementById('player').readyState >= 1",
                               timeout=10_000)
        duration = page.evaluate("document.getElementById('player').duration")
        assert duration > 5
        page.evaluate("document.getElementById('player').play()")
        page.wait_for_function("document.getElementById('player').currentTime > 0.3",
                               timeout=10_000)
        page.evaluate("document.getElementById('player').pause()")

        # Click the caller's word: the player jumps to the word's start and plays it.
        span = page.locator(".speaker[data-label=caller] .word", has_text=WORD).first
        span.click()
        moved = page.evaluate("document.getElementById('player').currentTime")
        assert word["start"] - 0.05 <= moved <= word["start"] + 1.0, (moved, word)
        page.wait_for_selector(".speaker[data-label=caller] .word.playing", timeout=5_000)
        assert WORD in page.inner_text(".speaker[data-label=caller] .word.playing")
        assert page.locator("#timeline li.speech", has_text=WORD).count() >= 1
        assert page.locator("#timeline li.event", has_text="interaction.assigned").count() == 1

        # The scorecard: answer every question, save, see it listed.
        questions = page.eval_on_selector_all(
            "#questions fieldset", "nodes => nodes.map(n => n.dataset.question)")
        assert questions
        for question in questions:
            page.locator(f"input[name={question}]").last.check()  # the top mark
        page.fill("textarea[name=comment]", "Clear and polite.")
        page.click("#save")
        page.wait_for_function(
            "document.getElementById('saved').textContent.startsWith('Saved')", timeout=5_000)
        assert "100.0 %" in page.inner_text("#saved")
        page.wait_for_selector(f"#scores li:has-text('{REVIEWER[0]}')", timeout=5_000)

    status, scores = server.request("GET", f"/interactions/{interaction_id}/scores",
                                    token=token)
    assert status == 200, scores
    (saved,) = scores["items"]
    assert (saved["reviewer"], saved["total"], saved["comment"]) == \
        (REVIEWER[0], 100.0, "Clear and polite.")
    assert set(saved["answers"]) == set(questions)
    age = datetime.now(UTC) - datetime.fromisoformat(saved["created_at"])
    assert timedelta(0) <= age < timedelta(minutes=2)
    status, found = server.request("GET", f"/interactions/search?q={Q}", token=token)
    assert next(i for i in found["items"] if i["id"] == interaction_id)["score"] == 100.0

    # Who listened and read: the access log has the reviewer's reads of this call.
    log = server.get(f"/audit?target={call_id}")["items"]
    reads = {(r["user"], r["action"]) for r in log}
    assert (REVIEWER[0], "recording.read") in reads, log
    assert (REVIEWER[0], "transcript.read") in reads, log


def test_scores_are_validated_and_agents_may_not_review(
        server: ServerProcess, transcribed_call: dict[str, Any], token: str) -> None:
    interaction_id = transcribed_call["interaction_id"]
    questions = server.request("GET", "/scorecard", token=token)[1]["questions"]
    full = {q["id"]: q["max"] for q in questions}
    for answers, message in [({**full, "smile": 1}, "unknown question"),
                             ({**full, questions[0]["id"]: questions[0]["max"] + 1},
                              "must be an integer from 0")]:
        status, body = server.request("POST", f"/interactions/{interaction_id}/scores",
                                      {"answers": answers}, token=token)
        assert status == 400 and message in body["message"], body
    status, body = server.request("POST", "/interactions/nope/scores", {"answers": full},
                                  token=token)
    assert status == 404, body
    agent = server.login("erin", "erin-pw-1")
    status, body = server.request("GET", f"/interactions/{interaction_id}/review", token=agent)
    assert status == 403, body
