"""The MQTT topic tree: one fixed topic per event kind, in one place.

Subscribers filter on topics, so a topic is part of the public interface just
like an HTTP path. Keeping every kind -> topic rule in this table (and
docs/events.md generated from it) means a kind can neither be published on two
topics nor be published without being documented: writing an event whose kind
is not listed here fails before anything is stored.

Scopes:
- ``call``: ``{prefix}/calls/{call_id}/...``; the event needs a call id.
- ``interaction``: ``{prefix}/interactions/{interaction_id}/...``.
- ``leg``: on the call when there is one, else on the interaction. Flows run
  on calls and on chat/SMS conversations alike, and a subscriber following a
  call should see its flow steps under that call.
- ``agent``: ``{prefix}/agents/{agent_name}/...``.
- ``queue``: ``{prefix}/queues/{queue_name}/...`` (figures, not tied to one call).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["call", "interaction", "leg", "agent", "queue"]


class UnknownEventKind(ValueError):
    """An event kind with no topic: add it to TOPICS and to docs/events.md."""


@dataclass(frozen=True)
class TopicRule:
    kind: str
    scope: Scope
    path: str
    description: str


_RULES = (
    TopicRule("interaction.created", "interaction", "created",
              "A conversation began (any channel)."),
    TopicRule("interaction.data_attached", "interaction", "data/attached",
              "Variables were attached (data: attached, the values set)."),
    TopicRule("interaction.queued", "interaction", "queued",
              "The interaction entered the queue."),
    TopicRule("interaction.dequeued", "interaction", "dequeued",
              "It left the queue without an agent (data: reason)."),
    TopicRule("interaction.assigned", "interaction", "assigned",
              "It was handed to an agent (data: agent)."),
    TopicRule("interaction.escalated", "interaction", "escalated",
              "A chat or SMS conversation gained a voice leg."),
    TopicRule("interaction.ended", "interaction", "ended",
              "The conversation is over (data: reason)."),
    TopicRule("chat.message_received", "interaction", "chat/message/received",
              "A chat line from the customer."),
    TopicRule("chat.message_sent", "interaction", "chat/message/sent",
              "A chat line to the customer."),
    TopicRule("sms.received", "interaction", "sms/received", "An SMS from the customer."),
    TopicRule("sms.sent", "interaction", "sms/sent", "An SMS to the customer."),
    TopicRule("sms.accepted", "interaction", "sms/accepted",
              "The provider or SIP peer took an SMS to the customer (data: seq, result)."),
    TopicRule("sms.failed", "interaction", "sms/failed",
              "An SMS to the customer never left (data: seq, error, status)."),
    TopicRule("interaction.call_in_code", "interaction", "call_in/code",
              "The agent sent the customer a code to call in with (data: agent, expires_s)."),
    TopicRule("interaction.call_in", "leg", "call_in",
              "A call came in with a call-in code or from the conversation's number "
              "(data: conversation, agent, by)."),
    TopicRule("call.created", "call", "created",
              "A call leg exists (inbound offered or outbound dialed)."),
    TopicRule("call.answered", "call", "answered", "The call was answered."),
    TopicRule("call.ended", "call", "ended",
              "The call is over (data: reason, duration_s, talk_s)."),
    TopicRule("dtmf.received", "call", "dtmf", "A DTMF digit (data: digit)."),
    TopicRule("call.hold_started", "call", "hold/started", "The call was put on hold."),
    TopicRule("call.hold_stopped", "call", "hold/stopped", "The call was taken off hold."),
    TopicRule("call.transferred", "call", "transferred", "The call was transferred."),
    TopicRule("call.transfer_started", "call", "transfer/started",
              "A transfer began (data: from, to, kind)."),
    TopicRule("call.transfer_failed", "call", "transfer/failed",
              "The transfer target did not take the call (data: to, reason)."),
    TopicRule("call.consult_started", "call", "transfer/consult/started",
              "An attended transfer's consultation began (data: from, to, leg)."),
    TopicRule("call.transfer_cancelled", "call", "transfer/cancelled",
              "The consultation ended without a transfer (data: agent, reason)."),
    TopicRule("call.transfer_refused", "call", "transfer/refused",
              "An agent's phone asked for a transfer (REFER) the server will not carry "
              "out (data: from, to, by, error, reason)."),
    TopicRule("call.conference_started", "call", "conference/started",
              "A third party joined: a three-way conference (data: agents, leg)."),
    TopicRule("call.conference_left", "call", "conference/left",
              "The conference's third party left (data: agent, reason)."),
    TopicRule("call.supervision_started", "call", "supervision/started",
              "A supervisor joined or changed mode (data: supervisor, mode, agent, leg)."),
    TopicRule("call.supervision_stopped", "call", "supervision/stopped",
              "The supervisor left (data: agent, reason)."),
    TopicRule("recording.paused", "call", "recording/paused",
              "Recording paused, e.g. for a card number (data: at, seconds into the file)."),
    TopicRule("recording.resumed", "call", "recording/resumed",
              "Recording resumed (data: start, end of the silent span)."),
    TopicRule("interaction.disposition_set", "interaction", "disposition/set",
              "The agent wrapped up (data: agent, disposition, notes)."),
    TopicRule("interaction.offer_missed", "interaction", "offer/missed",
              "The offered agent did not answer; the interaction is back at its place."),
    TopicRule("interaction.offer_rejected", "interaction", "offer/rejected",
              "The offered agent rejected it on the desk; it goes to another agent "
              "(data: agent, reason)."),
    TopicRule("call.bridged", "call", "bridged",
              "The call was bridged to another leg (data: other call id)."),
    TopicRule("recording.started", "call", "recording/started", "Recording began."),
    TopicRule("recording.stopped", "call", "recording/stopped",
              "Recording ended (data: file)."),
    TopicRule("recording.completed", "call", "recording/completed",
              "The conversation's stereo file is ready (data: path, channels, agents)."),
    TopicRule("speech.recognized", "call", "speech/recognized",
              "A final speech recognition result."),
    TopicRule("prompt.played", "call", "prompt/played",
              "A prompt finished playing (data: files, reason)."),
    TopicRule("media.stats", "call", "media/stats",
              "RTP statistics of a finished call (data: as the worker measured)."),
    TopicRule("transcript.completed", "leg", "transcript/completed",
              "A post-call transcript is ready."),
    TopicRule("flow.started", "leg", "flow/started", "A flow started (data: flow)."),
    TopicRule("flow.step", "leg", "flow/step",
              "A flow node ran (data: node, type, outcome)."),
    TopicRule("flow.input", "leg", "flow/input",
              "A flow node collected input (data: node, digits, reason)."),
    TopicRule("flow.error", "leg", "flow/error",
              "A flow node failed and took its error branch (data: node, error)."),
    TopicRule("flow.ended", "leg", "flow/ended", "A flow finished (data: outcome)."),
    TopicRule("flow.variable_set", "leg", "flow/variable/set",
              "A flow set a variable (data: node, name, value; secrets shown as ***)."),
    TopicRule("flow.http", "leg", "flow/http",
              "A flow's http node called a URL (data: node, method, url, status or error)."),
    TopicRule("customer.authenticated", "leg", "customer/authenticated",
              "A flow authenticated the caller (data: node, account, customer_id, method)."),
    TopicRule("customer.authentication_failed", "leg", "customer/authentication/failed",
              "An authentication attempt failed (data: node, account, attempt, reason)."),
    TopicRule("customer.locked_out", "leg", "customer/locked_out",
              "Too many failed attempts: the caller is locked out (data: account, attempts)."),
    TopicRule("call.transfer_requested", "call", "transfer/requested",
              "A flow asked to transfer the call (data: node, to, target)."),
    TopicRule("agent.added", "agent", "added", "An agent was created."),
    TopicRule("agent.updated", "agent", "updated",
              "An agent's skills or password changed."),
    TopicRule("agent.removed", "agent", "removed", "An agent was deleted."),
    TopicRule("agent.state_changed", "agent", "state/changed",
              "An agent's routing state changed (data: state, previous, reason)."),
    TopicRule("queue.figures", "queue", "figures",
              "Real-time figures of a queue, every few seconds (see docs/queues.md)."),
    TopicRule("callback.requested", "interaction", "callback/requested",
              "The caller left the queue for a callback and keeps the place (data: number)."),
    TopicRule("callback.attempt_failed", "interaction", "callback/attempt/failed",
              "The customer did not answer a callback (data: attempt, reason, retry_in_s)."),
    TopicRule("callback.connected", "interaction", "callback/connected",
              "The customer answered the callback and is bridged to the agent."),
    TopicRule("callback.failed", "interaction", "callback/failed",
              "Every callback attempt failed; the callback is given up (data: attempts)."),
)

TOPICS: dict[str, TopicRule] = {rule.kind: rule for rule in _RULES}
assert len(TOPICS) == len(_RULES), "an event kind is listed twice in _RULES"


def topic_for(
    prefix: str,
    kind: str,
    *,
    call_id: str | None = None,
    interaction_id: str | None = None,
    agent: str | None = None,
    queue: str | None = None,
) -> str:
    """The one topic on which events of ``kind`` are published."""
    rule = TOPICS.get(kind)
    if rule is None:
        raise UnknownEventKind(f"event kind {kind!r} has no topic in voicecenter/events/topics.py")
    scope = rule.scope
    if scope == "leg":
        scope = "call" if call_id else "interaction"
    if scope == "call":
        owner = _segment("call_id", kind, call_id)
        return f"{prefix}/calls/{owner}/{rule.path}"
    if scope == "interaction":
        owner = _segment("interaction_id", kind, interaction_id)
        return f"{prefix}/interactions/{owner}/{rule.path}"
    if scope == "queue":
        return f"{prefix}/queues/{_segment('queue', kind, queue)}/{rule.path}"
    owner = _segment("agent", kind, agent)
    return f"{prefix}/agents/{owner}/{rule.path}"


def subscription(prefix: str) -> str:
    """The filter that matches every voicecenter event."""
    return f"{prefix}/#"


def _segment(name: str, kind: str, value: str | None) -> str:
    # A '/', '+' or '#' inside an id would move the event to another topic
    # or make it unpublishable; ids are generated, so this is a bug upstream.
    if not value or any(char in value for char in "/+#"):
        raise ValueError(f"{kind}: {name} {value!r} cannot be a topic level")
    return value


def markdown_table(prefix: str = "voicecenter") -> str:
    """The table of kinds and topics that docs/events.md embeds (kept in sync by a test)."""
    owners = {
        "call": "calls/{call_id}",
        "interaction": "interactions/{interaction_id}",
        "agent": "agents/{name}",
        "queue": "queues/{name}",
    }
    lines = ["| kind | topic | meaning |", "| --- | --- | --- |"]
    for rule in _RULES:
        if rule.scope == "leg":
            topic = (
                f"`{prefix}/calls/{{call_id}}/{rule.path}` or "
                f"`{prefix}/interactions/{{interaction_id}}/{rule.path}`"
            )
        else:
            topic = f"`{prefix}/{owners[rule.scope]}/{rule.path}`"
        lines.append(f"| `{rule.kind}` | {topic} | {rule.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - used to refresh docs/events.md
    print(markdown_table(), end="")
