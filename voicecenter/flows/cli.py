"""`voicecenter flows check|simulate|graph|schema|versions` and `voicecenter customers ...`.

voicecenter/cli.py calls add_flow_commands / run_flow_command (and the
customer pair); everything flow designers run from a shell lives here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from ..settings import Settings
from .checker import check_all
from .loader import load_flows
from .model import Flow


class _Ordered(argparse.Action):
    """--digits and --say into one list, in command-line order."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        items = list(getattr(namespace, "inputs", None) or [])
        items.append({"say": values} if option_string == "--say" else values)
        namespace.inputs = items


def add_flow_commands(subparsers: Any) -> None:
    flows = subparsers.add_parser("flows", help="IVR flow tools: check, simulate, graph, schema")
    sub = flows.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate every flow; errors as file:line")
    check.add_argument("--flows", type=Path, help="flows directory (default: paths.flows)")

    sim = sub.add_parser("simulate", help="run a flow with scripted input, no SIP")
    sim.add_argument("flow", help="flow name, or an entry point number")
    sim.add_argument("--script", type=Path, help="YAML: inputs, caller_id, http, now, agent...")
    sim.add_argument("--digits", action=_Ordered, dest="inputs", help="digits the caller types")
    sim.add_argument("--say", action=_Ordered, dest="inputs", help="words the caller says")
    sim.add_argument("--caller-id", help="the caller's number (user part)")
    sim.add_argument("--http-fixture", type=Path,
                     help="YAML/JSON: 'METHOD URL-pattern' -> {status, json, timeout}")
    sim.add_argument("--now", help="ISO time for business hours, e.g. 2025-01-06T10:00+01:00")
    sim.add_argument("--agent", help="the agent a queue finds (default: none)")
    sim.add_argument("--flows", type=Path, help="flows directory (default: paths.flows)")

    graph = sub.add_parser("graph", help="draw a flow: Mermaid, Graphviz dot or SVG")
    graph.add_argument("flow")
    graph.add_argument("--format", choices=("mermaid", "dot", "svg"), default="mermaid")
    graph.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    graph.add_argument("--flows", type=Path, help="flows directory (default: paths.flows)")

    schema = sub.add_parser("schema", help="JSON Schema of the flow language (for editors)")
    schema.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")

    versions = sub.add_parser("versions", help="the stored versions of a flow")
    versions.add_argument("flow")


def add_customer_commands(subparsers: Any) -> None:
    customers = subparsers.add_parser("customers", help="customers the IVR authenticates")
    sub = customers.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create a customer")
    add.add_argument("account", help="account number (digits)")
    add.add_argument("--name", required=True)
    add.add_argument("--pin", help="PIN (digits); stored hashed")
    add.add_argument("--segment", default="standard", help="e.g. standard, vip")
    add.add_argument("--language", help="e.g. en, es")
    add.add_argument("--caller-id", help="the number the customer calls from")
    sub.add_parser("list", help="list customers")
    unlock = sub.add_parser("unlock", help="clear an account's lockout")
    unlock.add_argument("account")


def _flows(settings: Settings, directory: Path | None) -> tuple[dict[str, Flow], list[str]]:
    return load_flows(directory or settings.paths.flows)


def _out(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)


def run_flow_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "schema":
        from .schema import flow_schema

        _out(json.dumps(flow_schema(), indent=2) + "\n", args.output)
        return 0
    if args.action == "versions":
        return asyncio.run(_versions(settings, args.flow))
    flows, errors = _flows(settings, args.flows)
    if args.action == "check":
        return _check(settings, flows, errors)
    name = settings.entry_points.get(args.flow, args.flow)
    flow = flows.get(name)
    if flow is None:
        for error in errors:
            print(error, file=sys.stderr)
        print(f"voicecenter: no flow {args.flow!r} loaded", file=sys.stderr)
        return 2
    if args.action == "graph":
        from .graph import dot, mermaid, svg

        try:
            text = {"mermaid": mermaid, "dot": dot, "svg": svg}[args.format](flow)
        except RuntimeError as exc:
            print(f"voicecenter: {exc}", file=sys.stderr)
            return 3
        _out(text, args.output)
        return 0
    return asyncio.run(_simulate(settings, flow, flows, args))


def _check(settings: Settings, flows: dict[str, Flow], errors: list[str]) -> int:
    findings = [line for error in errors for line in error.splitlines()]
    findings += check_all(flows, settings.paths.sounds, [
        settings.entry_points[c] for c in ("chat", "sms") if c in settings.entry_points])
    for number, name in settings.entry_points.items():
        if name not in flows:
            findings.append(f"{settings.source}: entry point {number} names unknown flow "
                            f"{name!r}")
    for line in findings:
        print(line)
    bad = len({line.split(":", 1)[0] for line in findings})
    print(f"{len(flows)} flows loaded, {len(findings)} problems in {bad} files",
          file=sys.stderr)
    return 1 if findings else 0


async def _simulate(settings: Settings, flow: Flow, flows: dict[str, Flow],
                    args: argparse.Namespace) -> int:
    from .backends import MemoryFlowStore
    from .simulate import simulate

    script: dict[str, Any] = {}
    if args.script:
        script = yaml.safe_load(args.script.read_text(encoding="utf-8")) or {}
    if args.inputs:
        script["inputs"] = [*(script.get("inputs") or []), *args.inputs]
    for key in ("caller_id", "now", "agent"):
        if getattr(args, key):
            script[key] = getattr(args, key)
    if args.http_fixture:
        script["http"] = yaml.safe_load(args.http_fixture.read_text(encoding="utf-8"))
    store = MemoryFlowStore(script.get("customers"))
    if "customers" not in script:
        for row in await _stored_customers(settings):
            store.add(row)
    print(f"simulating {flow.name} version {flow.version} ({flow.source})")
    result = await simulate(flow, flows, script, settings.paths.sounds, store)
    if store.attached:
        print(f"attached: {json.dumps(store.attached, default=str, ensure_ascii=False)}")
    return 0 if result.outcome == "completed" else 1


async def _stored_customers(settings: Settings) -> list[dict[str, Any]]:
    """The store's customers (hashes included) for simulate to check PINs against."""
    from ..store import open_store
    from ..store.customers import CustomerRepository

    settings.paths.data_dir.mkdir(parents=True, exist_ok=True)
    store = await open_store(settings)
    try:
        return [dict(row) for row in await CustomerRepository(store).rows()]
    except Exception as exc:  # an old schema: simulate still runs, without customers
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"voicecenter: customers not read from the store: {reason}", file=sys.stderr)
        return []
    finally:
        await store.close()


async def _versions(settings: Settings, name: str) -> int:
    from ..store import open_store
    from .versions import list_versions

    store = await open_store(settings)
    try:
        for row in await list_versions(store, name):
            print(f"{row['version']}\t{row['loaded_at']}\t{row['path']}")
    finally:
        await store.close()
    return 0


def run_customer_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_customers(settings, args))


async def _customers(settings: Settings, args: argparse.Namespace) -> int:
    from ..store import StoreError, open_store
    from ..store.customers import CustomerRepository

    settings.paths.data_dir.mkdir(parents=True, exist_ok=True)
    store = await open_store(settings)
    repo = CustomerRepository(store)
    try:
        if args.action == "add":
            try:
                row = await repo.add(args.account, args.name, pin=args.pin,
                                     segment=args.segment, language=args.language,
                                     caller_id=args.caller_id)
            except StoreError as exc:
                print(f"voicecenter: {exc}", file=sys.stderr)
                return 1
            print(json.dumps(row, indent=2))
        elif args.action == "list":
            for row in await repo.list():
                locked = f"\tlocked until {row['locked_until']}" if row["locked_until"] else ""
                print(f"{row['account']}\t{row['name']}\t{row['segment']}\t"
                      f"{row['language'] or '-'}{locked}")
        elif args.action == "unlock":
            if not await repo.unlock(args.account):
                print(f"voicecenter: no customer {args.account}", file=sys.stderr)
                return 1
    finally:
        await store.close()
    return 0
