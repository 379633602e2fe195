from __future__ import annotations

import logging
from typing import Any

from ..context import FlowContext, lookup
from .base import Node, Param

log = logging.getLogger("voicecenter.flows")


class HttpNode(Node):
    """Ask a CRM (or any URL) and put parts of its JSON answer into variables.

    A timeout, a connection error, a non-2xx status or a body that is not
    JSON takes `fallback`, so a slow CRM costs the caller at most timeout_ms
    and never the call. `status` holds the HTTP status (0 when none came).
    """

    type_name = "http"
    params = {
        "url": Param(str, required=True, doc="may contain {placeholders}"),
        "method": Param(str, default="GET", choices=("GET", "POST", "PUT", "DELETE")),
        "body": Param((dict, list), doc="JSON body; strings are templates"),
        "headers": Param(dict, default={}),
        "timeout_ms": Param(int, default=3000),
        "result": Param(dict, default={}, doc="variable -> dotted path in the JSON answer"),
        "into": Param(str, doc="variable receiving the whole JSON answer"),
        "status": Param(str, default="http_status", doc="variable receiving the status"),
    }
    transitions = ("next", "fallback")
    time_limit = 60.0

    @classmethod
    def writes(cls, values: dict[str, Any]) -> set[str]:
        found = {str(k) for k in values["result"]} | {values["status"]}
        return found | ({values["into"]} if values["into"] else set())

    async def execute(self, ctx: FlowContext) -> str:
        client = ctx.services.http
        url = ctx.render(self["url"])
        if client is None:
            raise RuntimeError("no HTTP client configured for flows")
        outcome: dict[str, Any] = {"node": self.id, "method": self["method"], "url": url}
        try:
            response = await client.request(
                self["method"], url, json=ctx.render_value(self["body"]),
                headers={k: ctx.render(str(v)) for k, v in self["headers"].items()},
                timeout_s=self["timeout_ms"] / 1000)
        except TimeoutError:
            await ctx.set(self.id, self["status"], 0)
            await ctx.call.record_event("flow.http", {**outcome, "error": "timeout"})
            return "fallback"
        except OSError as exc:
            await ctx.set(self.id, self["status"], 0)
            await ctx.call.record_event("flow.http", {**outcome, "error": str(exc)})
            return "fallback"
        await ctx.set(self.id, self["status"], response.status)
        await ctx.call.record_event("flow.http", {**outcome, "status": response.status})
        ok = 200 <= response.status < 300 and isinstance(response.body, dict | list)
        if not ok:
            return "fallback"
        if self["into"]:
            await ctx.set(self.id, self["into"], response.body)
        for name, path in self["result"].items():
            value = lookup(response.body, str(path)) if isinstance(response.body, dict) else None
            await ctx.set(self.id, str(name), value)
        return "next"
