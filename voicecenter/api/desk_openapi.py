"""OpenAPI paths of the agent desk's API (voicecenter/api/desk.py)."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_INTERACTION = {"name": "interaction_id", "in": "path", "required": True,
                "schema": {"type": "string"},
                "description": "the interaction id (the caller's call id is accepted too)"}


def _ok(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"type": "object"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    names = {403: "Forbidden", 404: "Not found", 503: "Unavailable"}
    return {str(code): {"description": names[code],
                        "content": {"application/json": {"schema": _ERROR}}}
            for code in codes}


DESK_PATHS: dict[str, Any] = {
    "/desk/settings": {"get": {
        "summary": "Choices the agent desk offers: away reasons (routing.away_reasons), "
                   "wrap-up dispositions and whether wrap-up is on",
        "responses": {"200": _ok("Settings")}}},
    "/agents/{name}/desk": {"get": {
        "summary": "The agent's state, the voice offer ringing and the call in progress",
        "parameters": [_NAME],
        "responses": {"200": _ok("Desk"), **_errors(403, 404, 503)}}},
    "/agents/{name}/desk/ws": {"get": {
        "summary": "The agent WebSocket (as /agents/{name}/ws, plus voice frames: offer, "
                   "offer_withdrawn, call connected/ended) counted as an open desk: when "
                   "the last one closes the agent goes away ('desk closed'), after the "
                   "call in progress if there is one",
        "parameters": [_NAME,
                       {"name": "token", "in": "query", "schema": {"type": "string"}}],
        "responses": {"101": {"description": "Switching to WebSocket"},
                      **_errors(403, 404, 503)}}},
    "/agents/{name}/offers/{interaction_id}/reject": {"post": {
        "summary": "Reject a ringing call: the agent's phone stops ringing and the call "
                   "goes to another agent (interaction.offer_rejected)",
        "parameters": [_NAME, _INTERACTION],
        "responses": {"200": _ok("Rejected"), **_errors(403, 404, 503)}}},
    "/agents/{name}/interactions/{interaction_id}": {"get": {
        "summary": "An interaction as the agent's desk shows it: attached data, IVR "
                   "answers, timeline, customer profile and history (agents: only "
                   "interactions offered to them)",
        "parameters": [_NAME, _INTERACTION],
        "responses": {"200": _ok("Context"), **_errors(403, 404)}}},
}
