"""Change events between API nodes over Redis pub/sub.

With several API nodes, a customer enrolled through node A must reach the
galleries of node B. Each node forwards its own committed changes to a Redis
channel and delivers the other nodes' changes to its local listeners. The
channel is named after the database, so deployments (and tests) that share a
Redis server never see each other's customers.

Pub/sub is fire-and-forget: a node that was disconnected while a change was
published has missed it, so after a reconnect the node's galleries are
rebuilt from the database (``on_reconnect``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable

import redis

from facepay.customers.events import BiometricChange, ChangeKind

log = logging.getLogger("facepay.identification")
_RETRY_SECONDS = 1.0


def channel_for(database_url: str) -> str:
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return f"facepay:{digest}:biometric-changes"


class RedisChangeRelay:
    def __init__(
        self,
        redis_url: str,
        channel: str,
        deliver: Callable[[BiometricChange], None],
        on_reconnect: Callable[[], None],
    ) -> None:
        self.channel = channel
        self.origin = uuid.uuid4().hex
        self._deliver = deliver
        self._on_reconnect = on_reconnect
        self._client = redis.Redis.from_url(redis_url)
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="change-relay", daemon=True)
        self._thread.start()

    def wait_subscribed(self, timeout: float = 5.0) -> bool:
        return self._subscribed.wait(timeout)

    def forward(self, change: BiometricChange) -> None:
        message = {"customer_id": change.customer_id, "kind": change.kind, "origin": self.origin}
        try:
            self._client.publish(self.channel, json.dumps(message))
        except redis.RedisError as exc:
            # Committed already: other nodes catch up when their relay reconnects.
            log.error("cannot relay %s to other nodes: %s", change, exc)

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self._subscribed.set()
                if not first:
                    self._on_reconnect()
                first = False
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None:
                        self._handle(message["data"])
                pubsub.close()
            except redis.RedisError as exc:
                self._subscribed.clear()
                log.warning("change relay lost Redis (%s); retrying", exc)
                time.sleep(_RETRY_SECONDS)

    def _handle(self, data: bytes) -> None:
        try:
            body = json.loads(data)
            if body.get("origin") == self.origin:
                return
            change = BiometricChange(str(body["customer_id"]), ChangeKind(body["kind"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed change message on %s", self.channel)
            return
        self._deliver(change)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)
        self._client.close()
