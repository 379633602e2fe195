"""Quality review without a server: search filters, validation, scoring, redaction.

The store is a real SQLite file migrated to head; events, transcripts and
chat lines are written through the same repositories the server uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from multidict import MultiDict

from voicecenter.api.errors import ApiError
from voicecenter.api.qa import parse_search
from voicecenter.review.redaction import MASK, redact_events, redact_text, redact_words
from voicecenter.review.scoring import Question, ScoreError, score
from voicecenter.review.timeline import build_review, snippet
from voicecenter.settings import Settings, StoreSettings
from voicecenter.store import NoSuchInteraction, Store, open_store
from voicecenter.store.reviews import SearchFilters
from voicecenter.store.transcripts import ChannelText


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(Settings(store=StoreSettings(url=f"sqlite+aiosqlite:///"
                                                              f"{tmp_path / 'qa.db'}")))
    yield store
    await store.close()


def words(text: str, start: float = 1.0) -> list[dict[str, object]]:
    return [{"word": w, "start": start + i, "end": start + i + 0.6, "conf": 0.9}
            for i, w in enumerate(text.split())]


async def voice_call(store: Store, *, agent: str, queue: str, disposition: str | None,
                     caller_says: str, agent_says: str = "") -> str:
    call = await store.calls.create_call(direction="inbound", from_uri="sip:c@127.0.0.1",
                                         to_uri="sip:200@127.0.0.1")
    iid = call.interaction_id
    await store.calls.mark_answered(call.id)
    await store.interactions.add_event(iid, "interaction.queued", {"queue": queue})
    await store.interactions.add_event(iid, "interaction.assigned", {"agent": agent})
    await store.calls.add_event(call.id, "recording.started", {"path": "x"})
    await store.calls.add_event(call.id, "recording.completed", {"path": f"/r/{call.id}.wav"})
    if disposition:
        await store.interactions.add_event(iid, "interaction.disposition_set",
                                           {"agent": agent, "disposition": disposition})
    await store.calls.end_call(call.id, "hangup")
    job_id = await store.transcripts.enqueue(f"/r/{call.id}.wav", call_id=call.id)
    job = await store.transcripts.claim()
    assert job is not None and job.id == job_id
    await store.transcripts.complete(job, [
        ChannelText(0, "caller", caller_says, words(caller_says), 0.9, 20.0),
        ChannelText(1, "agent", agent_says, words(agent_says, 0.5), 0.9, 20.0)])
    return iid


async def chat(store: Store, line: str, agent: str = "carol") -> str:
    interaction = await store.interactions.create("chat", customer="visitor-1")
    await store.interactions.add_event(interaction.id, "interaction.assigned", {"agent": agent})
    await store.interactions.add_event(interaction.id, "chat.message_received",
                                       {"seq": 1, "text": line})
    await store.interactions.add_event(interaction.id, "chat.message_sent",
                                       {"seq": 2, "text": "thank you", "from": "agent",
                                        "agent": agent})
    await store.interactions.end(interaction.id, "closed")
    return interaction.id


async def test_search_filters_combine_and_find_words_in_transcripts_and_chat(
        store: Store) -> None:
    sale = await voice_call(store, agent="alice", queue="sales", disposition="sale",
                            caller_says="네 예약 확인 부탁", agent_says="안녕하세요")
    other = await voice_call(store, agent="bob", queue="support", disposition="no_sale",
                             caller_says="상담원", agent_says="네 알겠습니다")
    chatted = await chat(store, "My Refund please, card 4111 1111 1111 1111")

    async def ids(**filters: object) -> list[str]:
        items, total = await store.reviews.search(SearchFilters(**filters))  # type: ignore[arg-type]
        assert total == len(items)
        return [item["id"] for item in items]

    assert await ids() == [chatted, other, sale]  # newest first
    assert await ids(agent="alice") == [sale]
    assert await ids(queue="support") == [other]
    assert await ids(disposition="sale") == [sale]
    assert await ids(channel="chat") == [chatted]
    assert await ids(words=["예약"]) == [sale]
    assert await ids(words=["네"]) == [other, sale]  # agent's channel counts too
    assert await ids(words=["네"], agent="bob") == [other]
    assert await ids(words=["refund"]) == [chatted]  # case-insensitive, chat lines
    assert await ids(words=["refund", "please"]) == [chatted]
    assert await ids(words=["refund", "예약"]) == []
    assert await ids(words=["50%"]) == []  # LIKE wildcards are literal
    now = datetime.now(UTC)
    assert await ids(start=now - timedelta(minutes=5), end=now + timedelta(minutes=1)) == \
        [chatted, other, sale]
    assert await ids(start=now + timedelta(minutes=1)) == []
    items, total = await store.reviews.search(SearchFilters(limit=1, offset=1))
    assert (total, [i["id"] for i in items]) == (3, [other])

    (found,), _ = await store.reviews.search(SearchFilters(words=["예약"]))
    assert (found["agent"], found["queue"], found["disposition"], found["channel"]) == \
        ("alice", "sales", "sale", "voice")
    assert found["duration_s"] is not None and found["score"] is None
    assert snippet(found["match"], "예약") == {
        "source": "transcript", "label": "caller", "call_id": found["match"].call_id,
        "text": "네 예약 확인 부탁", "start": 2.0}
    (line,), _ = await store.reviews.search(SearchFilters(words=["refund"]))
    shown = snippet(line["match"], "refund")
    assert shown["source"] == "line" and "4111" not in shown["text"]
    assert "•••• •••• •••• ••••" in shown["text"]


def query(**values: str) -> MultiDict[str]:
    return MultiDict(values)


@pytest.mark.parametrize("values, message", [
    ({"from": "yesterday"}, "from must be an ISO 8601"),
    ({"to": "2026-13-01"}, "to must be an ISO 8601"),
    ({"from": "2026-11-30", "to": "2026-11-29"}, "from must be before to"),
    ({"limit": "0"}, "limit must be an integer from 1 to 200"),
    ({"limit": "201"}, "limit must be an integer from 1 to 200"),
    ({"limit": "ten"}, "limit must be an integer"),
    ({"offset": "-1"}, "offset must be an integer"),
    ({"channel": "fax"}, "channel must be one of voice, chat, sms"),
    ({"agent": "a b"}, "agent must be"),
    ({"q": "card 4111 1111"}, "q may not contain 4 or more digits"),
    ({"q": "a b c d e f"}, "at most 5 words"),
    ({"form": "2026-11-30"}, "unknown parameter(s): form"),
])
def test_search_parameters_are_validated(values: dict[str, str], message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_search(query(**values))
    assert caught.value.status == 400
    assert message in caught.value.text


def test_search_parameters_parse_dates_as_utc_and_bare_to_dates_inclusive() -> None:
    filters = parse_search(query(**{"from": "2026-11-01", "to": "2026-11-03",
                                    "q": " 네  예약 ", "limit": "10"}))
    assert filters.start == datetime(2026, 11, 1, tzinfo=UTC)
    assert filters.end == datetime(2026, 11, 4, tzinfo=UTC)
    assert (filters.words, filters.limit, filters.offset) == (["네", "예약"], 10, 0)
    zoned = parse_search(query(**{"from": "2026-11-01T10:00:00+02:00"}))
    assert zoned.start == datetime(2026, 11, 1, 8, tzinfo=UTC)


QUESTIONS = [Question("greeting", "Greeted", 1, 5), Question("verified", "Verified", 2, 1),
             Question("resolved", "Resolved", 3, 5)]


def test_scores_are_weighted_percentages_and_bad_answers_are_refused() -> None:
    assert score(QUESTIONS, {"greeting": 5, "verified": 1, "resolved": 5}) == (
        {"greeting": 5, "verified": 1, "resolved": 5}, 100.0)
    # (1*4/5 + 2*0 + 3*3/5) / 6 = 2.6/6
    assert score(QUESTIONS, {"greeting": 4, "verified": 0, "resolved": 3})[1] == 43.3
    for answers, message in [
        ({"greeting": 5, "verified": 1, "resolved": 5, "smile": 3}, "unknown question"),
        ({"greeting": 6, "verified": 1, "resolved": 5}, "'greeting' must be an integer from 0"),
        ({"greeting": -1, "verified": 1, "resolved": 5}, "'greeting' must be an integer"),
        ({"greeting": 2.5, "verified": 1, "resolved": 5}, "'greeting' must be an integer"),
        ({"greeting": True, "verified": 1, "resolved": 5}, "'greeting' must be an integer"),
        ({"greeting": "5", "verified": 1, "resolved": 5}, "'greeting' must be an integer"),
        ({"greeting": 5, "resolved": 5}, "unanswered question(s): verified"),
        ([], "answers must be an object"),
    ]:
        with pytest.raises(ScoreError, match=None) as caught:
            score(QUESTIONS, answers)
        assert message in str(caught.value), (answers, caught.value)


async def test_scores_are_stored_with_reviewer_and_the_latest_shows_in_search(
        store: Store) -> None:
    iid = await chat(store, "hello")
    questions = [q.to_dict() for q in QUESTIONS]
    first = await store.reviews.add_score(iid, reviewer="quinn", answers={"greeting": 1},
                                          questions=questions, comment="short", total=20.0)
    second = await store.reviews.add_score(iid, reviewer="sam", answers={"greeting": 5},
                                           questions=questions, comment="", total=90.5)
    stored = await store.reviews.scores(iid)
    assert [s["id"] for s in stored] == [first["id"], second["id"]]
    assert (stored[0]["reviewer"], stored[0]["comment"], stored[0]["total"]) == \
        ("quinn", "short", 20.0)
    assert datetime.fromisoformat(stored[0]["created_at"]) <= datetime.now(UTC)
    (item,), _ = await store.reviews.search(SearchFilters())
    assert item["score"] == 90.5
    with pytest.raises(NoSuchInteraction):
        await store.reviews.add_score("nope", reviewer="q", answers={}, questions=[],
                                      comment="", total=0)


def test_text_and_transcript_digit_runs_are_redacted() -> None:
    assert redact_text("card 4111-1111 1111.1111, 3 items, pin 0000") == \
        "card ••••-•••• ••••.••••, 3 items, pin ••••"
    out = redact_words(words("네 공 일 이 삼 좋아요 12 좋아 345678 일"))
    assert [w["word"] for w in out] == ["네", "[redacted]", "[redacted]", "[redacted]",
                                        "[redacted]", "좋아요", "12", "좋아", "[redacted]", "일"]
    assert [w["start"] for w in out] == [w["start"] for w in words("a " * 10)]


def event(eid: int, kind: str, data: dict[str, object], call: str = "c1") -> dict[str, object]:
    return {"id": eid, "kind": kind, "data": data, "call_id": call, "interaction_id": "i",
            "at": f"2026-11-30T10:00:{eid:02d}+00:00"}


def test_dtmf_of_secret_inputs_and_sensitive_variables_is_redacted() -> None:
    events = [event(1, "dtmf.received", {"digit": "1"}),
              event(2, "flow.input", {"node": "account", "digits": "1", "reason": "max"}),
              event(3, "flow.variable_set", {"node": "account", "name": "account",
                                             "value": "1"}),
              *[event(4 + i, "dtmf.received", {"digit": d}) for i, d in enumerate("4321")],
              event(8, "flow.input", {"node": "ask_pin", "digits": "***"}),  # flow: secret
              event(9, "dtmf.received", {"digit": "7"}),
              event(10, "flow.input", {"node": "ask_code", "digits": "7"}),
              event(11, "flow.variable_set", {"node": "ask_code", "name": "card_cvv",
                                              "value": "7"}),
              *[event(12 + i, "dtmf.received", {"digit": d}) for i, d in enumerate("55555")],
              event(17, "interaction.data_attached", {"attached": {"pin": "9", "note":
                                                                   "call 0123 4567"}}),
              event(18, "recording.completed", {"path": "/r/ab12345678.wav"})]
    out = {e["id"]: e["data"] for e in redact_events(events)}
    assert out[1]["digit"] == "1" and out[2]["digits"] == "1"  # not secret: kept
    assert [out[i]["digit"] for i in range(4, 8)] == [MASK] * 4
    assert out[9]["digit"] == MASK and out[10]["digits"] == MASK and out[11]["value"] == MASK
    assert [out[i]["digit"] for i in range(12, 17)] == [MASK] * 5  # keyed to an agent
    assert out[17]["attached"] == {"pin": MASK, "note": "call •••• ••••"}
    assert out[18]["path"] == "/r/ab12345678.wav"  # ids and paths are not text


async def test_review_puts_events_lines_and_speech_on_one_redacted_timeline(
        store: Store) -> None:
    iid = await voice_call(store, agent="alice", queue="sales", disposition="sale",
                           caller_says="네 공 일 이 삼 사", agent_says="예약 확인")
    review = build_review(await store.reviews.review(iid))
    assert review["summary"]["agent"] == "alice"
    (recording,) = review["recordings"]
    assert recording["url"] == f"/recordings/{recording['call_id']}"
    caller = next(t for t in review["transcripts"] if t["label"] == "caller")
    assert caller["text"] == "네 [redacted] [redacted] [redacted] [redacted] [redacted]"
    assert caller["words"][0] == {"word": "네", "start": 1.0, "end": 1.6, "conf": 0.9}
    kinds = [(item["type"], item.get("kind") or item.get("label"))
             for item in review["timeline"]]
    assert ("speech", "caller") in kinds and ("speech", "agent") in kinds
    assert kinds.index(("event", "recording.started")) < kinds.index(("speech", "agent"))
    ats = [datetime.fromisoformat(item["at"]) for item in review["timeline"]]
    assert ats == sorted(ats)
    assert "0" not in "".join(i["text"] for i in review["timeline"] if i["type"] == "speech")
