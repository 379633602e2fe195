"""OutboxPublisher: moves outbox rows to the MQTT broker, in order, at least once.

The repositories never talk to the broker; they only write outbox rows in
the transaction of the change. This task drains them:
- publishes unpublished rows in id order with QoS 1, and marks a row
  published only once the broker has acknowledged it (and everything before
  it), so a crash or an outage at any point can repeat a message but never
  lose one. Subscribers deduplicate on ``event_id``;
- wakes at once when a transaction adds rows (``store.outbox_written``) and
  also polls every second, for rows written by another process;
- reconnects with backoff (0.2 s doubling to 2 s) while the broker is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from datetime import timedelta
from urllib.parse import unquote, urlsplit

import aiomqtt

from voicecenter.settings import MqttSettings, Settings
from voicecenter.store.database import Store
from voicecenter.store.records import OutboxRecord

log = logging.getLogger(__name__)


def mqtt_client(mqtt: MqttSettings, identifier: str, *, max_inflight: int = 20) -> aiomqtt.Client:
    """A client for the configured broker: ``mqtt.url`` if set, else host:port."""
    host, port, tls = mqtt.host, mqtt.port, None
    username, password = mqtt.username, mqtt.password
    if mqtt.url:
        parts = urlsplit(mqtt.url)
        secure = parts.scheme == "mqtts"
        host = parts.hostname or host
        port = parts.port or (8883 if secure else 1883)
        tls = ssl.create_default_context() if secure else None
        if parts.username:
            username = unquote(parts.username)
            password = unquote(parts.password) if parts.password else password
    return aiomqtt.Client(
        host, port, username=username, password=password, identifier=identifier,
        tls_context=tls, timeout=5, keepalive=10, max_inflight_messages=max_inflight,
    )


class OutboxPublisher:
    """Background task that publishes the store's outbox; ``start()``/``stop()``."""

    def __init__(
        self,
        store: Store,
        mqtt: MqttSettings | Settings,
        *,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        backoff_min: float = 0.2,
        backoff_max: float = 2.0,
        retention: timedelta = timedelta(days=1),
    ) -> None:
        self._store = store
        self._mqtt = mqtt.mqtt if isinstance(mqtt, Settings) else mqtt
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max
        self._retention = retention
        self._task: asyncio.Task[None] | None = None
        self._next_purge = 0.0
        # Observable state, for health checks and tests.
        self.connected = False
        self.failed_attempts = 0
        self.published = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        self._task = asyncio.create_task(self._run(), name="outbox-publisher")

    async def stop(self) -> None:
        """Cancel the task and wait for it; unpublished rows stay for the next start."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def __aenter__(self) -> OutboxPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def wait_drained(self, timeout: float = 10.0) -> None:
        """Wait until no unpublished row is left (raises TimeoutError)."""
        # Polls the table: rows may come from other processes, not only our commits.
        async with asyncio.timeout(timeout):
            while await self._store.outbox.count_pending():  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    async def _run(self) -> None:
        delay = self._backoff_min
        identifier = f"voicecenter-outbox-{uuid.uuid4().hex[:12]}"
        while True:
            try:
                # A new client per connection: paho would otherwise resend its
                # own copies of unacknowledged messages on top of ours.
                client = mqtt_client(self._mqtt, identifier, max_inflight=self._batch_size)
                # A whole batch is in flight on purpose; don't warn about it.
                client.pending_calls_threshold = self._batch_size + 1
                async with client:
                    self.connected = True
                    if self.failed_attempts:
                        log.info("MQTT broker reachable again; publishing the outbox")
                    self.failed_attempts = 0
                    delay = self._backoff_min
                    await self._pump(client)
            except aiomqtt.MqttError as exc:
                self.failed_attempts += 1
                if self.failed_attempts == 1:
                    log.warning("MQTT broker unavailable (%s); events wait in the outbox", exc)
            except Exception:
                # A store error must not kill the task: events would silently
                # pile up. Log it and start over after the backoff.
                self.failed_attempts += 1
                log.exception("outbox publisher failed; retrying")
            finally:
                self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max)

    async def _pump(self, client: aiomqtt.Client) -> None:
        wake = self._store.outbox_written
        while True:
            # Clear before reading: a commit after the read sets it again.
            wake.clear()
            rows = await self._store.outbox.pending(self._batch_size)
            if rows:
                await self._publish(client, rows)
                continue
            await self._purge()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await wake.wait()

    async def _publish(self, client: aiomqtt.Client, rows: list[OutboxRecord]) -> None:
        # Started in id order, so paho sends them in that order; awaited
        # together, so a batch costs one round trip rather than one per row.
        results = await asyncio.gather(
            *(client.publish(row.topic, row.payload.encode(), qos=1) for row in rows),
            return_exceptions=True,
        )
        done: list[int] = []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                break
            done.append(row.id)
        await self._store.outbox.mark_published(done)
        self.published += len(done)
        for result in results:
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                raise aiomqtt.MqttError(f"publish failed: {result}") from result

    async def _purge(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_purge:
            return
        self._next_purge = loop.time() + min(600.0, max(1.0, self._retention.total_seconds()))
        removed = await self._store.outbox.purge_published(self._retention)
        if removed:
            log.debug("purged %d published outbox rows", removed)
