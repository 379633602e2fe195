"""Agents' teams in the store and on the command line, and how a transfer finds a queue."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.server import ROOT
from voicecenter.cli import main
from voicecenter.distribution.transfer_targets import NoSuchQueue, find_queue
from voicecenter.flows.loader import load_flow, load_flows
from voicecenter.settings import Settings, StoreSettings
from voicecenter.store import InvalidAgent, NoSuchAgent, Store, open_store

REALM = "127.0.0.1"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(Settings(store=StoreSettings(
        url=f"sqlite+aiosqlite:///{tmp_path / 'vc.db'}")))
    yield store
    await store.close()


async def test_team_is_stored_changed_and_cleared(store: Store) -> None:
    added = await store.agents.add("alice", "pw", {"sales": 5}, REALM, team=" Night shift ")
    assert added.team == "Night shift" and added.to_dict()["team"] == "Night shift"
    assert (await store.agents.add("bob", "pw", {}, REALM)).team is None
    changed = await store.agents.update("alice", team="Day")
    assert (changed.team, changed.skills) == ("Day", {"sales": 5})
    changed = await store.agents.update("alice", skills={"support": 2})
    assert (changed.team, changed.skills) == ("Day", {"support": 2}), "team left as it was"
    assert (await store.agents.update("alice", team=None)).team is None
    assert [a.team for a in await store.agents.list()] == [None, None]


@pytest.mark.parametrize("team", ["", " ", "/ops", "a" * 65, "x#y"])
async def test_wrong_team_names_are_refused_before_anything_is_written(
    store: Store, team: str
) -> None:
    with pytest.raises(InvalidAgent, match="team"):
        await store.agents.add("carol", "pw", {}, REALM, team=team)
    with pytest.raises(NoSuchAgent):
        await store.agents.get("carol")
    await store.agents.add("carol", "pw", {"sales": 1}, REALM, team="A")
    with pytest.raises(InvalidAgent, match="team"):
        await store.agents.update("carol", team=team, skills={"sales": 9})
    assert (await store.agents.get("carol")).skills == {"sales": 1}


async def test_update_of_a_stranger_or_with_wrong_skills(store: Store) -> None:
    with pytest.raises(NoSuchAgent):
        await store.agents.update("nobody", team="A")
    await store.agents.add("dave", "pw", {}, REALM)
    with pytest.raises(InvalidAgent):
        await store.agents.update("dave", skills={"sales": 11})


def test_cli_adds_an_agent_with_a_team_and_lists_it(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "voicecenter.yaml"
    config.write_text(json.dumps({"paths": {"data_dir": str(tmp_path / "var")},
                                  "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'vc.db'}"}}))
    assert main(["--config", str(config), "agents", "add", "erin", "--password", "pw",
                 "--skills", "sales:3", "--team", "Blue"]) == 0
    assert json.loads(capsys.readouterr().out)["team"] == "Blue"
    assert main(["--config", str(config), "agents", "list"]) == 0
    assert capsys.readouterr().out.strip().split("\t")[-1] == "Blue"
    assert main(["--config", str(config), "agents", "add", "fay", "--password", "pw",
                 "--team", "#bad"]) == 1
    assert "team" in capsys.readouterr().err


# -- which queue a transfer reaches -----------------------------------------------------
def test_a_literal_queue_node_gives_its_own_skills() -> None:
    flow = load_flow(ROOT / "tests" / "fixtures" / "queue_flows" / "support_queue.yaml")
    target = find_queue({flow.name: flow}, "support", {})
    assert (target.flow.name, target.node, target.skills) == ("support_queue", "queue",
                                                               ("support",))
    with pytest.raises(NoSuchQueue):
        find_queue({flow.name: flow}, "sales", {})


def test_a_templated_queue_takes_the_segment_skills_for_the_caller() -> None:
    flows, errors = load_flows(ROOT / "ivr_flows")
    assert not errors
    # main_line: queue "{department}" after a segment with ["{department}",
    # "language_{language}"]; the menu writes sales, support or billing.
    target = find_queue(flows, "billing", {"language": "es"})
    assert (target.node, target.skills) == ("queue", ("billing", "language_es"))
    target = find_queue(flows, "vip", {"language": "en"})
    assert (target.node, target.skills) == ("vip_queue", ("vip", "language_en"))
    # A placeholder the caller has no value for is dropped, not sent as "language_".
    assert find_queue(flows, "sales", {}).skills == ("sales",)
    with pytest.raises(NoSuchQueue):
        find_queue(flows, "marketing", {})
    # A queue routing has already seen callers in is served by the templated node too.
    assert find_queue(flows, "marketing", {}, known={"marketing"}).skills == ("marketing",)
