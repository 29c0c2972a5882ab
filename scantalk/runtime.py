"""The MQTT node runtime every node runs on; no node touches paho directly.

A node declares its subscriptions (one handler each) and its background workers; the runtime
owns the client and its network thread, the retained `online` status with an `offline` last
will, reconnects with re-subscription, periodic stats, and a clean stop on SIGTERM/SIGINT.

Handlers run off the network thread so keepalives never starve, in one of three ways:
- `Delivery.QUEUE`: every message, in order, on the subscription's own thread;
- `Delivery.LATEST`: only the newest message matters (frames); older unhandled ones are dropped;
- `Delivery.INLINE`: on the network thread, *before* the QoS 1 acknowledgement is sent. For
  short durable writes only (the bridge's outbox), so a message is stored before it is acked.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from scantalk.channels import CHANNELS, STATUS, Channel, channel_of
from scantalk.connection import mqtt_client
from scantalk.contract import OFFLINE, ONLINE, ContractError, NodeName, Payload, Stats, Topics
from scantalk.counters import CounterName, RuntimeCounter
from scantalk.logs import setup_logging
from scantalk.settings import Settings

KEEPALIVE_S = 5
"""The broker declares a node gone (and publishes its `offline` will) after 1.5 times this
without a packet, and Mosquitto checks every few seconds: a frozen process shows `offline`
within about 10 s (the README promises 15)."""
HUNG_S = 10.0
"""A handler busy longer than this means the node has stopped working: it shows `offline` until
the handler returns (the watchdog), so no one trusts a node that only keeps its connection."""
EXIT_UNACKED = 75
"""Exit status (EX_TEMPFAIL) of a node that stopped rather than lose a message."""
SESSION_EXPIRY_S = 7 * 24 * 3600
"""How long the broker keeps a persistent session's queued messages while its node is down."""


class Delivery(enum.Enum):
    QUEUE = "queue"
    LATEST = "latest"
    INLINE = "inline"


@dataclass(frozen=True)
class Message:
    """An incoming message, free of paho types."""

    topic: str
    payload: bytes
    properties: dict[str, str] = field(default_factory=dict)
    retain: bool = False
    """Delivered from the broker's retained store (sent before this node subscribed), or, on a
    command channel (retain-as-published), published with the retain flag."""
    received: float = field(default_factory=time.monotonic)
    """`time.monotonic()` when the message arrived, to measure latency through a node."""


Handler = Callable[[Message], None]
Worker = Callable[[threading.Event], None]


class Refused(ContractError):
    """A message a handler refuses for a reason of its own, counted by `Node.handle` in
    `rejected` and in `rejected_<reason>`. Reasons are short, stable keys (stats and
    dashboards name them): `station` (a payload for another station than its topic's),
    `config` (a live change the node refused), `retained` (a command published retained); any
    other `ContractError` counts as `contract`.
    """

    CONTRACT = "contract"
    STATION = "station"
    CONFIG = "config"
    RETAINED = "retained"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

    @classmethod
    def check_station(cls, station: str, topic: str, what: str) -> None:
        """Refuse a payload whose `station` is not the station of the topic it came on."""
        if station != (expected := Topics.station_of(topic)):
            raise cls(f"{what} for station {station[:80]!r} on {expected}'s topic", cls.STATION)


def _refuse_retained(message: Message) -> None:
    raise Refused(
        "a command published retained (it would be obeyed again at every start): publish it "
        "live, without the retain flag",
        Refused.RETAINED,
    )


class _Subscription:
    def __init__(
        self,
        node: Node,
        topic: str,
        handler: Handler,
        qos: int,
        delivery: Delivery,
        command: bool = False,
    ) -> None:
        self.node, self.topic, self.handler = node, topic, handler
        self.qos, self.delivery, self.command = qos, delivery, command
        # `$share/<group>/<filter>` delivers messages on topics matching <filter>.
        self.filter = topic.split("/", 2)[2] if topic.startswith("$share/") else topic
        self._queue: queue.Queue[Message | None] = queue.Queue(
            maxsize=1 if delivery is Delivery.LATEST else 1000
        )
        self.busy_since: float | None = None
        """`time.monotonic()` when the handler began on the message it is on, if any."""

    def deliver(self, message: Message) -> None:
        if self.command and message.retain:
            self.node.handle(_refuse_retained, message)
            return
        if self.delivery is Delivery.INLINE:
            self.node.handle(self.handler, message, fatal=True)
            return
        self._put(message)

    def close(self) -> None:
        """End `run`: None, put after the messages waiting, is the end."""
        self._put(None)

    def _put(self, message: Message | None) -> None:
        while True:
            try:
                self._queue.put_nowait(message)
                return
            except queue.Full:
                try:  # keep the newest: drop the oldest waiting message
                    self._queue.get_nowait()
                    self.node.count(RuntimeCounter.DROPPED)
                except queue.Empty:
                    pass

    def run(self, stop: threading.Event) -> None:
        # Blocks until a message or the end (`close`): an idle lane wakes no thread to poll.
        while (message := self._queue.get()) is not None and not stop.is_set():
            self.busy_since = time.monotonic()
            try:
                self.node.handle(self.handler, message)
            finally:
                self.busy_since = None


class Node:
    """One ScanTalk process on the bus: `camera`, `classifier`, `voice` or `bridge`."""

    def __init__(
        self,
        name: NodeName,
        settings: Settings,
        *,
        persistent_session: bool = False,
        hung_after_s: float = HUNG_S,
        channels: tuple[Channel, ...] = (),
    ) -> None:
        self.name = name
        self.channels = (*CHANNELS, *channels)
        """The contract's channels and the node's own (the bridge's Home Assistant topics):
        what it may publish or subscribe to, with their QoS, retain flag and expiry."""
        self._channel_of: dict[str, Channel] = {}
        self.settings = settings
        self.topics = settings.topics
        self.log = setup_logging(name, settings.station, settings.log_level)
        self.stop_event = threading.Event()
        self._counters: Counter[str] = Counter()
        self._gauges: dict[str, float] = {}
        self._measures: dict[str, Callable[[], float | None]] = {}
        self._stats_soon = threading.Event()
        self._hung_after_s = hung_after_s
        self._hung = False
        """A handler is stuck: the node says `offline`, on every (re)connection too."""
        self._lock = threading.Lock()
        self._subscriptions: list[_Subscription] = []
        self._workers: list[Worker] = []
        self._online_callbacks: list[Callable[[], None]] = []
        self._failed = False
        self._connected = threading.Event()
        self._persistent = persistent_session
        suffix = f"-{settings.instance}" if settings.instance else ""
        self._client = mqtt_client(settings, f"scantalk-{name}-{settings.station}{suffix}")
        will = self.topics.status(name)
        self._client.will_set(will, OFFLINE, qos=STATUS.qos, retain=STATUS.retain)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_message = self._on_message

    # --- what a node declares -------------------------------------------------------------

    def subscribe(
        self, topic: str, handler: Handler, *, delivery: Delivery = Delivery.QUEUE
    ) -> None:
        """Subscribe to a channel this node reads, at its QoS in the channel table."""
        channel = self.channel(topic)
        reader = channel.reader(self.name)
        if reader is None:
            raise ContractError(f"the {self.name} node is no reader of {channel.key} ({topic})")
        qos = channel.qos if reader.qos is None else reader.qos
        self._subscriptions.append(
            _Subscription(self, topic, handler, qos, delivery, channel.command)
        )

    def channel(self, topic: str) -> Channel:
        """The channel of a topic or filter, from the table (remembered per topic)."""
        if (known := self._channel_of.get(topic)) is None:
            try:
                known = self._channel_of[topic] = channel_of(topic, self.channels)
            except KeyError as exc:
                raise ContractError(str(exc)) from None
        return known

    @property
    def connected(self) -> bool:
        """Connected to the broker now."""
        return bool(self._client.is_connected())

    def on_online(self, callback: Callable[[], None]) -> None:
        """Run on the network thread after each (re)connection, e.g. to republish state."""
        self._online_callbacks.append(callback)

    def add_worker(self, worker: Worker) -> None:
        """Background work the node owns; it must return soon after the stop event is set."""
        self._workers.append(worker)

    # --- what handlers and workers use ----------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes | Payload,
        *,
        user_properties: list[tuple[str, str]] | None = None,
    ) -> mqtt.MQTTMessageInfo:
        """Publish on a channel this node publishes, with the QoS, retain flag and expiry of
        the channel table."""
        channel = self.channel(topic)
        if channel.publisher(self.name) is None:
            raise ContractError(f"the {self.name} node publishes no {channel.key} ({topic})")
        properties = None
        if user_properties or channel.expiry_s:
            properties = Properties(PacketTypes.PUBLISH)
            if user_properties:
                properties.UserProperty = user_properties
            if channel.expiry_s:
                properties.MessageExpiryInterval = channel.expiry_s
        data = payload.to_json() if isinstance(payload, Payload) else payload
        return self._client.publish(
            topic, data, qos=channel.qos, retain=channel.retain, properties=properties
        )

    def count(self, key: CounterName, n: int = 1) -> None:
        """Add `n` to a counter: names are in `scantalk.counters`, one enum per node."""
        with self._lock:
            self._counters[key] += n

    def gauge(self, key: CounterName, value: float) -> None:
        """A level rather than a count (e.g. records waiting), reported with the counters."""
        with self._lock:
            self._gauges[key] = value

    def measure(self, key: CounterName, read: Callable[[], float | None]) -> None:
        """A gauge read when stats go out (e.g. frames in the last minute), so it falls when
        nothing happens, too; None leaves it out (nothing measured)."""
        self._measures[key] = read

    def counters(self) -> dict[str, float]:
        measured = {}
        for key, read in self._measures.items():
            try:
                value = read()
            except Exception:  # a gauge that cannot be read must not take the node down
                self.count(RuntimeCounter.MEASURE_ERRORS)
                self.log.exception("could not measure %s", key)
                continue
            if value is not None:
                measured[key] = value
        with self._lock:
            return {**self._counters, **self._gauges, **measured}

    def stats_soon(self) -> None:
        """Publish stats now rather than at the next interval (at most once a second): for
        counts someone watches, such as scans today."""
        self._stats_soon.set()

    def handle(self, handler: Handler, message: Message, *, fatal: bool = False) -> None:
        """Run a handler; bad input is logged and counted, and the node goes on.

        A `ContractError` counts in `rejected` and in `rejected_<reason>`: its `reason` if it
        has one (`Refused`), else `contract` (malformed, or against the contract's types).

        With `fatal`, any other failure ends the process at once: the handler runs before the
        QoS 1 acknowledgement, so the broker keeps the message and redelivers it after a restart.
        """
        try:
            handler(message)
        except ContractError as exc:
            # Counted twice: `rejected` in all, and `rejected_<reason>` by why (`Refused`).
            reason = getattr(exc, "reason", None) or Refused.CONTRACT
            with self._lock:
                self._counters[RuntimeCounter.REJECTED] += 1
                self._counters[RuntimeCounter.rejected(reason)] += 1
            # The reason in the template: the log summarises each reason on its own.
            self.log.warning(f"rejected message ({reason}) on %s: %s", message.topic, exc)
        except Exception:
            self.count(RuntimeCounter.ERRORS)
            if fatal:
                self.log.critical(
                    "could not take a message on %s; exiting unacknowledged", message.topic,
                    exc_info=True,
                )  # fmt: skip
                logging.shutdown()
                os._exit(EXIT_UNACKED)
            self.log.exception("handler failed for a message on %s", message.topic)

    # --- lifecycle ------------------------------------------------------------------------

    def run(self) -> None:
        """Connect, run until SIGTERM/SIGINT or `stop()`, then go offline cleanly."""
        if threading.current_thread() is threading.main_thread():  # else: whoever runs it stops it
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        properties = None
        if self._persistent:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self.log.info("connecting to %s:%d", self.settings.mqtt_host, self.settings.mqtt_port)
        self._client.connect_async(
            self.settings.mqtt_host,
            self.settings.mqtt_port,
            keepalive=KEEPALIVE_S,
            clean_start=not self._persistent,
            properties=properties,
        )
        threads = [
            threading.Thread(
                target=s.run, args=(self.stop_event,), name=f"sub:{s.topic}", daemon=True
            )
            for s in self._subscriptions
            if s.delivery is not Delivery.INLINE
        ]
        threads += [
            threading.Thread(target=self._guard, args=(w,), name=w.__name__, daemon=True)
            for w in [*self._workers, self._publish_stats, self._watchdog]
        ]
        for thread in threads:
            thread.start()
        self._client.loop_start()
        while not self.stop_event.wait(1):
            pass
        self.log.info("stopping")
        for subscription in self._subscriptions:
            subscription.close()
        for thread in threads:
            thread.join(timeout=5)
        if self._client.is_connected():
            offline = self.publish(self.topics.status(self.name), OFFLINE)
            with contextlib.suppress(RuntimeError, ValueError):  # the broker went first
                offline.wait_for_publish(2)
        self._client.disconnect()
        self._client.loop_stop()
        self.log.info("stopped")
        if self._failed:
            raise SystemExit(1)

    def stop(self) -> None:
        self.stop_event.set()
        self._stats_soon.set()

    def _guard(self, worker: Worker) -> None:
        """A node whose worker died is broken: stop it, so that its supervisor restarts it
        (IoT Edge's restart policy, or `scantalk up`), rather than stay
        `online` doing nothing."""
        # Work starts once the node is on the bus: a frame or an ack sent before would be lost.
        while not self._connected.wait(0.2):
            if self.stop_event.is_set():
                return
        try:
            worker(self.stop_event)
        except Exception:
            self.log.exception("%s failed; stopping the node", worker.__name__)
            self._failed = True
            self.stop()

    def _publish_stats(self, stop: threading.Event) -> None:
        while True:
            self._stats_soon.wait(self.settings.stats_interval)
            if stop.is_set():
                return
            self._stats_soon.clear()
            stats = Stats(station=self.settings.station, node=self.name, counters=self.counters())
            self.publish(self.topics.stats(self.name), stats)
            if stop.wait(1):
                return

    def _watchdog(self, stop: threading.Event) -> None:
        """Show `offline` while a handler is stuck: the connection alone proves nothing."""
        while not stop.wait(1):
            now = time.monotonic()
            stuck = [
                s.topic
                for s in self._subscriptions
                if s.busy_since is not None and now - s.busy_since > self._hung_after_s
            ]
            was_hung, self._hung = self._hung, bool(stuck)  # before publishing: see _on_connect
            if stuck and not was_hung:
                self.count(RuntimeCounter.HUNG)
                self.log.error(
                    "handler for %s stuck over %.0f s: offline", stuck[0], self._hung_after_s
                )
                self.publish(self.topics.status(self.name), OFFLINE)
            elif was_hung and not stuck:
                self.log.warning("handlers working again: online")
                self.publish(self.topics.status(self.name), ONLINE)

    # --- paho callbacks (network thread) --------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: dict,
        rc: object,
        _props: object = None,
    ) -> None:
        if rc != 0:
            # The edge broker says "Not authorized" to a wrong or missing user or password.
            self.log.error(
                "broker refused the connection: %s (user %s; SCANTALK_MQTT_USERNAME, "
                "SCANTALK_MQTT_PASSWORD)", rc, self.settings.mqtt_username or "none",
            )  # fmt: skip
            return
        for s in self._subscriptions:
            # A command's retain flag as published: a retained one is refused, not obeyed.
            client.subscribe(
                s.topic, options=SubscribeOptions(qos=s.qos, retainAsPublished=s.command)
            )
        # After the subscriptions: once a peer sees `online`, this node hears what it subscribed to.
        status = OFFLINE if self._hung else ONLINE
        client.publish(self.topics.status(self.name), status, qos=STATUS.qos, retain=STATUS.retain)
        self._connected.set()
        self.log.info("online")
        for callback in self._online_callbacks:
            try:  # on paho's network thread: an error here must not end it
                callback()
            except Exception:
                self.count(RuntimeCounter.ERRORS)
                self.log.exception("reconnect callback %s failed", callback)

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        # paho calls this from inside its `except OSError`, without the error: take it there.
        reason = sys.exc_info()[1] or "no reason given"
        self.count(RuntimeCounter.CONNECT_FAILURES)
        self.log.warning(
            "cannot reach the broker at %s:%d (%s); retrying",
            self.settings.mqtt_host, self.settings.mqtt_port, reason,
        )  # fmt: skip

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: object, rc: object, _props: object = None
    ) -> None:
        if not self.stop_event.is_set():
            self.count(RuntimeCounter.DISCONNECTS)
            self.log.warning("lost the broker (%s); reconnecting", rc)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg.properties, "UserProperty", None) or []
        message = Message(msg.topic, msg.payload, dict(props), bool(msg.retain))
        for s in self._subscriptions:
            if mqtt.topic_matches_sub(s.filter, msg.topic):
                s.deliver(message)


class Peer:
    """A short visit to the bus for a command (`scantalk teach`), not a node: no status, no
    last will. Use as a context manager; it connects on entry or raises `ConnectionError`."""

    def __init__(self, settings: Settings, purpose: str) -> None:
        self.settings = settings
        self._client = mqtt_client(settings, f"scantalk-{purpose}-{settings.station}-{os.getpid()}")

    def __enter__(self) -> Peer:
        try:
            # Wait for the broker's answer: a wrong password must fail here, clearly, not later.
            answer = self._client.connect_and_wait(
                self.settings.mqtt_host, self.settings.mqtt_port, keepalive=KEEPALIVE_S
            )
        except OSError as exc:
            raise ConnectionError(
                f"cannot reach the broker at {self.settings.mqtt_host}:"
                f"{self.settings.mqtt_port} ({exc})"
            ) from exc
        if answer != "Success":
            self.__exit__()
            user = self.settings.mqtt_username or "anonymous"
            raise ConnectionError(
                f"the broker at {self.settings.mqtt_host}:{self.settings.mqtt_port} refused "
                f"{user}: {answer} (SCANTALK_MQTT_USERNAME, SCANTALK_MQTT_PASSWORD)"
            )
        return self

    def __exit__(self, *_exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(
        self, topic: str, payload: Payload | bytes, timeout: float = 10, retain: bool = False
    ) -> None:
        """Publish at QoS 1 and wait for the broker to take it."""
        data = payload.to_json() if isinstance(payload, Payload) else payload
        info = self._client.publish(topic, data, qos=1, retain=retain)
        info.wait_for_publish(timeout)
        if info.is_published() and (code := self._client.puback_code(info.mid)) >= 0x80:
            user = self.settings.mqtt_username or "anonymous"
            raise ConnectionError(
                f"the broker refused {user} a message on {topic} (reason code {code:#x}: "
                "not authorized where 0x87; see the broker's ACL)"
            )
        if not info.is_published():
            raise ConnectionError(f"the broker did not take the message on {topic}")

    def receive(self, topic: str, count: int, every_s: float, timeout: float) -> list[bytes]:
        """Up to `count` payloads from `topic`, at least `every_s` apart, within `timeout`."""
        taken: list[bytes] = []
        done = threading.Event()
        last = [-every_s]

        def take(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
            if len(taken) < count and time.monotonic() - last[0] >= every_s:
                last[0] = time.monotonic()
                taken.append(msg.payload)
                if len(taken) == count:
                    done.set()

        self._client.on_message = take
        self._client.subscribe(topic, qos=0)
        done.wait(timeout)
        self._client.unsubscribe(topic)
        return taken[:count]
