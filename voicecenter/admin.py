"""The store-backed subcommands of the CLI (agents, calls)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from .settings import Settings
from .store import open_store
from .store.errors import AgentExists, InvalidAgent, NoSuchAgent, NoSuchCall
from .store.users import InvalidUser, NoSuchUser, UserExists


async def run_admin(settings: Settings, args: argparse.Namespace,
                    show: Callable[[Any], None]) -> int:
    settings.paths.data_dir.mkdir(parents=True, exist_ok=True)
    store = await open_store(settings)
    try:
        if args.command == "agents":
            return await _agents(store, settings, args, show)
        if args.command == "users":
            return await _users(store, args, show)
        return await _calls(store, args, show)
    finally:
        await store.close()


def _fail(message: str, code: int = 1) -> int:
    print(f"voicecenter: {message}", file=sys.stderr)
    return code


async def _agents(store: Any, settings: Settings, args: argparse.Namespace,
                  show: Callable[[Any], None]) -> int:
    if args.action == "add":
        try:
            agent = await store.agents.add(args.name, args.password, args.skills,
                                           settings.sip.domain, display_name=args.display_name,
                                           team=args.team)
        except AgentExists:
            return _fail(f"agent {args.name!r} already exists")
        except InvalidAgent as exc:
            return _fail(str(exc))
        show(agent.to_dict())
    elif args.action == "list":
        for agent in await store.agents.list():
            skills = ",".join(f"{k}:{v}" for k, v in sorted(agent.skills.items()))
            print(f"{agent.name}\t{agent.sip_username or '-'}@{agent.sip_domain or '-'}\t"
                  f"{skills or '-'}\t{agent.team or '-'}")
    elif args.action == "remove":
        try:
            await store.agents.remove(args.name)
        except NoSuchAgent:
            return _fail(f"no agent {args.name!r}")
        print(f"removed {args.name}")
    return 0


async def _users(store: Any, args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    try:
        if args.action == "add":
            if await _is_agent(store, args.name):
                return _fail(f"{args.name!r} is an agent; pick another name")
            show((await store.users.add(args.name, args.role, args.password)).to_dict())
        elif args.action == "list":
            for user in await store.users.list():
                print(f"{user.name}\t{user.role}")
        elif args.action == "remove":
            await store.users.remove(args.name)
            print(f"removed {args.name}")
        elif args.action == "password":
            await store.users.set_password(args.name, args.password)
            print(f"password of {args.name} changed; their sessions ended")
    except (UserExists, InvalidUser, NoSuchUser) as exc:
        return _fail(str(exc))
    return 0


async def _is_agent(store: Any, name: str) -> bool:
    try:
        await store.agents.get(name)
    except NoSuchAgent:
        return False
    return True


async def _calls(store: Any, args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    if args.action == "list":
        for call in await store.calls.recent(args.limit):
            print(f"{call.id}\t{call.started_at:%Y-%m-%d %H:%M:%S}\t{call.called_number or '-'}"
                  f"\t{call.state}\t{call.end_reason or ''}")
        return 0
    try:
        call = await store.calls.get(args.call_id)
    except NoSuchCall:
        return _fail(f"no call {args.call_id}")
    timeline = await store.calls.timeline(args.call_id)
    show({**call.to_dict(), "timeline": [event.to_dict() for event in timeline]})
    return 0
