"""The /flows part of the OpenAPI document (see api/flows.py), merged into api/openapi.py."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_NAME = {"name": "name", "in": "path", "required": True,
         "description": "flow name (the YAML's `flow:` key, else the file name without .yaml)",
         "schema": {"type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(**codes: str) -> dict[str, Any]:
    return {code.lstrip("e"): _json(text, _ERROR) for code, text in codes.items()}


_FINDING = {"type": "object", "properties": {
    "file": {"type": "string"}, "line": {"type": "integer", "description": "0: the whole file"},
    "message": {"type": "string"}, "severity": {"enum": ["error", "warning"]},
    "where": {"type": "string", "description": "file:line"}}}
_LIVE = {"type": ["object", "null"], "properties": {
    "version": {"type": "string", "description": "content hash of the YAML that runs"},
    "loaded_at": {"type": ["string", "null"], "format": "date-time",
                  "description": "when this version was first loaded"},
    "start": {"type": "string"}, "nodes": {"type": "integer"}}}
_SUMMARY = {
    "name": {"type": "string"}, "file": {"type": "string"},
    "status": {"enum": ["ok", "warning", "refused", "error"],
               "description": "ok: the file runs; warning: it runs with check findings; "
                              "refused: its last edit has errors, an older version runs; "
                              "error: it never loaded"},
    "description": {"type": "string"},
    "entry_points": {"type": "array", "items": {"type": "string"},
                     "description": "numbers (and chat/sms) that run this flow"},
    "live": _LIVE, "file_version": {"type": ["string", "null"]},
    "file_is_live": {"type": "boolean"},
    "errors": {"type": "integer"}, "warnings": {"type": "integer"}}
_RUN = {"type": "object", "properties": {
    "call_id": {"type": ["string", "null"], "description": "null for chat/SMS runs"},
    "interaction_id": {"type": "string"}, "channel": {"type": "string"},
    "version": {"type": "string"}, "subflow": {"type": "boolean"},
    "started_at": {"type": "string", "format": "date-time"},
    "outcome": {"type": ["string", "null"],
                "description": "completed, caller-hung-up, error...; null while running"},
    "ended_at": {"type": ["string", "null"]}, "from": {"type": ["string", "null"]},
    "called_number": {"type": ["string", "null"]}, "call_state": {"type": ["string", "null"]},
    "end_reason": {"type": ["string", "null"]}}}

FLOWS_PATHS: dict[str, Any] = {
    "/flows": {"get": {
        "summary": "Every flow file: status, entry points, live version and when it loaded "
                   "(supervisor, admin)",
        "responses": {"200": _json("Flows", {"type": "object", "properties": {"items": {
            "type": "array", "items": {"type": "object", "properties": _SUMMARY}}}})}}},
    "/flows/{name}": {"get": {
        "summary": "One flow: check findings as file:line, nodes, versions with their runs, "
                   "the YAML on disk (read only; flows are edited as files)",
        "parameters": [_NAME],
        "responses": {"200": _json("Flow", {"type": "object", "properties": {
            **_SUMMARY, "findings": {"type": "array", "items": _FINDING},
            "nodes": {"type": "array", "items": {"type": "object"}},
            "versions": {"type": "array", "items": {"type": "object", "properties": {
                "version": {"type": "string"}, "loaded_at": {"type": ["string", "null"]},
                "path": {"type": ["string", "null"]}, "runs": {"type": "integer"},
                "live": {"type": "boolean"}}}},
            "source": {"type": ["string", "null"]},
            "live_source": {"type": ["string", "null"],
                            "description": "the YAML that runs, when the file differs"}}}),
            **_errors(e400="Bad flow name", e404="No such flow")}}},
    "/flows/{name}/graph.svg": {"get": {
        "summary": "The live version's graph drawn by Graphviz (X-Flow-Version header)",
        "parameters": [_NAME],
        "responses": {"200": {"description": "SVG",
                              "content": {"image/svg+xml": {"schema": {"type": "string"}}}},
                      **_errors(e400="Bad flow name", e404="No such flow",
                                e409="The flow has no live version",
                                e500="Graphviz failed on the flow",
                                e503="Graphviz is not installed")}}},
    "/flows/{name}/calls": {"get": {
        "summary": "Calls and conversations that ran the flow, newest first, each with the "
                   "version it ran and its outcome",
        "parameters": [_NAME,
                       {"name": "limit", "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500,
                                   "default": 50}},
                       {"name": "version", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": _json("Runs", {"type": "object", "properties": {
            "flow": {"type": "string"}, "items": {"type": "array", "items": _RUN}}}),
            **_errors(e400="Bad flow name, limit or version", e404="No such flow")}}},
}
