"""Report rows as CSV, the format supervisors open in a spreadsheet.

Columns are fixed per report (not taken from the first row), so a day with
no dispositions has the same columns as a busy one; dispositions become one
cell, ``code=count`` pairs separated by ``;``. Text that a spreadsheet would
read as a formula is quoted with a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

QUEUE_COLUMNS = ("day", "queue", "offered", "answered", "abandoned", "timeouts", "callbacks",
                 "waiting", "service_level", "answered_within_threshold", "asa_s", "aht_s",
                 "avg_talk_s", "longest_wait_s", "handled", "talk_s", "wrap_up_s",
                 "missed_offers", "dispositions")
AGENT_COLUMNS = ("day", "agent", "offered", "missed_offers", "answered", "abandoned",
                 "service_level", "answered_within_threshold", "asa_s", "aht_s", "avg_talk_s",
                 "handled", "talk_s", "wrap_up_s", "dispositions")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict):
        value = ";".join(f"{key}={count}" for key, count in value.items())
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a spreadsheet would run it as a formula
    return value


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue()
