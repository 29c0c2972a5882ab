"""IoT Hub's side of a module twin, on the hub stand-in's broker (`testbench.hub`): it answers
the real `azure-iot-device` SDK on the twin's MQTT topics as IoT Hub does, so the client code
runs up to the wire.

- `$iothub/twin/GET/?$rid=<rid>`: the whole twin, `{"desired": …, "reported": …}`, each with
  its `$version`, on `$iothub/twin/res/200/?$rid=<rid>`;
- `$iothub/twin/PATCH/properties/reported/?$rid=<rid>`: merged (null deletes a key), answered
  on `$iothub/twin/res/204/?$rid=<rid>&$version=<v>`;
- `set_desired(patch)`: merged into the desired document, whose `$version` grows, and pushed on
  `$iothub/twin/PATCH/properties/desired/?$version=<v>` to a client that is connected.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from bridge.twin import merge
from scantalk.connection import mqtt_client
from scantalk.settings import Settings


class TwinStandIn:
    def __init__(self, port: int, desired: dict[str, Any] | None = None) -> None:
        self.desired: dict[str, Any] = {**(desired or {}), "$version": 1}
        self.reported: dict[str, Any] = {"$version": 1}
        self.reports = 0
        """Reported-property patches received."""
        self._cond = threading.Condition()
        self.client = mqtt_client(Settings(), f"twin-stand-in-{id(self)}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_connect = lambda c, *_: c.subscribe(
            [("$iothub/twin/GET/#", 1), ("$iothub/twin/PATCH/properties/reported/#", 1)]
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "the twin stand-in could not subscribe"

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        path, _, query = msg.topic.partition("?")
        rid = urllib.parse.parse_qs(query).get("$rid", [""])[0]
        with self._cond:
            if path.startswith("$iothub/twin/GET"):
                body = json.dumps({"desired": self.desired, "reported": self.reported})
                self.client.publish(f"$iothub/twin/res/200/?$rid={rid}", body, qos=0)
                return
            merge(self.reported, json.loads(msg.payload))
            self.reported["$version"] += 1
            self.reports += 1
            version = self.reported["$version"]
            self._cond.notify_all()
        self.client.publish(f"$iothub/twin/res/204/?$rid={rid}&$version={version}", b"", qos=0)

    def set_desired(self, patch: dict[str, Any]) -> int:
        """Change the desired properties, as a deployment or a back end does; their version."""
        with self._cond:
            merge(self.desired, patch)
            self.desired["$version"] += 1
            version = self.desired["$version"]
            body = json.dumps({**patch, "$version": version})
        self.client.publish(f"$iothub/twin/PATCH/properties/desired/?$version={version}", body)
        return version

    def wait_reported(
        self, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30
    ) -> dict[str, Any]:
        """Block until the reported properties satisfy `check`; a copy of them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not check(self.reported):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout} s for {what}; reported {self.reported}")
                self._cond.wait(left)
            return copy.deepcopy(self.reported)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
