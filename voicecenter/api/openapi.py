"""The OpenAPI 3.1 document served at /openapi.json.

Written by hand next to the handlers; a test checks that every route of the
app is documented and every documented path exists.
"""

from __future__ import annotations

from typing import Any

from .. import __version__

_ERROR = {"$ref": "#/components/schemas/Error"}


def _response(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


def _errors(*codes: int) -> dict[str, Any]:
    names = {400: "Invalid request", 404: "Not found", 409: "Conflict"}
    return {str(code): _response(names[code], _ERROR) for code in codes}


def _items(ref: str) -> dict[str, Any]:
    return {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": ref}}}}


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_CALL = {"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "voicecenter", "version": __version__,
             "description": "Contact-center server: calls, agents, events."},
    "paths": {
        "/health": {"get": {"summary": "Workers, capacity, edge and broker state",
                            "responses": {"200": _response("Health", {"type": "object"})}}},
        "/calls": {"get": {
            "summary": "Recent calls, newest first",
            "parameters": [{"name": "limit", "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
            "responses": {"200": _response("Calls", _items("#/components/schemas/Call")),
                          **_errors(400)},
        }},
        "/calls/{call_id}": {"get": {
            "summary": "One call with its timeline",
            "parameters": [{"name": "call_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": _response("Call", {"$ref": "#/components/schemas/Call"}),
                          **_errors(404)},
        }},
        "/agents": {
            "get": {"summary": "Every agent",
                    "responses": {"200": _response("Agents",
                                                   _items("#/components/schemas/Agent"))}},
            "post": {
                "summary": "Create an agent with SIP credentials and skills",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/NewAgent"}}}},
                "responses": {"201": _response("Created", {"$ref": "#/components/schemas/Agent"}),
                              **_errors(400, 409)},
            },
        },
        "/agents/{name}": {
            "get": {"summary": "One agent",
                    "parameters": [{"name": "name", "in": "path", "required": True,
                                    "schema": {"type": "string"}}],
                    "responses": {"200": _response("Agent",
                                                   {"$ref": "#/components/schemas/Agent"}),
                                  **_errors(404)}},
            "delete": {"summary": "Delete an agent (its softphone can no longer register)",
                       "parameters": [{"name": "name", "in": "path", "required": True,
                                       "schema": {"type": "string"}}],
                       "responses": {"204": _response("Deleted"), **_errors(404)}},
        },
        "/agents/{name}/state": {
            "get": {"summary": "The agent's routing state and time in it",
                    "parameters": [_NAME],
                    "responses": {"200": _response("State", {"type": "object"}), **_errors(404)}},
            "put": {"summary": "Set the agent's state (offline, available, away, wrap_up)",
                    "parameters": [_NAME],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"type": "object", "required": ["state"], "properties": {
                            "state": {"enum": ["offline", "available", "away", "wrap_up"]},
                            "reason": {"type": "string"}}}}}},
                    "responses": {"200": _response("State", {"type": "object"}),
                                  **_errors(400, 404)}},
        },
        "/calls/{call_id}/hold/start": {"post": {
            "summary": "Hold: music to the caller, the agent hears nothing",
            "parameters": [_CALL], "responses": {"200": _response("Held"), **_errors(409)}}},
        "/calls/{call_id}/hold/stop": {"post": {
            "summary": "Resume a held call", "parameters": [_CALL],
            "responses": {"200": _response("Resumed"), **_errors(409)}}},
        "/calls/{call_id}/transfer": {"post": {
            "summary": "Blind transfer to another agent",
            "parameters": [_CALL],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"type": "object", "required": ["to"],
                           "properties": {"to": {"type": "string"}}}}}},
            "responses": {"200": _response("Transferred"), **_errors(400, 404, 409)}}},
        "/openapi.json": {"get": {"summary": "This document",
                                  "responses": {"200": _response("OpenAPI document")}}},
    },
    "components": {"schemas": {
        "Error": {"type": "object", "required": ["error", "message"], "properties": {
            "error": {"type": "string", "description": "stable error id, e.g. no-such-call"},
            "message": {"type": "string"}, "details": {"type": "object"}}},
        "Call": {"type": "object", "properties": {
            "id": {"type": "string"}, "interaction_id": {"type": "string"},
            "direction": {"type": "string"}, "from_uri": {"type": "string"},
            "to_uri": {"type": "string"}, "called_number": {"type": ["string", "null"]},
            "state": {"type": "string"}, "end_reason": {"type": ["string", "null"]},
            "worker_id": {"type": ["integer", "null"]}, "flow": {"type": ["string", "null"]},
            "timeline": {"type": "array", "items": {"type": "object"}}}},
        "Agent": {"type": "object", "properties": {
            "name": {"type": "string"}, "display_name": {"type": "string"},
            "skills": {"type": "object", "additionalProperties": {"type": "integer"}},
            "sip_username": {"type": ["string", "null"]}}},
        "NewAgent": {"type": "object", "required": ["name", "password"], "properties": {
            "name": {"type": "string"}, "password": {"type": "string"},
            "display_name": {"type": "string"},
            "skills": {"type": "object", "additionalProperties": {"type": "integer"}}}},
    }},
}
