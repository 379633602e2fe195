"""The flow engine as the voice channel uses it: which flow a call runs, and running it.

VoiceService asks `pick(number)` when a call comes in (the flow and the
snapshot of all flows it will run on, so hot reload never changes a call in
progress) and `run(call, picked, info)` to run it. Everything a flow needs
from outside (store, router, HTTP, prompt cache) is built here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..store import Store
from .backends import StoreFlowStore
from .context import CallControl, FlowContext, FlowServices, NoAgentsRouter, Router
from .http_client import AiohttpClient
from .model import Flow
from .prompts import PromptCache
from .registry import FlowRegistry, FlowSet
from .runner import run_flow

log = logging.getLogger("voicecenter.flows")

_USER_PART = re.compile(r"sips?:([^@;>]+)@")


@dataclass(frozen=True)
class Picked:
    flow: Flow
    flows: FlowSet


def call_variables(call_id: str, info: dict[str, Any]) -> dict[str, Any]:
    """What every flow knows at its start (checker.BUILTINS names them)."""
    caller = _USER_PART.search(str(info.get("from") or ""))
    return {"call_id": call_id, "caller_id": caller.group(1) if caller else "",
            "called_number": info.get("called_number") or ""}


class FlowRuntime:
    def __init__(self, flows_dir: Path, sounds: Path, data_dir: Path, recordings: Path,
                 entry_points: dict[str, str], store: Store | None = None,
                 router: Router | None = None, poll_interval_s: float = 1.0) -> None:
        self.sounds = sounds
        self.entry_points = entry_points
        self.store = store
        self.poll_interval_s = poll_interval_s
        self.registry = FlowRegistry(flows_dir, sounds, self._store_version if store else None)
        self.services = FlowServices(
            store=StoreFlowStore(store) if store else None, router=router or NoAgentsRouter(),
            http=AiohttpClient(), prompts=PromptCache(data_dir / "prompts"),
            recordings=recordings)
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> list[str]:
        """Load every flow (errors are returned and logged), then watch for edits."""
        errors = await asyncio.to_thread(self.registry.reload)
        await self.registry.flush_versions()
        for number, name in self.entry_points.items():
            if name not in self.registry.current:
                log.error("entry point %s names flow %r, which is not loaded", number, name)
        self._watcher = asyncio.create_task(self.registry.watch(self.poll_interval_s),
                                            name="flow-registry")
        return errors

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        http = self.services.http
        if isinstance(http, AiohttpClient):
            await http.close()

    def set_router(self, router: Router) -> None:
        """Wire the real router (until then nobody answers queues)."""
        self.services.router = router

    def pick(self, number: str) -> Picked | None:
        """The flow for a called number: an exact entry point, else the longest
        prefix entry point (`"1500*"`: 1500 followed by anything, e.g. a call-in code)."""
        flows = self.registry.snapshot()
        name = self.entry_points.get(number)
        if name is None:
            stems = [k for k in self.entry_points
                     if k.endswith("*") and number.startswith(k[:-1])]
            name = self.entry_points[max(stems, key=len)] if stems else ""
        flow = flows.get(name)
        return Picked(flow, flows) if flow else None

    async def run(self, call: CallControl, picked: Picked, info: dict[str, Any]) -> str:
        services = FlowServices(**{**vars(self.services), "flows": picked.flows})
        variables = call_variables(call.call_id, info)
        variables.setdefault("language", picked.flow.variables.get("language", "en"))
        ctx = FlowContext(call=call, sounds=self.sounds, services=services,
                          variables=variables)
        return await run_flow(picked.flow, ctx)

    async def _store_version(self, flow: Flow) -> None:
        from .versions import save_version

        assert self.store is not None
        await save_version(self.store, flow)
