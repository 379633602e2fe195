"""/flows: what flow designers read about their flows (read only).

Flows are edited as YAML files and picked up by hot reload; these endpoints
show what came of an edit: whether it loaded (or its errors as file:line),
which version is live and since when, its graph, and the calls that ran each
version. There are no write endpoints on purpose: the files (and whatever
version control holds them) stay the one source of truth.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select

from ..flows.catalog import Catalog, FlowFile, valid_name
from ..flows.rendering import GraphFailed, GraphvizMissing, flow_svg
from ..flows.runtime import FlowRuntime
from ..flows.usage import runs_of, runs_per_version
from ..flows.versions import list_versions
from ..store.customers import flow_versions
from .auth import allow
from .errors import ApiError, bad_request, not_found
from .keys import SERVICES

log = logging.getLogger("voicecenter.api")

routes = web.RouteTableDef()
_VERSION = re.compile(r"^[A-Za-z0-9]{1,64}$")
_CATALOG = "flow_catalog"
READERS = ("supervisor",)  # flow designers sign in as supervisors (admins always may)


def _runtime(request: web.Request) -> FlowRuntime:
    runtime = request.app[SERVICES].voice.runtime
    if runtime is None:
        raise ApiError(503, "flows-unavailable", "the flow engine is not running")
    return runtime


def _catalog(request: web.Request) -> Catalog:
    services = request.app[SERVICES]
    runtime = _runtime(request)
    catalog = services.extras.get(_CATALOG)
    if not isinstance(catalog, Catalog) or catalog.registry is not runtime.registry:
        catalog = Catalog(runtime.registry, services.settings.entry_points)
        services.extras[_CATALOG] = catalog
    return catalog


async def _files(request: web.Request) -> dict[str, FlowFile]:
    return await asyncio.to_thread(_catalog(request).files)


async def _entry(request: web.Request) -> FlowFile:
    name = request.match_info["name"]
    if not valid_name(name):
        raise bad_request("a flow name has letters, digits, '_', '-' or '.' only "
                          "(at most 128, no '..')", {"name": name[:200]})
    entry = (await _files(request)).get(name)
    if entry is None:
        raise not_found("no-such-flow", f"no flow {name!r} in the flows directory")
    return entry


async def _versions(request: web.Request, entry: FlowFile) -> list[dict[str, Any]]:
    store = request.app[SERVICES].store
    rows = await list_versions(store, entry.name)
    counts = await runs_per_version(store, entry.name)
    live = entry.live.version if entry.live else None
    versions = [{"version": row["version"], "loaded_at": row["loaded_at"].isoformat(),
                 "path": row["path"], "runs": counts.pop(row["version"], 0),
                 "live": row["version"] == live} for row in rows]
    # Runs of versions the store has no YAML of (recorded before versions were kept).
    versions += [{"version": v, "loaded_at": None, "path": None, "runs": n, "live": v == live}
                 for v, n in counts.items()]
    return versions


def _live(summary: dict[str, Any], versions: list[dict[str, Any]]) -> dict[str, Any]:
    live = summary["live"]
    if live is not None:
        found = next((v for v in versions if v["live"]), None)
        live = {**live, "loaded_at": found["loaded_at"] if found else None}
    return {**summary, "live": live}


@routes.get("/flows")
@allow(*READERS)
async def list_flows(request: web.Request) -> web.Response:
    """Every flow file: status, entry points, the live version and when it loaded."""
    entries = list((await _files(request)).values())
    live = {(e.live.name, e.live.version) for e in entries if e.live is not None}
    loaded = await _loaded_at(request, live)
    items = []
    for entry in entries:
        summary = entry.summary()
        if entry.live is not None:
            when = loaded.get((entry.live.name, entry.live.version))
            summary["live"] = {**summary["live"],
                               "loaded_at": when.isoformat() if when else None}
        items.append(summary)
    return web.json_response({"items": items})


async def _loaded_at(request: web.Request,
                     versions: set[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """When each (flow, version) was first loaded, in one query (no YAML read)."""
    if not versions:
        return {}
    names = {name for name, _ in versions}
    async with request.app[SERVICES].store.read() as session:
        rows = (await session.execute(
            select(flow_versions.c.flow, flow_versions.c.version, flow_versions.c.loaded_at)
            .where(flow_versions.c.flow.in_(names)))).all()
    return {(r.flow, r.version): r.loaded_at for r in rows if (r.flow, r.version) in versions}


@routes.get("/flows/{name}")
@allow(*READERS)
async def get_flow(request: web.Request) -> web.Response:
    """One flow: findings as file:line, nodes, versions with their runs, the YAML on disk."""
    entry = await _entry(request)
    versions = await _versions(request, entry)
    try:
        source = await asyncio.to_thread(entry.path.read_text, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        source = None
        log.warning("flow %s: cannot read %s: %s", entry.name, entry.path, exc)
    live = entry.live
    body = {
        **_live(entry.summary(), versions),
        "findings": [f.to_dict() for f in entry.findings],
        "nodes": [{"id": n.id, "type": n.type, "line": n.line,
                   "transitions": n.transitions} for n in live.nodes.values()] if live else [],
        "versions": versions,
        "source": source,
        # The YAML that runs, when the file on disk is another (refused or not yet loaded).
        "live_source": live.text if live and live.version != entry.file_version else None,
    }
    return web.json_response(body)


@routes.get("/flows/{name}/graph.svg")
@allow(*READERS)
async def flow_graph(request: web.Request) -> web.Response:
    """The live version drawn by Graphviz (drawn once per version)."""
    entry = await _entry(request)
    if entry.live is None:
        raise ApiError(409, "flow-not-loaded",
                       f"flow {entry.name!r} has no live version to draw; fix its errors first")
    try:
        svg = await flow_svg(entry.live)
    except GraphvizMissing as exc:
        raise ApiError(503, "graphviz-missing", str(exc)) from exc
    except GraphFailed as exc:
        log.error("flow %s version %s: %s", entry.name, entry.live.version, exc)
        raise ApiError(500, "graph-failed", str(exc)) from exc
    return web.Response(text=svg, content_type="image/svg+xml", headers={
        "X-Flow-Version": entry.live.version, "Cache-Control": "private, no-cache"})


@routes.get("/flows/{name}/calls")
@allow(*READERS)
async def flow_calls(request: web.Request) -> web.Response:
    """Calls and conversations that ran the flow (newest first), each with its version."""
    raw = request.query.get("limit", "50")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 500:
        raise bad_request("limit must be an integer from 1 to 500", {"limit": raw})
    version = request.query.get("version")
    if version is not None and not _VERSION.match(version):
        raise bad_request("version must be a version id (letters and digits)",
                          {"version": version[:100]})
    entry = await _entry(request)
    runs = await runs_of(request.app[SERVICES].store, entry.name, int(raw), version)
    return web.json_response({"flow": entry.name, "items": runs})
