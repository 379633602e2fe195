"""Matching what a caller said to a menu's options.

A grammar lets words come in any order and the recognizer may drop or add a
word, so the result is matched to the closest option rather than compared as
a string: word overlap first, character similarity to break ties.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping, Sequence

THRESHOLD = 0.5


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.findall(r"\w+", text))


def similarity(heard: str, phrase: str) -> float:
    """0..1: how well `heard` matches `phrase`."""
    a, b = normalize(heard), normalize(phrase)
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    words_a, words_b = set(a.split()), set(b.split())
    overlap = len(words_a & words_b) / len(words_a | words_b)
    contained = 1.0 if words_b <= words_a else 0.0
    chars = difflib.SequenceMatcher(None, a, b).ratio()
    return max(overlap, 0.9 * contained, chars)


def closest(heard: str, options: Mapping[str, Sequence[str]],
            threshold: float = THRESHOLD) -> tuple[str | None, float]:
    """The option whose phrases best match `heard`, and the score (None below threshold)."""
    best, score = None, 0.0
    for option, phrases in options.items():
        for phrase in phrases:
            value = similarity(heard, phrase)
            if value > score:
                best, score = option, value
    return (best, score) if score >= threshold else (None, score)


# A grammar cannot say "none of these": the Korean demo model (it has no
# [unk] word) maps speech outside the grammar onto the nearest option, at a
# word confidence of about 0.5-0.7, while real matches come back near 1.0.
# Below this, a result is treated as no match rather than trusted.
MIN_CONFIDENCE = 0.8


def trusted(confidence: float, minimum: float = MIN_CONFIDENCE) -> bool:
    return confidence >= minimum
