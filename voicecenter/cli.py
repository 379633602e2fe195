"""`voicecenter` command line: serve, agents, users, calls, flows.

Administrators of telephony servers expect to manage agents from a shell, so
the agent commands work on the store directly, with or without a running
server (the SIP edge reads credentials from the store on every REGISTER).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .settings import ConfigError, Settings, load_settings
from .store.agents import MAX_SKILL_LEVEL


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(Path(args.config) if args.config else None)
    if getattr(args, "workers", None) is not None:
        if args.workers < 1:
            raise ConfigError("--workers: must be at least 1")
        media = settings.media.model_copy(update={"workers": args.workers})
        settings = settings.model_copy(update={"media": media})
    return settings


def _parse_skills(text: str) -> dict[str, int]:
    skills: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, level = item.partition(":")
        if not name or not level.isdigit() or not 0 <= int(level) <= MAX_SKILL_LEVEL:
            raise argparse.ArgumentTypeError(
                f"bad skill {item!r}: expected NAME:LEVEL with LEVEL 0-{MAX_SKILL_LEVEL}, "
                "e.g. sales:5"
            )
        skills[name] = int(level)
    return skills


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voicecenter", description="Open-source contact-center server."
    )
    parser.add_argument("--version", action="version", version=f"voicecenter {__version__}")
    parser.add_argument("--config", help="configuration file (default config/voicecenter.yaml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", help="run the server (SIP edge, media workers, API)")
    serve.add_argument("--config", default=argparse.SUPPRESS, help="configuration file")
    serve.add_argument("--workers", type=int, help="size of the media-worker pool")

    agents = sub.add_parser("agents", help="manage agents (SIP credentials, skills)")
    agents_sub = agents.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = agents_sub.add_parser("add", help="create an agent")
    add.add_argument("name", help="agent name, also the SIP user name")
    add.add_argument("--password", required=True, help="SIP password")
    add.add_argument("--skills", type=_parse_skills, default={},
                     help="skills with levels, e.g. sales:5,support:3")
    add.add_argument("--display-name", default=None)
    add.add_argument("--team", default=None, help="the agent's team (wallboard groups by it)")
    agents_sub.add_parser("list", help="list agents")
    remove = agents_sub.add_parser("remove", help="delete an agent")
    remove.add_argument("name")

    users = sub.add_parser("users", help="manage supervisors, QA reviewers and admins "
                           "(who log in to the web pages)")
    users_sub = users.add_subparsers(dest="action", metavar="ACTION", required=True)
    user_add = users_sub.add_parser("add", help="create a user")
    user_add.add_argument("name")
    user_add.add_argument("--role", required=True, choices=("admin", "supervisor", "qa"))
    user_add.add_argument("--password", required=True, help="at least 8 characters")
    users_sub.add_parser("list", help="list users")
    user_remove = users_sub.add_parser("remove", help="delete a user and end their sessions")
    user_remove.add_argument("name")
    user_password = users_sub.add_parser("password", help="set a user's password")
    user_password.add_argument("name")
    user_password.add_argument("--password", required=True)

    calls = sub.add_parser("calls", help="look at calls in the store")
    calls_sub = calls.add_subparsers(dest="action", metavar="ACTION", required=True)
    calls_list = calls_sub.add_parser("list", help="recent calls")
    calls_list.add_argument("--limit", type=int, default=20)
    show = calls_sub.add_parser("show", help="one call with its timeline")
    show.add_argument("call_id")

    sub.add_parser("doctor", help="check programs, configuration and the speech model")
    from .flows.cli import add_customer_commands, add_flow_commands

    add_flow_commands(sub)
    add_customer_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"voicecenter: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "serve":
        return _serve(settings)
    if args.command == "doctor":
        return _doctor(settings)
    if args.command == "customers":
        from .flows.cli import run_customer_command

        return run_customer_command(settings, args)
    if args.command == "flows":
        from .flows.cli import run_flow_command

        return run_flow_command(settings, args)
    from .admin import run_admin

    return asyncio.run(run_admin(settings, args, _print))


def _serve(settings: Settings) -> int:
    from .deps import missing
    from .server import serve

    problems = missing(settings)
    for line in problems:
        print(f"voicecenter: {line}", file=sys.stderr)
    if problems:
        return 3
    return asyncio.run(serve(settings))


def _doctor(settings: Settings) -> int:
    """What an operator checks first: programs, config, and which speech model is in use."""
    from .deps import missing
    from .speech.model import ModelError, describe_model, resolve_model_path

    problems = missing(settings)
    for line in problems:
        print(line)
    print(f"configuration: {settings.source} ok")
    speech = settings.speech
    if not speech.enabled:
        print("speech: disabled (flows use DTMF)")
    elif speech.url:
        print(f"speech: external service at {speech.url}")
    else:
        try:
            info = describe_model(resolve_model_path(speech.model_path), load=True)
        except ModelError as exc:
            info = {"usable": False, "error": str(exc)}
        _print({"speech_model": info})
        if not info.get("usable"):
            problems.append("speech model")
    return 1 if problems else 0


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
