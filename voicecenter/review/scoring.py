"""Scorecards: validating a reviewer's answers and computing the total.

The total is a weighted percentage: each answer counts as value/max of its
question, weighted by the question's weight, so a yes/no question (max 1)
and a 1-5 question weigh what the configuration says, not what their scales
happen to be. It is computed here, on the server, so a page cannot send a
total that does not match its answers. Every question must be answered: a
total over some questions only would compare unlike with like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class ScoreError(ValueError):
    """Answers that do not fit the scorecard; the message says which and why."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    weight: float
    max: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "weight": self.weight, "max": self.max}


def questions_of(configured: Sequence[Any]) -> list[Question]:
    """Questions from the settings' qa.scorecard entries (or dicts with the same keys)."""
    out = []
    for item in configured:
        get = item.get if isinstance(item, Mapping) else lambda k, i=item: getattr(i, k)
        out.append(Question(str(get("id")), str(get("text")), float(get("weight")),
                            int(get("max"))))
    return out


def score(questions: Sequence[Question], answers: object) -> tuple[dict[str, int], float]:
    """The answers checked against the questions, and the total (0-100, one decimal)."""
    if not isinstance(answers, Mapping) or not answers:
        raise ScoreError("answers must be an object of question id -> value")
    by_id = {q.id: q for q in questions}
    unknown = sorted(str(k) for k in answers if k not in by_id)
    if unknown:
        raise ScoreError(f"unknown question(s): {', '.join(unknown)}",
                         {"unknown": unknown, "questions": list(by_id)})
    missing = [q.id for q in questions if q.id not in answers]
    if missing:
        raise ScoreError(f"unanswered question(s): {', '.join(missing)}", {"missing": missing})
    checked: dict[str, int] = {}
    for question in questions:
        value = answers[question.id]
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole or not 0 <= value <= question.max:
            raise ScoreError(
                f"answer to {question.id!r} must be an integer from 0 to {question.max}",
                {"question": question.id, "value": value, "max": question.max})
        checked[question.id] = int(value)
    weights = sum(q.weight for q in questions)
    earned = sum(q.weight * checked[q.id] / q.max for q in questions)
    return checked, round(100.0 * earned / weights, 1)
