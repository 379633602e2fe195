"""The shape every flow node shares.

Each node type is one class with its parameter schema, the transitions it may
take and `execute`, which returns the name of the transition taken. Every
node ends with an outcome and has a time limit, so a flow can never stall.

The class also tells the tools what it does without running it: which
variables it reads and writes, which sound files it needs, which targets its
parameters name (menu options, branch cases) and whether it waits for the
caller. `flows check`, `graph` and `schema` are built on that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from ..context import FlowContext

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z0-9_.]*)?\}")


@dataclass(frozen=True)
class Param:
    kind: type | tuple[type, ...]
    required: bool = False
    default: Any = None
    doc: str = ""
    prompt: bool = False  # a prompt: file.wav, text to say, a list, or {language: ...}
    choices: tuple[Any, ...] = ()


class Node:
    type_name: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}
    transitions: ClassVar[tuple[str, ...]] = ("next",)
    # Seconds a node may run before the engine gives up on it.
    time_limit: ClassVar[float] = 120.0
    # Waits for the caller (digits, speech) or for time: a loop through it is not busy.
    takes_input: ClassVar[bool] = False
    # Makes sense on calls only (audio recording, spoken digits): `flows check` says so
    # for flows that chat or SMS run, where such a node cannot do its job.
    voice_only: ClassVar[bool] = False
    # A transition the flow need not name, and the one taken instead when it does not.
    aliases: ClassVar[dict[str, str]] = {}

    def __init__(self, node_id: str, values: dict[str, Any]) -> None:
        self.id = node_id
        self.values = values

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    async def execute(self, ctx: FlowContext) -> str:
        raise NotImplementedError

    # -- what the tools need to know ---------------------------------------
    @classmethod
    def validate(cls, values: dict[str, Any]) -> list[tuple[str | None, str]]:
        """Checks beyond types (patterns compile, expressions parse...)."""
        return []

    @classmethod
    def targets(cls, values: dict[str, Any]) -> dict[str, tuple[str, str]]:
        """Transitions named inside parameters: name -> (target node, parameter key)."""
        return {}

    @classmethod
    def reads(cls, values: dict[str, Any]) -> set[str]:
        """Variables read: every {placeholder} in the parameters."""
        return placeholders(values)

    @classmethod
    def writes(cls, values: dict[str, Any]) -> set[str]:
        """Variables this node may set."""
        return set()

    @classmethod
    def secrets(cls, values: dict[str, Any]) -> set[str]:
        """Variables to mask in the timeline."""
        return set()

    @classmethod
    def sound_files(cls, values: dict[str, Any]) -> list[str]:
        """Sound files the prompts name (for the missing-prompt check)."""
        found: list[str] = []
        for name, param in cls.params.items():
            if param.prompt:
                found += prompt_files(values.get(name))
        return found

    @classmethod
    def check_params(
        cls, raw: dict[str, Any]
    ) -> tuple[dict[str, Any], list[tuple[str | None, str]]]:
        """Parameters with defaults filled in, and (key, problem) for each problem found."""
        problems: list[tuple[str | None, str]] = [
            (name, f"unknown parameter {name!r}") for name in raw if name not in cls.params
        ]
        values: dict[str, Any] = {}
        for name, param in cls.params.items():
            if name not in raw:
                if param.required:
                    problems.append((None, f"missing parameter {name!r}"))
                values[name] = param.default
                continue
            value = raw[name]
            kinds = param.kind if isinstance(param.kind, tuple) else (param.kind,)
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                expected = " or ".join(k.__name__ for k in kinds)
                problems.append((name, f"parameter {name!r} must be {expected}"))
            elif param.choices and value not in param.choices:
                choices = ", ".join(map(str, param.choices))
                problems.append((name, f"parameter {name!r} must be one of {choices}"))
            values[name] = value
        if not problems:
            problems += cls.validate(values)
        return values, problems


def placeholders(value: Any) -> set[str]:
    """Variable names in {placeholders} anywhere inside a value."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def prompt_files(spec: Any) -> list[str]:
    """The .wav names a prompt spec refers to, without placeholders."""
    if isinstance(spec, str):
        return [spec] if spec.endswith(".wav") and "{" not in spec else []
    if isinstance(spec, list):
        return [f for item in spec for f in prompt_files(item)]
    if isinstance(spec, dict):
        return [f for item in spec.values() for f in prompt_files(item)]
    return []
