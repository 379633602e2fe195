"""Flows as the server holds them: hot-reloaded, versioned, never half-edited.

The registry polls the flows directory's mtimes (no inotify dependency).
A changed file is loaded and checked against the other flows; if it has any
error it is refused, its errors are logged, and the last good version stays
live. Every accepted version is kept. A call takes a snapshot (FlowSet) when
it starts and runs on it to the end, subflows included, so an edit never
changes a call in progress; the next call gets the new version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path

from .checker import check_all
from .loader import load_flow
from .model import Flow, FlowError

log = logging.getLogger("voicecenter.flows")

Stamp = tuple[int, int]  # (mtime_ns, size)


class FlowSet(Mapping[str, Flow]):
    """An immutable name -> Flow snapshot, the unit a call runs on."""

    def __init__(self, flows: Mapping[str, Flow]) -> None:
        self._flows = dict(flows)

    def __getitem__(self, name: str) -> Flow:
        return self._flows[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._flows)

    def __len__(self) -> int:
        return len(self._flows)


class FlowRegistry:
    def __init__(self, directory: Path, sounds: Path | None = None,
                 on_version: Callable[[Flow], Awaitable[None]] | None = None) -> None:
        self.directory = directory
        self.sounds = sounds
        self.on_version = on_version
        self.current = FlowSet({})
        self.versions: dict[str, dict[str, Flow]] = {}  # name -> version -> Flow
        self.errors: dict[Path, list[str]] = {}  # the refused edit of each file
        self._stamps: dict[Path, Stamp] = {}
        self._by_path: dict[Path, str] = {}
        self._pending: list[Flow] = []

    def snapshot(self) -> FlowSet:
        return self.current

    def _scan(self) -> dict[Path, Stamp]:
        stamps = {}
        for path in sorted(self.directory.glob("*.yaml")):
            with contextlib.suppress(OSError):
                stat = path.stat()
                stamps[path] = (stat.st_mtime_ns, stat.st_size)
        return stamps

    def reload(self) -> list[str]:
        """Load what changed since the last call; the errors of refused files."""
        stamps = self._scan()
        changed = [p for p, s in stamps.items() if self._stamps.get(p) != s]
        gone = [p for p in self._stamps if p not in stamps]
        if not changed and not gone:
            return []
        flows = dict(self.current)
        for path in gone:
            name = self._by_path.pop(path, None)
            if name is not None:
                flows.pop(name, None)
                log.info("flow %s removed (%s deleted)", name, path)
            self.errors.pop(path, None)
        loaded: dict[Path, Flow] = {}
        problems: dict[Path, list[str]] = {}
        for path in changed:
            try:
                loaded[path] = load_flow(path)
            except FlowError as exc:
                problems[path] = str(exc).splitlines()
        candidate = {**flows, **{f.name: f for f in loaded.values()}}
        findings = check_all(candidate, self.sounds)
        for path, flow in loaded.items():
            mine = [f for f in findings if f.startswith(f"{path}:")]
            if mine:
                problems[path] = mine
                continue
            flows[flow.name] = flow
            self._by_path[path] = flow.name
            if flow.version not in self.versions.setdefault(flow.name, {}):
                self.versions[flow.name][flow.version] = flow
                self._pending.append(flow)
                log.info("flow %s version %s loaded from %s", flow.name, flow.version, path)
        for path, errors in problems.items():
            kept = self._by_path.get(path)
            log.error("flow edit refused%s:\n  %s",
                      f" (version {flows[kept].version} of {kept} stays live)"
                      if kept in flows else "", "\n  ".join(errors))
        self.errors = {**{p: e for p, e in self.errors.items() if p not in changed}, **problems}
        self._stamps = stamps
        self.current = FlowSet(flows)
        return [e for errors in problems.values() for e in errors]

    async def flush_versions(self) -> None:
        """Hand newly accepted versions to on_version (which stores them)."""
        pending, self._pending = self._pending, []
        for flow in pending:
            if self.on_version is not None:
                try:
                    await self.on_version(flow)
                except Exception:
                    log.exception("flow %s version %s not stored", flow.name, flow.version)

    async def watch(self, interval_s: float = 1.0) -> None:
        """Poll for edits until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await asyncio.to_thread(self.reload)
            except Exception:  # a watcher that dies silently would freeze every flow
                log.exception("flow reload failed")
            await self.flush_versions()
