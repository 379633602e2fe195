"""The review of one interaction: what the QA page shows, redacted, on one timeline.

The store hands over the raw material (interaction, calls, events,
transcripts); this puts it in the shape the page plays from: the recordings
with their URLs and the moment each began, each transcript channel with its
words (times are seconds into that recording, so a click seeks the player),
and one timeline where events, chat lines and spoken phrases sit in the
order they happened. Everything passes through redaction first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..store.reviews import LINE_KINDS, Match
from .redaction import REDACTED, redact_events, redact_mapping, redact_text, redact_words

# A pause this long between two words of a channel starts a new phrase.
PHRASE_GAP_S = 1.0
SNIPPET_WORDS = 8
SNIPPET_CHARS = 60


def recording_url(call_id: str, compressed: bool = False) -> str:
    return f"/recordings/{call_id}" + ("?format=compressed" if compressed else "")


def build_review(raw: dict[str, Any]) -> dict[str, Any]:
    """The review document for the page (see GET /interactions/{id}/review)."""
    interaction = raw["interaction"].to_dict()
    interaction["attached"] = redact_mapping(interaction.get("attached") or {})
    events = redact_events([e.to_dict() for e in raw["events"]])
    started = _recording_starts(events)
    recordings = []
    for event in events:
        if event["kind"] != "recording.completed" or not event.get("call_id"):
            continue
        data, call_id = event["data"], event["call_id"]
        recordings.append({
            "call_id": call_id, "url": recording_url(call_id),
            "compressed_url": recording_url(call_id, True) if data.get("compressed") else None,
            "channels": data.get("channels") or {"left": "caller", "right": "agent"},
            "agents": data.get("agents") or [], "paused": data.get("paused") or [],
            "started_at": started.get(call_id, event["at"]), "completed_at": event["at"]})
    transcripts = []
    for row in raw["transcripts"]:
        words = redact_words(row["words"] or [])
        transcripts.append({
            "call_id": row["call_id"], "channel": row["channel"], "label": row["label"],
            "text": " ".join(str(w["word"]) for w in words), "words": words,
            "confidence": row["confidence"], "duration_s": row["duration_s"],
            "recording_started_at": started.get(row["call_id"])})
    return {
        "interaction": interaction,
        "summary": summary(interaction, events),
        "calls": [c.to_dict() for c in raw["calls"]],
        "recordings": recordings,
        "transcripts": transcripts,
        "timeline": _timeline(events, transcripts),
    }


def summary(interaction: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """Agent, queue and disposition (latest of each) and how long it lasted."""
    found: dict[str, Any] = {"agent": None, "queue": None, "disposition": None}
    for event in events:
        data = event["data"]
        if event["kind"] == "interaction.assigned" and data.get("agent"):
            found["agent"] = data["agent"]
        elif event["kind"] == "interaction.queued" and data.get("queue"):
            found["queue"] = data["queue"]
        elif event["kind"] == "interaction.disposition_set" and data.get("disposition"):
            found["disposition"] = data["disposition"]
    begin, end = interaction["created_at"], interaction.get("ended_at")
    duration = (datetime.fromisoformat(end) - datetime.fromisoformat(begin)).total_seconds() \
        if end else None
    return {**found, "channel": interaction["channel"], "started_at": begin,
            "duration_s": round(duration, 1) if duration is not None else None}


def _recording_starts(events: list[dict[str, Any]]) -> dict[str, str]:
    """Each call's first recording.started: the origin of its stereo file's timeline."""
    starts: dict[str, str] = {}
    for event in events:
        if event["kind"] == "recording.started" and event.get("call_id"):
            starts.setdefault(event["call_id"], event["at"])
    return starts


def phrases(words: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Words grouped into phrases at pauses of PHRASE_GAP_S or more."""
    groups: list[list[dict[str, Any]]] = []
    for word in words:
        if groups and float(word["start"]) - float(groups[-1][-1]["end"]) < PHRASE_GAP_S:
            groups[-1].append(word)
        else:
            groups.append([word])
    return groups


def _timeline(events: list[dict[str, Any]],
              transcripts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for event in events:
        if event["kind"] in LINE_KINDS:
            data = event["data"]
            sender = data.get("from") or ("customer" if event["kind"].endswith("received")
                                          else "agent")
            items.append({"type": "line", "at": event["at"], "kind": event["kind"],
                          "from": sender, "agent": data.get("agent"),
                          "text": data.get("text", ""), "event_id": event["id"]})
        else:
            items.append({"type": "event", "at": event["at"], "kind": event["kind"],
                          "call_id": event.get("call_id"), "data": event["data"],
                          "event_id": event["id"]})
    for transcript in transcripts:
        origin = transcript["recording_started_at"]
        if origin is None:
            continue
        base = datetime.fromisoformat(origin)
        for group in phrases(transcript["words"]):
            start = float(group[0]["start"])
            at = base + timedelta(seconds=start)
            items.append({"type": "speech", "at": at.isoformat(timespec="microseconds"),
                          "call_id": transcript["call_id"], "label": transcript["label"],
                          "channel": transcript["channel"], "start": start,
                          "end": float(group[-1]["end"]),
                          "text": " ".join(str(w["word"]) for w in group)})
    items.sort(key=lambda item: datetime.fromisoformat(item["at"]))
    return items


def snippet(match: Match, word: str) -> dict[str, Any]:
    """A short, redacted excerpt around the first occurrence of `word`."""
    needle = word.lower()
    if match.source == "transcript":
        words = redact_words(match.words)
        index = next((i for i, w in enumerate(words)
                      if needle in str(w["word"]).lower()), None)
        if index is None:  # the word spans two words, or was redacted
            index = 0
        low, high = max(0, index - SNIPPET_WORDS), index + SNIPPET_WORDS + 1
        text = " ".join(str(w["word"]) for w in words[low:high])
        text = ("… " if low else "") + text + (" …" if high < len(words) else "")
        start = words[index]["start"] if words and words[index]["word"] != REDACTED else None
        return {"source": "transcript", "label": match.label, "call_id": match.call_id,
                "text": text, "start": start}
    text = redact_text(match.text)
    at = max(0, text.lower().find(needle))
    low, high = max(0, at - SNIPPET_CHARS), at + len(word) + SNIPPET_CHARS
    excerpt = ("…" if low else "") + text[low:high] + ("…" if high < len(text) else "")
    return {"source": "line", "label": match.label, "call_id": None, "text": excerpt,
            "start": None}
