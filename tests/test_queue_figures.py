"""Queue figures from what the routing service sees, on a fake clock."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from voicecenter.distribution.figures import FiguresPublisher, QueueFigures
from voicecenter.flows.context import QueueRequest
from voicecenter.flows.nodes.queue_callback import announcement, spoken_wait
from voicecenter.routing.model import Agent, AgentState, Channel, Interaction
from voicecenter.routing.router import Router
from voicecenter.settings import Settings, StoreSettings
from voicecenter.store import open_store


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def figures_with_agents(*states: AgentState) -> tuple[QueueFigures, Router, Clock]:
    router, clock = Router(), Clock()
    for i, state in enumerate(states):
        router.add_agent(Agent(id=f"a{i}", skills={"support": 5}, state=state))
    router.add_agent(Agent(id="sales", skills={"sales": 5}, state=AgentState.AVAILABLE))
    return QueueFigures(router, clock, service_level_s=20), router, clock


def test_waiting_service_level_asa_aht_and_abandoned() -> None:
    figures, _, clock = figures_with_agents(AgentState.AVAILABLE, AgentState.BUSY)
    figures.queued("a", "support", ["support"])
    clock.t = 5
    figures.queued("b", "support")
    clock.t = 12
    snap = figures.snapshot("support")
    assert (snap["waiting"], snap["longest_wait_s"]) == (2, 12.0)
    clock.t = 15
    figures.answered("a")  # 15 s: within the service level
    clock.t = 40
    figures.left("b", "abandoned")  # after 35 s
    figures.queued("c", "support")
    clock.t = 70
    figures.answered("c")  # 30 s: too late for the service level
    clock.t = 130
    figures.ended("a")  # handled 115 s
    snap = figures.snapshot("support")
    assert snap["waiting"] == 0 and snap["longest_wait_s"] == 0.0
    assert (snap["answered"], snap["abandoned"]) == (2, 1)
    assert snap["service_level"] == {"threshold_s": 20, "percent": 33.3}
    assert (snap["asa_s"], snap["aht_s"]) == (22.5, 115.0)
    # Two staffed support agents: the next caller waits one handle time.
    assert snap["estimated_wait_s"] == 115.0
    assert [a["id"] for a in snap["agents"]] == ["a0", "a1"]
    assert snap["agents"][1]["state"] == "busy"


def test_a_timeout_is_not_an_abandon_and_old_samples_leave_the_window() -> None:
    figures, _, clock = figures_with_agents(AgentState.AVAILABLE)
    figures.window_s = 60
    figures.queued("a", "support", ["support"])
    clock.t = 30
    figures.left("a", "timeout")
    figures.queued("b", "support")
    clock.t = 31
    figures.left("b", "abandoned")
    assert figures.snapshot("support")["abandoned"] == 1
    clock.t = 100
    snap = figures.snapshot("support")
    assert (snap["abandoned"], snap["service_level"]["percent"]) == (0, None)


def test_estimate_grows_with_position_and_shrinks_with_staff() -> None:
    figures, router, _ = figures_with_agents(AgentState.AWAY)
    figures.default_handle_s = 100
    for i in range(5):
        router.enqueue(Interaction(id=f"i{i}", channel=Channel.VOICE, skills={"support": 1},
                                   enqueued_at=float(i)))
        figures.queued(f"i{i}", "support", ["support"], at=float(i))
    assert [figures.position(f"i{i}") for i in range(5)] == [1, 2, 3, 4, 5]
    assert figures.position("gone") is None
    # Nobody staffed counts as one agent: the estimate never divides by zero.
    assert figures.estimated_wait("support", 3) == 300.0
    router.add_agent(Agent(id="b", skills={"support": 1}, state=AgentState.BUSY))
    router.add_agent(Agent(id="c", skills={"support": 1}, state=AgentState.WRAP_UP))
    assert figures.estimated_wait("support", 3) == 200.0
    assert figures.estimated_wait("support", 2) == 100.0


def test_agents_show_state_and_time_in_state() -> None:
    figures, router, clock = figures_with_agents(AgentState.AVAILABLE)
    figures.queued("x", "support", ["support"])
    clock.t = 50
    router.set_agent_state("a0", AgentState.AWAY, 20, "lunch")
    agents = figures.snapshot("support")["agents"]
    assert agents == [{"id": "a0", "state": "away", "reason": "lunch", "in_state_s": 30.0}]


async def test_figures_go_out_through_the_outbox_on_the_queue_topic(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/f.db"
    store = await open_store(Settings(store=StoreSettings(url=url)))
    try:
        figures, _, _ = figures_with_agents(AgentState.AVAILABLE)
        publisher = FiguresPublisher(store, figures, period_s=0.05)
        assert await publisher.publish_once() == 0  # no queue seen yet: nothing to say
        figures.queued("a", "support", ["support"])
        figures.queued("b", "billing", ["billing"])
        assert await publisher.publish_once() == 2
        rows = await store.outbox.all()
        assert [r.topic for r in rows] == ["voicecenter/queues/billing/figures",
                                           "voicecenter/queues/support/figures"]
        payload = json.loads(rows[1].payload)
        assert payload["kind"] == "queue.figures" and payload["data"]["waiting"] == 1
    finally:
        await store.close()


def test_unknown_queue_is_a_key_error() -> None:
    figures, _, _ = figures_with_agents()
    with pytest.raises(KeyError):
        figures.snapshot("nope")


class SaidCache:
    """A prompt cache that returns the text it was asked to say as the file name."""

    async def text(self, text: str, language: str | None = None) -> Path:
        return Path(text)


async def test_the_announcement_says_position_and_wait_from_handle_times() -> None:
    figures, router, _ = figures_with_agents(AgentState.BUSY)
    for i, wait in enumerate((0.0, 1.0, 2.0)):
        router.enqueue(Interaction(id=f"c{i}", channel=Channel.VOICE, skills={"support": 1},
                                   enqueued_at=wait))
        figures.queued(f"c{i}", "support", ["support"], at=wait)
    figures.queues["support"].handled.append((0.0, 150.0))  # one call of 2.5 minutes
    services = SimpleNamespace(router=SimpleNamespace(figures=figures), prompts=SaidCache())
    ctx: Any = SimpleNamespace(services=services, variables={}, render=lambda text: text)
    request = QueueRequest(call_id="c2", queue="support", skills=("support",), priority=0)
    said = await announcement(ctx, request, "Number $position, about $minutes minutes.")
    assert said == [Path("Number 3, about 8 minutes.")]  # 3 x 150 s = 7.5 min, rounded up
    assert spoken_wait(0) == {"seconds": 0, "minutes": 1}
    no_figures: Any = SimpleNamespace(services=SimpleNamespace(router=object()))
    assert await announcement(no_figures, request, "$position") == []
