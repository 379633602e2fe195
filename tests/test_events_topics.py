"""The topic tree: one topic per kind, documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicecenter.events.topics import TOPICS, UnknownEventKind, markdown_table, topic_for

DOCS = Path(__file__).resolve().parent.parent / "docs" / "events.md"


def test_kinds_map_to_fixed_past_tense_topics() -> None:
    assert topic_for("vc", "call.answered", call_id="c1", interaction_id="i1") == (
        "vc/calls/c1/answered")
    assert topic_for("vc", "call.ended", call_id="c1") == "vc/calls/c1/ended"
    assert topic_for("vc", "dtmf.received", call_id="c1") == "vc/calls/c1/dtmf"
    assert topic_for("vc", "interaction.created", interaction_id="i1") == (
        "vc/interactions/i1/created")
    assert topic_for("vc", "agent.added", agent="alice") == "vc/agents/alice/added"


def test_flow_events_follow_the_call_when_there_is_one() -> None:
    on_call = topic_for("vc", "flow.step", call_id="c1", interaction_id="i1")
    assert on_call == "vc/calls/c1/flow/step"
    assert topic_for("vc", "flow.step", interaction_id="i1") == "vc/interactions/i1/flow/step"


def test_no_topic_carries_two_kinds() -> None:
    topics = [topic_for("vc", kind, call_id="c", interaction_id="i", agent="a",
                        queue="q") for kind in TOPICS]
    assert len(set(topics)) == len(topics)


def test_unknown_kinds_and_unsafe_ids_are_refused() -> None:
    with pytest.raises(UnknownEventKind):
        topic_for("vc", "call.teleported", call_id="c1")
    with pytest.raises(ValueError):
        topic_for("vc", "call.answered", call_id=None)
    with pytest.raises(ValueError):
        topic_for("vc", "call.answered", call_id="a/b")
    with pytest.raises(ValueError):
        topic_for("vc", "agent.added", agent="#")


def test_docs_list_every_kind_as_the_code_does() -> None:
    assert markdown_table() in DOCS.read_text(), (
        "docs/events.md is out of date: paste `python -m voicecenter.events.topics`"
    )
