"""A checkout system following ScanTalk scans, with nothing but paho-mqtt 1.6.

    python examples/checkout_listener.py [HOST [PORT [GROUP]]]

or `CHECKOUT_MQTT_HOST`, `CHECKOUT_MQTT_PORT`, `CHECKOUT_GROUP` (defaults 127.0.0.1, 1883,
checkout); `CHECKOUT_CLIENT_ID` names this instance (default `checkout-<group>-<host name>`):
keep it the same across restarts, and distinct between instances. On a lane's edge broker,
`CHECKOUT_MQTT_USERNAME` and `CHECKOUT_MQTT_PASSWORD` log in (the read-only `checkout` user),
and `CHECKOUT_MQTT_CA` turns on TLS (port 8883), trusting that CA file. Every instance of a group
subscribes to `$share/<group>/scantalk/+/scan`, so each scan goes to one of them; the broker
keeps a persistent session (clean start off, session expiry) while an instance is away, and
delivers what it missed when it is back. QoS 1 is at least once: repeats are dropped by scan id.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import sys
from collections import OrderedDict
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

SESSION_EXPIRY_S = 24 * 3600
"""How long the broker keeps scans for this instance while it is down."""
RECENT = 10_000
"""Scan ids remembered for dropping repeats (a real checkout keeps them with its basket)."""


def line(scan: dict[str, Any]) -> str:
    """One line per scan. `plu` null: no standard PLU, so weigh or key in; never guess one.
    An item sold by weight shows its weight; `revision` above 1: a new weight of a scan."""
    plu = scan.get("plu")
    code = f"PLU {plu}" if plu is not None else "no PLU: weigh/key in"
    weight = f" {scan['weight_kg']:.3f} kg" if scan.get("weight_kg") is not None else ""
    revised = ", new weight" if scan.get("revision", 1) > 1 else ""
    return (
        f"{scan['station']}: {scan['display_name']}{weight} - {code} "
        f"({scan['confidence']:.0%}){revised}"
    )


class Listener:
    def __init__(self, group: str, client_id: str) -> None:
        self.topic = f"$share/{group}/scantalk/+/scan"
        self.seen: OrderedDict[str, int] = OrderedDict()
        """Revision of each recent scan id."""
        self.client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.on_connect = self.on_connect
        self.client.on_subscribe = self.on_subscribe
        self.client.on_message = self.on_message

    def login(self, user: str | None, password: str | None, ca_file: str | None) -> None:
        if user:
            self.client.username_pw_set(user, password)
        if ca_file:  # Python's defaults: TLS 1.2 or later, the broker's host name checked
            self.client.tls_set_context(ssl.create_default_context(cafile=ca_file))

    def run(self, host: str, port: int) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect_async(
            host, port, keepalive=30, clean_start=False, properties=properties
        )
        self.client.loop_forever(retry_first_connection=True)

    def on_connect(self, client: mqtt.Client, _u: object, _f: Any, rc: Any, _p: object) -> None:
        if rc == 0:  # the session keeps the subscription; subscribing again is harmless
            client.subscribe(self.topic, qos=1)
        else:
            print(f"broker refused the connection: {rc}", file=sys.stderr, flush=True)

    def on_subscribe(self, _c: mqtt.Client, _u: object, _mid: int, _rc: Any, _p: object) -> None:
        print(f"listening on {self.topic}", flush=True)

    def on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            scan = json.loads(msg.payload)
            if scan.get("schema") != "scantalk.scan/1":
                raise ValueError(f"schema {scan.get('schema')!r}")
            scan_id = scan["scan_id"]  # fields we do not know are ignored
            revision = int(scan.get("revision", 1))
            text = line(scan)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            print(f"not a scan on {msg.topic}: {exc}", file=sys.stderr, flush=True)
            return
        if self.seen.get(scan_id, 0) >= revision:
            return  # a repeat (QoS 1 is at least once), or older than what we have
        self.seen[scan_id] = revision
        if len(self.seen) > RECENT:
            self.seen.popitem(last=False)
        print(text, flush=True)


def main(argv: list[str]) -> None:
    host = argv[1] if len(argv) > 1 else os.environ.get("CHECKOUT_MQTT_HOST", "127.0.0.1")
    port = int(argv[2] if len(argv) > 2 else os.environ.get("CHECKOUT_MQTT_PORT", "1883"))
    group = argv[3] if len(argv) > 3 else os.environ.get("CHECKOUT_GROUP", "checkout")
    # Never `scantalk-…`: that prefix belongs to the lane's own nodes.
    client_id = os.environ.get("CHECKOUT_CLIENT_ID") or f"checkout-{group}-{socket.gethostname()}"
    listener = Listener(group, client_id)
    env = os.environ.get
    listener.login(
        env("CHECKOUT_MQTT_USERNAME"), env("CHECKOUT_MQTT_PASSWORD"), env("CHECKOUT_MQTT_CA")
    )
    # SIGTERM as Ctrl-C: the loop is left by an exception, and the client disconnects outside
    # it. Calling the client from the handler could wait for a lock the interrupted loop holds.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        listener.run(host, port)
    except KeyboardInterrupt:
        listener.client.disconnect()


if __name__ == "__main__":
    main(sys.argv)
