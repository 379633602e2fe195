"""FlowStore implementations: the real store, and memory for simulate and tests.

Both decide PIN attempts with the same pure function (customers.decide), so
`flows simulate` authenticates exactly as a real call does, without writing
a failed attempt or a lockout into the real database.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from ..store import Store
from ..store.customers import CustomerRepository, decide, public
from ..store.errors import InvalidState, NotFound
from .context import AuthResult

log = logging.getLogger("voicecenter.flows")


class StoreFlowStore:
    """Flows writing to the interaction of their call, in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.customers = CustomerRepository(store)
        self._interactions: dict[str, str] = {}

    async def _interaction(self, call_id: str) -> str:
        if call_id not in self._interactions:
            if len(self._interactions) > 10_000:
                self._interactions.clear()
            self._interactions[call_id] = (await self.store.calls.get(call_id)).interaction_id
        return self._interactions[call_id]

    async def attach(self, call_id: str, data: dict[str, Any]) -> None:
        await self.store.interactions.attach(await self._interaction(call_id), data)

    async def interaction_event(self, call_id: str, kind: str, data: dict[str, Any],
                                state: str | None = None) -> None:
        interaction = await self._interaction(call_id)
        try:
            if state is not None:
                await self.store.interactions.set_state(interaction, state, kind, data)
            else:
                await self.store.interactions.add_event(interaction, kind, data, call_id=call_id)
        except (InvalidState, NotFound) as exc:  # the call ended meanwhile
            log.info("call=%s %s not recorded: %s", call_id, kind, exc)

    async def authenticate(self, account: str, pin: str, *, max_failures: int,
                           lockout_s: int) -> AuthResult:
        status, customer, locked_now = await self.customers.authenticate(
            account, pin, max_failures=max_failures, lockout_s=lockout_s)
        return AuthResult(status, customer, locked_now)

    async def customer_by_caller_id(self, caller_id: str) -> dict[str, Any] | None:
        return await self.customers.by_caller_id(caller_id)


class MemoryFlowStore:
    """Customers, attached data and interaction events kept in memory."""

    def __init__(self, customers: list[dict[str, Any]] | None = None) -> None:
        self.customers: dict[str, dict[str, Any]] = {}
        for row in customers or []:
            self.add(row)
        self.attached: dict[str, Any] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.state = "active"

    def add(self, row: dict[str, Any]) -> None:
        """A customer row as the customers table holds it (pin_hash) or with a plain pin."""
        from ..store.customers import hash_pin

        full = {"id": len(self.customers) + 1, "name": "", "segment": "standard",
                "language": None, "caller_id": None, "attributes": {}, "failed_attempts": 0,
                "locked_until": None, "pin_hash": None, **row}
        if "pin" in full:
            full["pin_hash"] = hash_pin(str(full.pop("pin")), rounds=1000)
        full["account"] = str(full["account"])
        self.customers[full["account"]] = full

    async def attach(self, call_id: str, data: dict[str, Any]) -> None:
        self.attached.update(data)
        self.events.append(("interaction.data_attached", {"attached": data}))

    async def interaction_event(self, call_id: str, kind: str, data: dict[str, Any],
                                state: str | None = None) -> None:
        if state is not None:
            self.state = state
        self.events.append((kind, data))

    async def authenticate(self, account: str, pin: str, *, max_failures: int,
                           lockout_s: int) -> AuthResult:
        row = self.customers.get(account)
        if row is None:
            return AuthResult("unknown")
        status, failures, locked_until = decide(row, pin, datetime.now(UTC), max_failures,
                                                lockout_s)
        row["failed_attempts"], row["locked_until"] = failures, locked_until
        customer = public(row) if status == "ok" else None  # type: ignore[arg-type]
        return AuthResult(status, customer, status == "bad_pin" and locked_until is not None)

    async def customer_by_caller_id(self, caller_id: str) -> dict[str, Any] | None:
        for row in self.customers.values():
            if row.get("caller_id") == caller_id:
                return public(row)  # type: ignore[arg-type]
        return None
