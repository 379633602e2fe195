"""Customers, lockouts, flow versions and attached data in the real store (SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicecenter.flows.backends import StoreFlowStore
from voicecenter.flows.loader import load_flow
from voicecenter.flows.versions import list_versions, save_version
from voicecenter.settings import Settings
from voicecenter.store import open_store
from voicecenter.store.customers import CustomerExists, CustomerRepository

ROOT = Path(__file__).resolve().parent.parent
MIGRATION = ROOT / "voicecenter" / "store" / "migrations" / "versions"

pytestmark = pytest.mark.skipif(not list(MIGRATION.glob("0002_*.py")),
                                reason="store migration 0002 is not installed")


def settings_for(db: Path) -> Settings:
    return Settings.model_validate(
        {"store": {"url": f"sqlite+aiosqlite:///{db}"}, "paths": {"data_dir": str(db.parent)}})


async def test_demo_customers_and_lockout(tmp_path: Path) -> None:
    store = await open_store(settings_for(tmp_path / "vc.db"))
    try:
        repo = CustomerRepository(store)
        assert [c["account"] for c in await repo.list()] == ["100001", "100002", "100003",
                                                            "100004"]
        flows = StoreFlowStore(store)
        ok = await flows.authenticate("100002", "4321", max_failures=3, lockout_s=60)
        assert ok.status == "ok" and ok.customer and ok.customer["segment"] == "vip"
        assert "pin_hash" not in ok.customer
        results = [await flows.authenticate("100004", pin, max_failures=3, lockout_s=60)
                   for pin in ("1", "2", "3", "2468")]
        assert [r.status for r in results] == ["bad_pin", "bad_pin", "bad_pin", "locked"]
        assert [r.locked_now for r in results] == [False, False, True, False]
        assert (await repo.get("100004"))["locked_until"] is not None
        assert await repo.unlock("100004")
        again = await flows.authenticate("100004", "2468", max_failures=3, lockout_s=60)
        assert again.status == "ok"
        assert (await flows.authenticate("999", "1", max_failures=3, lockout_s=1)).status == \
            "unknown"
        await repo.add("100010", "Joan", pin="9999", caller_id="5551010", segment="vip")
        with pytest.raises(CustomerExists):
            await repo.add("100010", "Joan again")
        assert (await flows.customer_by_caller_id("5551010"))["name"] == "Joan"
    finally:
        await store.close()


async def test_versions_and_attached_data(tmp_path: Path) -> None:
    store = await open_store(settings_for(tmp_path / "vc.db"))
    try:
        flow = load_flow(ROOT / "ivr_flows" / "digits_demo.yaml")
        assert await save_version(store, flow) is True
        assert await save_version(store, flow) is False
        (row,) = await list_versions(store, "digits_demo")
        assert row["version"] == flow.version and "collect" in row["source"]

        call = await store.calls.create_call(direction="inbound", from_uri="sip:a@x",
                                             to_uri="sip:1000@x", called_number="1000")
        flows = StoreFlowStore(store)
        await flows.attach(call.id, {"segment": "vip", "skills": ["vip"]})
        await flows.interaction_event(call.id, "interaction.queued", {"queue": "vip"},
                                      state="queued")
        interaction = await store.interactions.get(call.interaction_id)
        assert interaction.attached == {"segment": "vip", "skills": ["vip"]}
        assert interaction.state == "queued"
        await store.calls.end_call(call.id, "bye")
        # After the call (and its interaction) ended, late events are dropped, not raised.
        await flows.interaction_event(call.id, "interaction.dequeued", {}, state="active")
    finally:
        await store.close()
