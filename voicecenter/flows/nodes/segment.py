from __future__ import annotations

from typing import Any

from ..context import FlowContext
from .base import Node, Param


def _skills(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [str(k) for k in value]
    return [str(s) for s in (value or []) if str(s)]


class SegmentNode(Node):
    """Say who the caller is to the router: segment, priority, language, skills.

    The values become flow variables (the queue node reads them) and are
    attached to the interaction, so the router and the agent see them.
    Every value may be a {placeholder}.
    """

    type_name = "segment"
    params = {
        "segment": Param(str, doc="e.g. vip, standard, {customer_segment}"),
        "priority": Param((int, str), doc="higher is served first"),
        "language": Param(str),
        "skills": Param((list, dict), doc="skills an agent needs"),
        "data": Param(dict, default={}, doc="more attached data: name -> value"),
    }

    @classmethod
    def writes(cls, values: dict[str, Any]) -> set[str]:
        names = {k for k in ("segment", "priority", "language", "skills") if values[k] is not None}
        return names | {str(k) for k in values["data"]}

    async def execute(self, ctx: FlowContext) -> str:
        attached: dict[str, Any] = {}
        for name in ("segment", "language"):
            if self[name] is not None:
                attached[name] = ctx.render(self[name])
        if self["priority"] is not None:
            priority = ctx.render(str(self["priority"]))
            attached["priority"] = int(priority) if priority.lstrip("-").isdigit() else 0
        if self["skills"] is not None:
            attached["skills"] = [s for s in _skills(ctx.render_value(self["skills"])) if s]
        for name, value in self["data"].items():
            attached[str(name)] = ctx.render_value(value)
        for name, value in attached.items():
            await ctx.set(self.id, name, value)
        if ctx.services.store is not None:
            await ctx.services.store.attach(ctx.call.call_id, {
                k: ctx.shown(k, v) for k, v in attached.items()})
        return "next"
