"""`voicecenter flows schema`: the flow language as JSON Schema.

Generated from the node classes themselves, so the schema an editor
validates against (VS Code + yaml-language-server: put
`# yaml-language-server: $schema=flow.schema.json` on a flow's first line)
can never disagree with what the loader accepts.
"""

from __future__ import annotations

from typing import Any

from .loader import transition_names
from .nodes import NODE_TYPES, Node, Param

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean",
               list: "array", dict: "object"}
PROMPT = {"$ref": "#/definitions/prompt"}


def _param_schema(param: Param) -> dict[str, Any]:
    if param.prompt:
        schema: dict[str, Any] = dict(PROMPT)
    else:
        kinds = param.kind if isinstance(param.kind, tuple) else (param.kind,)
        types = [_JSON_TYPES[k] for k in kinds if k in _JSON_TYPES]
        schema = {"type": types[0] if len(types) == 1 else types}
    if param.choices:
        schema["enum"] = list(param.choices)
    if param.default not in (None, {}, []):
        schema["default"] = param.default
    if param.doc:
        schema["description"] = param.doc
    return schema


def node_schema(cls: type[Node]) -> dict[str, Any]:
    properties: dict[str, Any] = {"type": {"const": cls.type_name}}
    for name, param in cls.params.items():
        properties[name] = _param_schema(param)
    for transition in transition_names(cls):
        properties[transition] = {"type": "string", "description": f"node to go to on "
                                                                    f"{transition}"}
    required = ["type", *[n for n, p in cls.params.items() if p.required]]
    if "next" in cls.transitions:
        required.append("next")
    return {
        "type": "object",
        "description": " ".join((cls.__doc__ or cls.type_name).split()),
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def flow_schema() -> dict[str, Any]:
    nodes = {name: node_schema(cls) for name, cls in sorted(NODE_TYPES.items())}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://voicecenter.invalid/flow.schema.json",
        "title": "voicecenter IVR flow",
        "type": "object",
        "required": ["nodes"],
        "additionalProperties": False,
        "properties": {
            "flow": {"type": "string", "description": "flow name (default: file name)"},
            "description": {"type": "string"},
            "start": {"type": "string", "description": "first node (default: the first)"},
            "variables": {"type": "object", "description": "defaults for flow variables"},
            "secrets": {"type": "array", "items": {"type": "string"},
                        "description": "variables masked in the timeline"},
            "nodes": {"type": "object", "minProperties": 1,
                      "additionalProperties": {"$ref": "#/definitions/node"}},
        },
        "definitions": {
            "prompt": {
                "description": "file.wav from sounds/, text spoken with espeak-ng, a list, "
                               "or {language: prompt}",
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}},
                          {"type": "object", "additionalProperties": {
                              "anyOf": [{"type": "string"},
                                        {"type": "array", "items": {"type": "string"}}]}}],
            },
            "node": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"enum": sorted(NODE_TYPES)}},
                "allOf": [{"if": {"properties": {"type": {"const": name}}},
                           "then": {"$ref": f"#/definitions/{name}"}} for name in nodes],
            },
            **nodes,
        },
    }
