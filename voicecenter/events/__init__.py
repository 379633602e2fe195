"""The event bus: the MQTT topic tree, the outbox publisher, the embedded broker.

Modules are imported directly (``voicecenter.events.publisher`` ...): the
store imports ``topics`` and the publisher imports the store, so this package
must not import its modules eagerly.
"""
