"""Report arithmetic (service level, ASA, AHT...) and the figures' restore, without a server.

Contacts are built from timeline events exactly as the store hands them
out; the store-backed tests write those events through the store's own
repositories and read them back with the reports' query.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine as create_sync_engine

from voicecenter.distribution.figures import QueueFigures
from voicecenter.distribution.figures_history import FiguresHistory
from voicecenter.reports.contacts import build_contacts
from voicecenter.reports.csv_export import AGENT_COLUMNS, QUEUE_COLUMNS, to_csv
from voicecenter.reports.summary import (
    average_handle_time,
    average_speed_of_answer,
    daily_by_agent,
    daily_by_queue,
    service_level,
    totals,
)
from voicecenter.routing.config import RouterConfig
from voicecenter.routing.router import Router
from voicecenter.settings import Settings
from voicecenter.store import open_store
from voicecenter.store.contact_events import contact_events
from voicecenter.store.figure_samples import FigureSample
from voicecenter.store.models import Base

T0 = datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


@dataclass
class Ev:
    interaction_id: str
    kind: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    call_id: str | None = None


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def answered_call(iid: str, queued: float, bridged: float, ended: float, agent: str,
                  queue: str = "support", disposition: tuple[float, str] | None = None,
                  ) -> list[Ev]:
    events = [
        Ev(iid, "interaction.queued", at(queued), {"queue": queue, "skills": ["support"]}),
        Ev(iid, "interaction.assigned", at(bridged - 2), {"agent": agent}),
        Ev(iid, "call.bridged", at(bridged), {"agent": agent}, call_id=f"{iid}-c"),
        Ev(iid, "call.ended", at(ended), {"reason": "bye"}, call_id=f"{iid}-agentleg"),
        Ev(iid, "call.ended", at(ended), {"reason": "bye"}, call_id=f"{iid}-c"),
        Ev(iid, "interaction.ended", at(ended), {}),
    ]
    if disposition is not None:
        events.append(Ev(iid, "interaction.disposition_set", at(disposition[0]),
                         {"agent": agent, "disposition": disposition[1]}))
    return events


def abandoned_call(iid: str, queued: float, left: float, offered_to: str | None = None,
                   reason: str = "abandoned") -> list[Ev]:
    events = [Ev(iid, "interaction.queued", at(queued), {"queue": "support"})]
    if offered_to:
        events.append(Ev(iid, "interaction.assigned", at(left - 1), {"agent": offered_to}))
    events.append(Ev(iid, "interaction.dequeued", at(left),
                     {"queue": "support", "reason": reason, "waited_s": left - queued}))
    return events


def test_service_level_asa_and_aht_by_hand() -> None:
    # 3 answered after 5, 20 and 40 s, 1 abandoned: 2 of 4 within 20 s.
    assert service_level([5, 20, 40], 1, 20) == 50.0
    assert service_level([], 0, 20) is None
    assert service_level([], 2, 20) == 0.0
    assert average_speed_of_answer([5, 20, 40]) == pytest.approx(21.7)
    assert average_speed_of_answer([]) is None
    # 2 conversations, 300 s of talk and 60 s of wrap-up: 180 s each.
    assert average_handle_time(300, 60, 2) == 180.0
    assert average_handle_time(0, 0, 0) is None


def test_daily_queue_report_from_timelines() -> None:
    events = [
        *answered_call("a", 0, 5, 125, "alice", disposition=(155, "sale")),  # wait 5, talk 120
        *answered_call("b", 10, 40, 100, "bob"),  # wait 30 (late), talk 60
        *abandoned_call("c", 20, 32, offered_to="alice"),  # rang alice, caller gave up
        *abandoned_call("d", 30, 90, reason="timeout"),  # overflowed: not in service level
        Ev("e", "interaction.queued", at(50), {"queue": "support"}),
        Ev("e", "interaction.ended", at(70), {}),  # cut by a restart: lost, counted abandoned
        Ev("f", "interaction.queued", at(60), {"queue": "support"}),
        Ev("f", "callback.requested", at(65), {}),
        Ev("g", "interaction.queued", at(80), {"queue": "support"}),  # still waiting
    ]
    contacts = build_contacts(events)
    assert [c.outcome for c in contacts] == ["answered", "answered", "abandoned", "timeout",
                                             "lost", "callback", "waiting"]
    (row,) = daily_by_queue(contacts, UTC_ZONE, 20)
    assert row["day"] == "2026-11-30" and row["queue"] == "support"
    assert (row["offered"], row["answered"], row["abandoned"], row["timeouts"],
            row["callbacks"], row["waiting"]) == (7, 2, 2, 1, 1, 1)
    # 1 of (2 answered + 2 abandoned) answered within 20 s.
    assert row["service_level"] == 25.0 and row["answered_within_threshold"] == 1
    assert row["asa_s"] == 17.5  # (5 + 30) / 2
    assert row["talk_s"] == 180.0 and row["wrap_up_s"] == 30.0
    assert row["aht_s"] == 105.0  # (180 + 30) / 2
    assert row["longest_wait_s"] == 60.0
    assert row["dispositions"] == {"sale": 1}

    summed = totals([row], 20)
    assert summed["service_level"] == 25.0 and summed["asa_s"] == 17.5
    assert summed["aht_s"] == 105.0


def test_agent_report_splits_talk_at_a_transfer() -> None:
    events = answered_call("a", 0, 10, 190, "alice", disposition=(200, "resolved"))
    events.insert(3, Ev("a", "call.transferred", at(70), {"from": "alice", "to": "bob"},
                        call_id="a-c"))
    events += abandoned_call("b", 100, 130, offered_to="alice")
    events += [Ev("c", "interaction.queued", at(140), {"queue": "support"}),
               Ev("c", "interaction.assigned", at(141), {"agent": "bob"}),
               Ev("c", "interaction.offer_missed", at(160), {"agent": "bob"}),
               *answered_call("c", 140, 170, 230, "alice")[1:]]
    rows = {r["agent"]: r for r in daily_by_agent(build_contacts(events), UTC_ZONE, 20)}
    alice, bob = rows["alice"], rows["bob"]
    assert (alice["offered"], alice["answered"], alice["abandoned"], alice["handled"]) == \
        (3, 2, 1, 2)
    assert alice["talk_s"] == 60.0 + 60.0  # 10->70 on a, 170->230 on c
    assert bob["talk_s"] == 120.0 and bob["handled"] == 1 and bob["answered"] == 0
    assert (bob["offered"], bob["missed_offers"]) == (1, 1)
    # The disposition was set by alice 10 s after the end: her wrap-up.
    assert alice["wrap_up_s"] == 10.0 and alice["dispositions"] == {"resolved": 1}
    # a after 10 s, c after 30 s, and b hung up while alice's phone rang: 1 of 3.
    assert alice["service_level"] == 33.3
    assert alice["asa_s"] == 20.0
    assert alice["aht_s"] == 65.0  # (120 talk + 10 wrap-up) / 2


def test_days_are_cut_in_the_report_time_zone() -> None:
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    events = [Ev("x", "interaction.queued", late, {"queue": "q"}),
              Ev("x", "interaction.dequeued", late + timedelta(seconds=5),
                 {"reason": "abandoned"})]
    contacts = build_contacts(events)
    assert daily_by_queue(contacts, UTC_ZONE, 20)[0]["day"] == "2026-11-30"
    assert daily_by_queue(contacts, ZoneInfo("Europe/Paris"), 20)[0]["day"] == "2026-12-01"


def test_csv_has_fixed_columns_and_no_formulas() -> None:
    contacts = build_contacts(answered_call("a", 0, 5, 65, "alice", disposition=(70, "=cmd")))
    text = to_csv(daily_by_queue(contacts, UTC_ZONE, 20), QUEUE_COLUMNS)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(QUEUE_COLUMNS)
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["answered"] == "1" and row["service_level"] == "100.0"
    assert row["dispositions"] == "'=cmd=1"
    empty = list(csv.reader(io.StringIO(to_csv([], AGENT_COLUMNS))))
    assert empty == [list(AGENT_COLUMNS)]


# -- with a real store ----------------------------------------------------------------
def settings_for(db: Path) -> Settings:
    return Settings.model_validate({"store": {"url": f"sqlite+aiosqlite:///{db}"},
                                    "paths": {"data_dir": str(db.parent)}})


async def stored_call(store: Any, queue: str, waited_s: float, talk_s: float | None,
                      agent: str = "alice") -> str:
    """A caller queued ``waited_s`` ago... written with the store's own repositories."""
    call = await store.calls.create_call(direction="inbound", from_uri="sip:c@x",
                                         to_uri="sip:200@x")
    iid = call.interaction_id
    now = datetime.now(UTC)
    begin = now - timedelta(seconds=waited_s + (talk_s or 0) + 1)
    await store.interactions.add_event(iid, "interaction.queued", {"queue": queue,
                                                                   "skills": ["s"]}, at=begin)
    left = begin + timedelta(seconds=waited_s)
    if talk_s is None:
        await store.interactions.add_event(iid, "interaction.dequeued",
                                           {"queue": queue, "reason": "abandoned"}, at=left)
        return iid
    await store.interactions.add_event(iid, "call.bridged", {"agent": agent}, call_id=call.id,
                                       at=left)
    await store.interactions.add_event(iid, "call.ended", {"reason": "bye"}, call_id=call.id,
                                       at=left + timedelta(seconds=talk_s))
    return iid


async def test_figures_restored_from_the_store_and_samples_kept(tmp_path: Path) -> None:
    db = tmp_path / "vc.db"
    store = await open_store(settings_for(db))
    try:
        await stored_call(store, "support", 4, 30)
        await stored_call(store, "support", 50, 20)
        await stored_call(store, "support", 12, None)
        await stored_call(store, "sales", 3, 10)
        events = await contact_events(store, datetime.now(UTC) - timedelta(hours=1),
                                      datetime.now(UTC) + timedelta(minutes=1), "support")
        assert {e.kind for e in events} >= {"interaction.queued", "call.bridged", "call.ended",
                                            "interaction.dequeued"}
        assert len(build_contacts(events)) == 3

        clock = [1000.0]
        figures = QueueFigures(Router(RouterConfig()), lambda: clock[0], service_level_s=20)
        history = FiguresHistory(store, figures, period_s=0.1)
        restored = await history.restore()
        assert restored == {"support": 5, "sales": 2}
        support = figures.snapshot("support")
        assert (support["answered"], support["abandoned"], support["waiting"]) == (2, 1, 0)
        assert support["service_level"]["percent"] == pytest.approx(33.3)
        assert support["asa_s"] == pytest.approx(27.0, abs=0.2)
        assert support["aht_s"] == pytest.approx(25.0, abs=0.2)
        assert support["skills"] == ["s"]
        # The restored facts leave the window when their time comes, on the new clock.
        clock[0] += figures.window_s
        assert figures.snapshot("support")["answered"] == 0

        assert await history.sample_once() == 2
        since = datetime.now(UTC) - timedelta(minutes=5)
        samples = await store.figure_samples.since(since, "sales")
        assert [s.queue for s in samples] == ["sales"]
        assert await store.figure_samples.queues(since) == ["sales", "support"]
        old = FigureSample.of_snapshot(datetime.now(UTC) - timedelta(days=40),
                                       figures.snapshot("sales"))
        await store.figure_samples.add([old])
        assert await store.figure_samples.prune(datetime.now(UTC) - timedelta(days=35)) == 1
    finally:
        await store.close()

    # The model describes exactly what migration 0008 made.
    engine = create_sync_engine(f"sqlite:///{db}")
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert [d for d in diff if "queue_figure_samples" in repr(d)] == []
