"""Every flow version the server ever ran, kept in the flow_versions table.

A call's flow.started event names the version it ran; this table keeps
that version's YAML, so what a caller went through can be read back even
after the flow has been edited many times.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from ..store import Store
from ..store.customers import flow_versions
from ..store.models import utcnow
from .model import Flow


async def save_version(store: Store, flow: Flow) -> bool:
    """Store a version unless it is already there; True if it was new."""
    async with store.write() as session:
        found = await session.scalar(select(flow_versions.c.id).where(
            flow_versions.c.flow == flow.name, flow_versions.c.version == flow.version))
        if found is not None:
            return False
        await session.execute(insert(flow_versions).values(
            flow=flow.name, version=flow.version, path=str(flow.source or ""),
            source=flow.text, loaded_at=utcnow()))
        return True


async def list_versions(store: Store, name: str) -> list[dict[str, Any]]:
    """A flow's versions, oldest first, with their YAML."""
    async with store.read() as session:
        result = await session.execute(
            select(flow_versions).where(flow_versions.c.flow == name)
            .order_by(flow_versions.c.id))
        return [dict(row) for row in result.mappings()]
