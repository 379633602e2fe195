"""What a reviewer may see: card numbers, PINs and the like are hidden.

Reviewers need the conversation, never the customer's secrets. A recording
pause already keeps most card numbers out of the audio, and flows mask the
digits of variables they mark secret, but secrets still reach the record in
other ways: a caller reads a card number to an agent (transcript), types it
in a chat, keys it on the phone while talking to an agent (DTMF events), or
a flow keeps a PIN in a variable nobody marked secret. So the review hides:

- in any free text (chat and SMS lines, recognized speech, transcripts):
  every run of 4 or more digits, even with spaces, dots or dashes between
  them. Card numbers, PINs, account passwords and social security numbers
  are all such runs, while what QA needs to judge a conversation (words,
  names, small quantities) rarely is. A false hit (a year, a long price)
  costs a reviewer a number; a miss leaks a secret: the rule errs on hiding;
- in a transcript, which has one word per number, any 4 or more number
  words in a row (공 일 이 삼..., "four one one one"), and any word holding
  4 or more digits. The words keep their times, so playback stays in sync;
- DTMF digits a flow collected into a variable the flow marks secret or
  whose name says what it holds (pin, card, cvv, ssn, password, ...), and
  any 4 or more digits keyed outside a flow's collection (to an agent),
  because nothing then tells what they were;
- the value of every variable with such a name, wherever it shows up
  (flow.variable_set, flow.input, attached data).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..speech.transcribe import REDACTED, is_number

MASK = "***"
DIGIT_MASK = "•"
MIN_RUN = 4
# Names of variables whose values are secrets whatever the flow says.
SENSITIVE_NAME = re.compile(
    r"pin|card|cvv|cvc|ssn|social|passw|passcode|secret|otp|iban|security|token",
    re.IGNORECASE)
_DIGIT_RUN = re.compile(r"\d(?:[ .\-/]?\d){" + str(MIN_RUN - 1) + ",}")
_DIGITS = re.compile(r"\d")


def sensitive_name(name: object) -> bool:
    return isinstance(name, str) and bool(SENSITIVE_NAME.search(name))


def redact_text(text: str) -> str:
    """Every run of 4+ digits (with separators) has its digits replaced by •."""
    return _DIGIT_RUN.sub(lambda m: _DIGITS.sub(DIGIT_MASK, m.group(0)), text)


def has_digit_run(text: str) -> bool:
    return bool(_DIGIT_RUN.search(text))


def redact_words(words: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Transcript words with runs of 4+ number words (or 4+ digits in one) hidden."""
    words = [dict(w) for w in words]
    numeric = [is_number(str(w.get("word", ""))) for w in words]
    hide = [len(_DIGITS.findall(str(w.get("word", "")))) >= MIN_RUN for w in words]
    start = 0
    while start < len(words):
        if not numeric[start]:
            start += 1
            continue
        end = start
        while end < len(words) and numeric[end]:
            end += 1
        if end - start >= MIN_RUN:
            for i in range(start, end):
                hide[i] = True
        start = end
    for word, hidden in zip(words, hide, strict=True):
        if hidden:
            word["word"] = REDACTED
    return words


# Event data keys that hold free text from or about the customer; other
# strings in events are ids, paths and reasons, whose hex digits mean nothing.
TEXT_KEYS = frozenset({"text", "value", "digits", "notes", "result", "partial", "utterance",
                       "attached"})


def redact_mapping(values: dict[str, Any], *, all_text: bool = True) -> dict[str, Any]:
    """A copy with sensitive names masked and digit runs hidden, recursively.

    With all_text False only the strings under TEXT_KEYS are searched for
    digit runs (event data: ids and paths stay intact); everything under
    such a key is then treated as free text.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        if sensitive_name(key) and value not in (None, "", MASK):
            out[key] = MASK
        elif all_text or key in TEXT_KEYS:
            out[key] = _redact_value(value)
        elif isinstance(value, dict):
            out[key] = redact_mapping(value, all_text=False)
        else:
            out[key] = value
    return out


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return redact_mapping(value)
    if isinstance(value, list):
        return [_redact_value(v) for v in value]
    return value


def redact_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Timeline events (EventRecord.to_dict()) as a reviewer may see them, in order.

    DTMF digits belong to the first flow.input that follows them on the same
    call (that is where a collect node reports what it gathered); they are
    hidden when that input is secret: its digits were masked by the flow, or
    the node, or the variable the node set, has a sensitive name. Digits no
    input claims are hidden when 4 or more of them were keyed.
    """
    secret_nodes = _secret_nodes(events)
    out = [dict(e, data=dict(e.get("data") or {})) for e in events]
    pending: dict[str | None, list[dict[str, Any]]] = {}
    for event in out:
        kind, data, call = event["kind"], event["data"], event.get("call_id")
        if kind == "dtmf.received":
            pending.setdefault(call, []).append(event)
            continue
        if kind == "flow.input":
            digits = pending.pop(call, [])
            secret = data.get("digits") == MASK or data.get("text") == MASK or \
                (call, data.get("node")) in secret_nodes
            if secret:
                _hide_digits(digits)
                for key in ("digits", "text"):
                    if data.get(key):
                        data[key] = MASK
        elif kind == "flow.variable_set" and sensitive_name(data.get("name")):
            if data.get("value") not in (None, ""):
                data["value"] = MASK
        event["data"] = redact_mapping(data, all_text=False)
    for digits in pending.values():
        if len(digits) >= MIN_RUN:
            _hide_digits(digits)
    return out


def _hide_digits(events: list[dict[str, Any]]) -> None:
    for event in events:
        event["data"] = {**event["data"], "digit": MASK, "redacted": True}


def _secret_nodes(events: list[dict[str, Any]]) -> set[tuple[str | None, Any]]:
    """(call, node) pairs whose input is secret by name: the node's or its variable's."""
    found = set()
    for event in events:
        data = event.get("data") or {}
        node = data.get("node")
        if event["kind"] in ("flow.input", "flow.variable_set", "flow.step") and \
                sensitive_name(node):
            found.add((event.get("call_id"), node))
        if event["kind"] == "flow.variable_set" and sensitive_name(data.get("name")):
            found.add((event.get("call_id"), node))
    return found
