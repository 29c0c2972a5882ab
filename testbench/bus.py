"""A test's ears on the bus: a real MQTT client that records every message it hears."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from scantalk.connection import mqtt_client
from scantalk.contract import ONLINE, FrameInfo, NodeName, Topics
from scantalk.settings import Settings

ACCEPTED, NOT_AUTHORIZED = "accepted", "not authorized"


@dataclass(frozen=True)
class Heard:
    topic: str
    payload: bytes
    properties: dict[str, str]
    retain: bool
    received: float = 0.0
    """`time.monotonic()` when it was heard."""
    expiry: int | None = None
    """The MQTT v5 message expiry interval it arrived with, if any."""

    def json(self) -> Any:
        return json.loads(self.payload)


class Bus:
    def __init__(
        self,
        port: int,
        topics: list[str],
        host: str = "127.0.0.1",
        persistent: bool = False,
        login: Settings | None = None,
    ) -> None:
        """`persistent`: a session the broker keeps (and fills) while this listener is away,
        e.g. across a restart of that broker. `login`: the user, password and TLS CA to
        connect with (its host and port are not used)."""
        self.heard: list[Heard] = []
        self._cond = threading.Condition()
        self.client = mqtt_client(login or Settings(), f"test-{id(self)}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()

        def on_connect(client: mqtt.Client, *_: object) -> None:
            if topics:
                client.subscribe([(t, 1) for t in topics])
            else:
                subscribed.set()

        self.client.on_connect = on_connect
        self.client.reconnect_delay_set(0.1, 1)
        properties = None
        if persistent:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 3600
        self.client.connect(host, port, clean_start=not persistent, properties=properties)
        self.client.loop_start()
        assert subscribed.wait(10), "test subscriber could not subscribe"

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        props = dict(getattr(msg.properties, "UserProperty", None) or [])
        with self._cond:
            expiry = getattr(msg.properties, "MessageExpiryInterval", None)
            self.heard.append(
                Heard(msg.topic, msg.payload, props, bool(msg.retain), time.monotonic(), expiry)
            )
            self._cond.notify_all()

    def matching(self, topic: str, where: Callable[[Heard], bool] = lambda _: True) -> list[Heard]:
        with self._cond:
            return [h for h in self.heard if mqtt.topic_matches_sub(topic, h.topic) and where(h)]

    def wait_for(
        self,
        topic: str,
        where: Callable[[Heard], bool] = lambda _: True,
        count: int = 1,
        timeout: float = 60,
    ) -> list[Heard]:
        """Block until `count` messages on `topic` satisfy `where`; returns them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(found := self.matching(topic, where)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = sorted({h.topic for h in self.heard})
                    raise AssertionError(f"waited {timeout} s for {count} on {topic}; heard {seen}")
                self._cond.wait(left)
            return found

    def wait_until(self, check: Callable[[], bool], what: str, timeout: float = 60) -> None:
        """Block until `check()` holds, re-checked after each message heard."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout} s for {what}")
                self._cond.wait(left)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)

    def try_publish(self, topic: str, payload: bytes = b"x", retain: bool = False) -> str:
        """Publish at QoS 1 and say what the PUBACK's reason code says: `ACCEPTED` (codes below
        0x80: Mosquitto says 0x10 when no one subscribed), `NOT_AUTHORIZED` (0x87, how an MQTT 5
        broker refuses a publish), or the code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published(), f"no PUBACK for {topic}"
        code = self.client.puback_code(info.mid)
        return ACCEPTED if code < 0x80 else NOT_AUTHORIZED if code == 0x87 else hex(code)

    def send_frame(self, data: bytes, frame_id: str, station: str = "lane-1") -> None:
        """A frame as the camera sends it: QoS 0, its id in the MQTT v5 user properties."""
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = FrameInfo(frame_id=frame_id).to_properties()
        self.client.publish(Topics(station).frame, data, qos=0, properties=properties)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_online(bus: Bus, *nodes: str, station: str = "lane-1") -> None:
    """Block until each node has announced itself online (its retained status)."""
    for node in nodes:
        bus.wait_for(Topics(station).status(NodeName(node)), lambda h: h.payload == ONLINE)
