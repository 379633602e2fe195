"""The flows directory as a flow designer sees it: one entry per YAML file.

The registry knows what runs (the live FlowSet) and why an edit was refused
(its errors per file); a designer also wants the files that never loaded,
which numbers reach each flow, whether the file on disk is the version that
runs, and the findings `voicecenter flows check` would print. This module
puts those together without touching the registry's state: it only reads it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .checker import check_all
from .model import Flow
from .registry import FlowRegistry, FlowSet

Severity = Literal["error", "warning"]
# "ok": the file on disk runs; "warning": it runs, but `flows check` has findings;
# "refused": its last edit has errors and an older version stays live;
# "error": it never loaded, nothing runs from it.
Status = Literal["ok", "warning", "refused", "error"]

# Flow names as URLs and files carry them: no separators, no "..".
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_FINDING = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<message>.*)$")
_FILE_ONLY = re.compile(r"^(?P<file>[^:]+): (?P<message>.*)$")
_TEXT_CHANNELS = ("chat", "sms")


def valid_name(name: str) -> bool:
    return bool(NAME.match(name)) and ".." not in name


def content_version(text: str) -> str:
    """The version id the loader gives this text (so disk and live can be compared)."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    message: str
    severity: Severity

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message,
                "severity": self.severity,
                "where": f"{self.file}:{self.line}" if self.line else self.file}


@dataclass
class FlowFile:
    name: str
    path: Path
    live: Flow | None
    file_version: str | None
    findings: list[Finding] = field(default_factory=list)
    entry_points: list[str] = field(default_factory=list)

    @property
    def status(self) -> Status:
        if self.live is None:
            return "error"
        if any(f.severity == "error" for f in self.findings):
            return "refused"
        return "warning" if self.findings else "ok"

    def summary(self) -> dict[str, Any]:
        live = self.live
        return {
            "name": self.name, "file": self.path.name, "status": self.status,
            "description": live.description if live else "",
            "entry_points": self.entry_points,
            "live": None if live is None else {
                "version": live.version, "start": live.start, "nodes": len(live.nodes)},
            "file_version": self.file_version,
            # False while the poller has not picked an edit up yet, or when it was refused.
            "file_is_live": live is not None and live.version == self.file_version,
            "errors": sum(f.severity == "error" for f in self.findings),
            "warnings": sum(f.severity == "warning" for f in self.findings),
        }


def parse_finding(text: str, directory: Path, severity: Severity) -> Finding:
    """`path:line: message` (what the loader and checker say) as parts."""
    match = _FINDING.match(text) or _FILE_ONLY.match(text)
    if match is None:
        return Finding("", 0, text, severity)
    line = int(match.groupdict().get("line") or 0)
    return Finding(_display(match["file"], directory), line, match["message"], severity)


def _display(file: str, directory: Path) -> str:
    path = Path(file)
    try:
        return str(path.resolve().relative_to(directory.resolve()))
    except (ValueError, OSError):
        return file


class Catalog:
    """Builds FlowFile entries from a registry; keeps the last full check per snapshot."""

    def __init__(self, registry: FlowRegistry, entry_points: Mapping[str, str]) -> None:
        self.registry = registry
        self.entry_points = dict(entry_points)
        self._checked: tuple[FlowSet, list[str]] | None = None

    def _full_check(self, live: FlowSet) -> list[str]:
        """What `flows check` adds to the registry's own check (voice-only nodes in
        chat/SMS flows); computed once per live snapshot."""
        if self._checked is not None and self._checked[0] is live:
            return self._checked[1]
        text_flows = [self.entry_points[c] for c in _TEXT_CHANNELS if c in self.entry_points]
        found = check_all(live, self.registry.sounds, text_flows)
        self._checked = (live, found)
        return found

    def files(self) -> dict[str, FlowFile]:
        """Every *.yaml file by flow name (blocking: reads the files; run in a thread)."""
        registry = self.registry
        directory = registry.directory
        live = registry.snapshot()
        errors = dict(registry.errors)
        by_source = {flow.source: flow for flow in live.values() if flow.source is not None}
        warnings: dict[str, list[str]] = {}
        for text in self._full_check(live):
            warnings.setdefault(text.split(":", 1)[0], []).append(text)
        entries: dict[str, FlowFile] = {}
        for path in sorted(directory.glob("*.yaml")):
            flow = by_source.get(path)
            try:
                file_version: str | None = content_version(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                file_version = None
            name = flow.name if flow is not None else path.stem
            if name in entries:  # two files naming the same flow: keep both visible
                name = path.stem
            entry = FlowFile(name=name, path=path, live=flow, file_version=file_version)
            entry.findings += [parse_finding(line, directory, "error")
                               for line in errors.get(path, [])]
            entry.findings += [parse_finding(line, directory, "warning")
                               for line in warnings.get(str(path), [])]
            entries[name] = entry
        for number, name in sorted(self.entry_points.items()):
            entry = entries.get(name)
            if entry is not None:
                entry.entry_points.append(number)
                if entry.live is None:
                    entry.findings.append(Finding(
                        entry.path.name, 0,
                        f"entry point {number} names this flow, which is not loaded: "
                        f"{'calls' if number.isdigit() else 'conversations'} there are "
                        "refused", "error"))
        return entries
