"""The OpenAPI 3.1 document served at /openapi.json.

Written by hand next to the handlers; a test checks that every route of the
app is documented and every documented path exists.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from .desk_openapi import DESK_PATHS
from .flows_openapi import FLOWS_PATHS
from .qa_openapi import QA_PATHS
from .wallboard_openapi import WALLBOARD_PATHS

_ERROR = {"$ref": "#/components/schemas/Error"}


def _response(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


def _errors(*codes: int) -> dict[str, Any]:
    names = {400: "Invalid request", 403: "Forbidden", 404: "Not found", 409: "Conflict"}
    return {str(code): _response(names[code], _ERROR) for code in codes}


def _items(ref: str) -> dict[str, Any]:
    return {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": ref}}}}


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_CALL = {"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}



def _action(summary: str, body: dict[str, Any] | None = None, errors: tuple[int, ...] = (409,),
            params: dict[str, Any] = _CALL) -> dict[str, Any]:
    """A POST sub-resource action (see docs/call-control.md)."""
    operation: dict[str, Any] = {"summary": summary, "parameters": [params],
                                 "responses": {"200": _response("Done", {"type": "object"}),
                                               **_errors(*errors)}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"type": "object", "required": list(body), "properties": body}}}}
    return {"post": operation}


_AGENT = {"type": "string", "description": "agent name"}
_CALL_CONTROL: dict[str, Any] = {
    "/calls/{call_id}/transfer/attended": _action(
        "Attended transfer: hold the caller (music) and connect the agent to `to`",
        {"to": _AGENT}, (400, 404, 409)),
    "/calls/{call_id}/transfer/complete": _action(
        "Complete the attended transfer: the caller goes to the consulted agent"),
    "/calls/{call_id}/transfer/cancel": _action(
        "Cancel the attended transfer: the consulted agent is hung up, the caller resumed"),
    "/calls/{call_id}/conference": _action(
        "Three-way conference: caller, agent and `with` all hear each other",
        {"with": _AGENT}, (400, 404, 409)),
    "/calls/{call_id}/supervise": _action(
        "Dial a supervisor in: listen (hears both), whisper (only the agent hears the "
        "supervisor) or barge (everyone hears everyone); again to change the mode",
        {"supervisor": _AGENT, "mode": {"enum": ["listen", "whisper", "barge"]}},
        (400, 404, 409)),
    "/calls/{call_id}/supervise/stop": _action("Hang up the supervisor"),
    "/calls/{call_id}/record/pause": _action(
        "Pause the recording (silence in the file; the span is listed in "
        "recording.completed)"),
    "/calls/{call_id}/record/resume": _action("Resume a paused recording"),
    "/calls/{call_id}/control": {"get": {
        "summary": "Who is on the call (consulted agent, conferee, supervisor), hold and "
                   "recording pause", "parameters": [_CALL],
        "responses": {"200": _response("State", {"type": "object"}), **_errors(409)}}},
    "/agents/{name}/calls": {"post": {
        **_action("Click to call: ring the agent's softphone, then dial `to` (number or SIP "
                  "URI) if the dial plan allows it; 403 destination-not-allowed otherwise",
                  {"to": {"type": "string"}}, (400, 403, 404, 409), _NAME)["post"],
        "responses": {"201": _response("Connected", {"type": "object"}),
                      **_errors(400, 403, 404, 409)}}},
}

# Web chat, SMS and conversations (voicecenter/api/chat.py, voicecenter/api/sms.py).
_CONVERSATION = {"name": "conversation_id", "in": "path", "required": True,
                 "schema": {"type": "string"}}
_WS = {"101": _response("Switching to WebSocket")}
_OMNICHANNEL: dict[str, Any] = {
    "/chat": {"get": {"summary": "The customer chat widget page (HTML, no CDN)",
                      "responses": {"200": _response("Page")}}},
    "/chat/{name}": {"get": {
        "summary": "The widget's script and style (widget.js, widget.css)",
        "parameters": [{"name": "name", "in": "path", "required": True,
                        "schema": {"enum": ["widget.js", "widget.css"]}}],
        "responses": {"200": _response("File"), **_errors(404)}}},
    "/chat/ws": {"get": {
        "summary": "Visitor WebSocket: welcome, lines after last_seq, then live lines; "
                   "send message (client_id, acked with seq), typing, call_me, end",
        "parameters": [
            {"name": "visitor", "in": "query", "required": True,
             "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"}},
            {"name": "last_seq", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
        "responses": {**_WS, **_errors(400)}}},
    "/agents/{name}/ws": {"get": {
        "summary": "Agent WebSocket: offers, customer lines and typing out; state, accept, "
                   "decline, message, typing, history, close, escalate in",
        "parameters": [_NAME], "responses": {**_WS, **_errors(404)}}},
    "/sms/inbound": {"post": {
        "summary": "SMS provider webhook: form fields From, To, Body (MessageSid), signed "
                   "with X-Voicecenter-Signature: sha256=HMAC(secret, body)",
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
            "schema": {"type": "object", "required": ["From", "To", "Body"], "properties": {
                "From": {"type": "string"}, "To": {"type": "string"},
                "Body": {"type": "string"}, "MessageSid": {"type": "string"}}}}}},
        "responses": {"200": _response("Threaded into a conversation", {"type": "object"}),
                      **{str(c): _response(d, _ERROR) for c, d in (
                          (400, "Missing fields"), (401, "Unsigned"), (403, "Bad signature"),
                          (413, "Too long"), (415, "Not a form"), (429, "Flooding sender"),
                          (503, "SMS not configured"))}}}},
    "/conversations/{conversation_id}/timeline": {"get": {
        "summary": "The interaction's whole timeline across channels (chat lines, flow "
                   "steps, SMS, call legs, recordings), live or ended",
        "parameters": [_CONVERSATION],
        "responses": {"200": _response("Timeline", {"type": "object"}), **_errors(404)}}},
    "/profiles/{profile_id}": {"get": {
        "summary": "A customer profile: identities (phone, sip, chat, email, account) and "
                   "interaction history, newest first",
        "parameters": [{"name": "profile_id", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": _response("Profile", {"type": "object"}), **_errors(404)}}},
    "/conversations/{conversation_id}": {"get": {
        "summary": "A live chat or SMS conversation with its numbered lines",
        "parameters": [_CONVERSATION],
        "responses": {"200": _response("Conversation", {"type": "object"}), **_errors(404)}}},
}

_PAGE_EVENTS: dict[str, Any] = {
    "/events/ws": {"get": {
        "summary": "Live events for web pages (WebSocket upgrade; docs/page-events.md): "
                   "hello, then the events after `since` (or reset), then live events, "
                   "filtered per user; ping -> pong. Browsers pass the token as ?token=",
        "parameters": [
            {"name": "token", "in": "query", "schema": {"type": "string"},
             "description": "the login token (instead of Authorization, for browsers)"},
            {"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0},
             "description": "the last seq the page got: resume after it"}],
        "responses": {**_WS, **{str(code): _response(text, _ERROR) for code, text in (
            (400, "Bad since"), (401, "No or bad token"), (403, "Forbidden"),
            (426, "Not a WebSocket request"), (503, "Live events not running"))}}}},
    "/events/stats": {"get": {
        "summary": "Page events: pages connected, last seq, events read, pages closed for "
                   "being too slow, and latencies in ms (read_lag: event to feed; "
                   "commit_lag: commit to feed; send_lag: feed to socket; loop_lag: the "
                   "control plane's event loop; p50/p99/max over the last 20 000)",
        "responses": {"200": _response("Figures", {"type": "object"}),
                      "503": _response("Live events not running", _ERROR)}}},
}

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
            "patch": {"summary": "Change an agent's skills, team or display name",
                      "parameters": [{"name": "name", "in": "path", "required": True,
                                      "schema": {"type": "string"}}],
                      "requestBody": {"required": True, "content": {"application/json": {
                          "schema": {"$ref": "#/components/schemas/AgentChanges"}}}},
                      "responses": {"200": _response("Agent",
                                                     {"$ref": "#/components/schemas/Agent"}),
                                    **_errors(400, 404, 409)}},
            "delete": {"summary": "Delete an agent (its softphone can no longer register)",
                       "parameters": [{"name": "name", "in": "path", "required": True,
                                       "schema": {"type": "string"}}],
                       "responses": {"204": _response("Deleted"), **_errors(404)}},
        },
        "/agents/{name}/wrap_up": {"post": {
            "summary": "End wrap-up with a disposition code and notes",
            "parameters": [_NAME],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"type": "object", "properties": {
                    "disposition": {"type": "string"}, "notes": {"type": "string"}}}}}},
            "responses": {"200": _response("Available again", {"type": "object"}),
                          **_errors(400, 404, 409)}}},
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
            "summary": "Blind transfer to an agent, a queue or an allowed external destination",
            "description": "Exactly one target. The first agent is freed (or goes to "
                           "wrap-up) once the transfer is done.",
            "parameters": [_CALL],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"oneOf": [
                    {"type": "object", "required": ["to"], "additionalProperties": False,
                     "properties": {"to": {"type": "string", "description": "agent name"}}},
                    {"type": "object", "required": ["queue"], "additionalProperties": False,
                     "properties": {"queue": {
                         "type": "string", "description": "a queue named by a flow's "
                         "queue node; the caller waits there with music and announcements"}}},
                    {"type": "object", "required": ["uri"], "additionalProperties": False,
                     "properties": {"uri": {"type": "string",
                                            "description": "sip: URI the dial plan allows"}}},
                    {"type": "object", "required": ["number"], "additionalProperties": False,
                     "properties": {"number": {"type": "string",
                                               "description": "number the dial plan allows"}}},
                ]}}}},
            "responses": {"200": _response("Transferred"), **_errors(400, 403, 404, 409)}}},
        **_CALL_CONTROL,
        **_OMNICHANNEL,
        **_PAGE_EVENTS,
        **DESK_PATHS,
        **FLOWS_PATHS,
        **QA_PATHS,
        **WALLBOARD_PATHS,
        "/queues": {"get": {
            "summary": "Real-time figures of every queue (waiting, service level, ASA, AHT...)",
            "responses": {"200": _response("Queues", _items("#/components/schemas/Queue"))}}},
        "/queues/{name}": {"get": {
            "summary": "One queue's real-time figures and its agents' states",
            "parameters": [_NAME],
            "responses": {"200": _response("Queue", {"$ref": "#/components/schemas/Queue"}),
                          **_errors(404)}}},
        "/callbacks": {
            "get": {"summary": "Callbacks, newest first",
                    "responses": {"200": _response("Callbacks",
                                                   _items("#/components/schemas/Callback"))}},
            "post": {
                "summary": "Schedule a callback: routed to an agent from `at`, then dialed",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"type": "object", "required": ["number"], "properties": {
                        "number": {"type": "string", "pattern": "^\\+?[0-9]{2,20}$"},
                        "at": {"type": "string", "format": "date-time"},
                        "skills": {"type": "array", "items": {"type": "string"}},
                        "queue": {"type": "string"}, "priority": {"type": "integer"}}}}}},
                "responses": {"201": _response("Scheduled",
                                               {"$ref": "#/components/schemas/Callback"}),
                              **_errors(400)}}},
        "/callbacks/{id}": {"get": {
            "summary": "One callback: state, attempts, agent",
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "integer"}}],
            "responses": {"200": _response("Callback", {"$ref": "#/components/schemas/Callback"}),
                          **_errors(404)}}},
        "/transcripts": {"get": {
            "summary": "Search transcripts by text (newest first)",
            "parameters": [{"name": "q", "in": "query", "required": True,
                            "schema": {"type": "string", "maxLength": 200}}],
            "responses": {"200": _response("Transcripts", {"type": "object"}),
                          **_errors(400)}}},
        "/calls/{call_id}/transcript": {"get": {
            "summary": "A call's transcripts, one per channel, with word times and confidence",
            "parameters": [_CALL],
            "responses": {"200": _response("Transcripts", {"type": "object"})}}},
        "/softphone/config": {"get": {
            "summary": "Where a browser softphone registers: the SIP edge's WebSocket URL "
                       "(ws:// or, with sip.tls_certificate, wss://), the SIP domain and "
                       "the caller's own SIP URI (agents)",
            "responses": {"200": _response("Softphone settings", {
                "type": "object", "required": ["ws_url", "domain"], "properties": {
                    "ws_url": {"type": "string"}, "domain": {"type": "string"},
                    "uri": {"type": ["string", "null"]}}}),
                          **_errors(409)}}},
        "/openapi.json": {"get": {"summary": "This document",
                                  "responses": {"200": _response("OpenAPI document")}}},
    },
    "components": {"schemas": {
        "Queue": {"type": "object", "properties": {
            "name": {"type": "string"}, "skills": {"type": "array", "items": {"type": "string"}},
            "waiting": {"type": "integer"}, "longest_wait_s": {"type": "number"},
            "answered": {"type": "integer"}, "abandoned": {"type": "integer"},
            "service_level": {"type": "object", "properties": {
                "threshold_s": {"type": "number"}, "percent": {"type": ["number", "null"]}}},
            "asa_s": {"type": ["number", "null"]}, "aht_s": {"type": ["number", "null"]},
            "estimated_wait_s": {"type": "number"}, "window_s": {"type": "number"},
            "agents": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "state": {"type": "string"},
                "reason": {"type": ["string", "null"]}, "in_state_s": {"type": "number"}}}}}},
        "Callback": {"type": "object", "properties": {
            "id": {"type": "integer"}, "number": {"type": "string"}, "uri": {"type": "string"},
            "queue": {"type": "string"}, "skills": {"type": "array", "items": {"type": "string"}},
            "state": {"enum": ["pending", "calling", "connected", "done", "failed"]},
            "attempts": {"type": "integer"}, "enqueued_at": {"type": "string"},
            "due_at": {"type": ["string", "null"]}, "agent": {"type": ["string", "null"]},
            "interaction_id": {"type": ["string", "null"]},
            "error": {"type": ["string", "null"]}}},
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
            "sip_username": {"type": ["string", "null"]},
            "team": {"type": ["string", "null"]}}},
        "NewAgent": {"type": "object", "required": ["name", "password"], "properties": {
            "name": {"type": "string"}, "password": {"type": "string"},
            "display_name": {"type": "string"},
            "skills": {"type": "object", "additionalProperties": {"type": "integer"}},
            "team": {"type": ["string", "null"]}}},
        "AgentChanges": {"type": "object", "minProperties": 1,
                         "additionalProperties": False, "properties": {
            "display_name": {"type": "string"},
            "skills": {"type": "object", "additionalProperties": {"type": "integer"}},
            "team": {"type": ["string", "null"], "description": "null: no team"}}},
    }},
}
