"""Running a flow on a call: one node after another, each reported and timed.

Subflows run on the same context (variables are shared) one level deeper;
a `return` node ends a level, a `hangup` node ends them all. A node that
fails takes its `error` transition when it has one, else the flow ends with
outcome "error"; the caller never sits in silence because a CRM was down.
"""

from __future__ import annotations

import asyncio
import logging
import time

from .context import CallEnded, FlowContext
from .model import Flow, FlowError
from .nodes import NODE_TYPES

log = logging.getLogger("voicecenter.flows")

# A flow that visits this many nodes is looping without end; stop it.
MAX_STEPS = 500
MAX_DEPTH = 8
# Outcomes after which no flow level goes on.
FINAL = {"caller-hung-up", "error", "step-limit"}


async def run_flow(flow: Flow, ctx: FlowContext) -> str:
    """Run until a node has no transition; return how the flow ended."""
    ctx.variables = {**flow.variables, **ctx.variables}
    ctx.secrets |= set(flow.secrets)

    def subflow_at(depth: int):  # type: ignore[no-untyped-def]
        async def run(name: str) -> str | None:
            return await _subflow(name, ctx, depth, subflow_at)
        return run

    ctx.subflow = subflow_at(1)
    await ctx.call.record_event("flow.started", {"flow": flow.name, "version": flow.version})
    outcome = await _run_nodes(flow, ctx, 0)
    await ctx.call.record_event("flow.ended", {"flow": flow.name, "outcome": outcome})
    return outcome


async def _subflow(name: str, ctx: FlowContext, depth: int, subflow_at) -> str | None:  # type: ignore[no-untyped-def]
    flow = ctx.services.flows.get(name)
    if flow is None:
        raise FlowError(f"subflow {name!r} is not loaded")
    if depth > MAX_DEPTH:
        raise FlowError(f"subflows nested deeper than {MAX_DEPTH}")
    for key, value in flow.variables.items():
        ctx.variables.setdefault(key, value)
    ctx.secrets |= set(flow.secrets)
    outer = ctx.subflow
    ctx.subflow, ctx.returned = subflow_at(depth + 1), None
    await ctx.call.record_event("flow.started",
                                {"flow": flow.name, "version": flow.version, "depth": depth})
    try:
        outcome = await _run_nodes(flow, ctx, depth)
    finally:
        ctx.subflow = outer
    await ctx.call.record_event("flow.ended", {"flow": flow.name, "outcome": outcome})
    if outcome in FINAL or ctx.stopped:
        if outcome == "caller-hung-up":
            raise CallEnded("caller hung up in a subflow")
        return None
    returned, ctx.returned = ctx.returned, None
    return returned or ""


async def _run_nodes(flow: Flow, ctx: FlowContext, depth: int) -> str:
    call_id = ctx.call.call_id
    node_id: str | None = flow.start
    outcome = "completed"
    while node_id:
        ctx.steps += 1
        if ctx.steps > MAX_STEPS:
            outcome = "step-limit"
            log.error("call=%s flow=%s stopped after %d steps", call_id, flow.name, MAX_STEPS)
            break
        spec = flow.nodes[node_id]
        cls = NODE_TYPES[spec.type]
        node = cls(spec.id, spec.params)
        began = time.monotonic()
        try:
            transition: str | None = await asyncio.wait_for(node.execute(ctx), cls.time_limit)
        except CallEnded:
            outcome = "caller-hung-up"
            transition = None
        except TimeoutError:
            transition = "error"
            log.warning("call=%s node=%s timed out", call_id, spec.id)
            await ctx.call.record_event("flow.error", {"node": spec.id, "error": "timed out"})
        except Exception as exc:  # a node's failure must not kill the call silently
            log.exception("call=%s node=%s failed", call_id, spec.id)
            transition = "error"
            await ctx.call.record_event("flow.error", {"node": spec.id, "error": str(exc)})
        step = {"node": spec.id, "type": spec.type,
                "outcome": "hangup" if transition is None else (transition or "end"),
                "ms": round((time.monotonic() - began) * 1000)}
        if depth:
            step["flow"] = flow.name
        await ctx.call.record_event("flow.step", step)
        if transition is None:
            break
        if spec.type == "hangup":
            ctx.stopped = True
        if transition == "error" and "error" not in spec.transitions:
            outcome = "error"
            break
        node_id = spec.transitions.get(transition) if transition else None
        if node_id is None and transition in cls.aliases:
            node_id = spec.transitions.get(cls.aliases[transition])
        if ctx.stopped or (transition and node_id is None and spec.type != "return"):
            if transition and not ctx.stopped:
                log.info("call=%s node=%s: %s leads nowhere; the flow ends", call_id, spec.id,
                         transition)
            break
    return outcome
