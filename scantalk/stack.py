"""`scantalk up`: a whole lane on one machine: the broker and the four nodes as processes."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt

from scantalk.broker import Broker, free_port, port_open
from scantalk.connection import mqtt_client
from scantalk.contract import ONLINE, NodeName
from scantalk.processes import die_with_parent, stop_process
from scantalk.settings import Settings

# The camera starts last, once every consumer is online, so the first item is never missed.
START_ORDER = (NodeName.BRIDGE, NodeName.VOICE, NodeName.CLASSIFIER, NodeName.CAMERA)
CONSUMERS = START_ORDER[:-1]
START_TIMEOUT_S = 60

log = logging.getLogger("scantalk.up")


class LaneError(RuntimeError):
    """The lane could not start."""


def choose_port(settings: Settings, explicit: bool) -> Settings:
    """The port as set; if unset, 1883 unless a system broker already holds it, else a free one."""
    if explicit or not port_open(settings.mqtt_host, settings.mqtt_port):
        return settings
    return dataclasses.replace(settings, mqtt_port=free_port(settings.mqtt_host))


class StatusWatch:
    """Follows the nodes' status topics, starting from a clean slate: a retained `online` left
    in the broker's store by an earlier run that crashed must not count."""

    def __init__(self, settings: Settings) -> None:
        self.topics = {settings.topics.status(node): node for node in NodeName}
        self.online: set[str] = set()
        self.changed = threading.Event()
        self.client = mqtt_client(settings, f"scantalk-up-{settings.station}-{os.getpid()}")
        self.client.on_message = self._on_message
        self.client.connect(settings.mqtt_host, settings.mqtt_port)
        self.client.loop_start()
        for topic in self.topics:
            self.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
        self.client.subscribe([(topic, 1) for topic in self.topics])

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        node = self.topics[msg.topic]
        (self.online.add if msg.payload == ONLINE else self.online.discard)(node)
        self.changed.set()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_online(
    watch: StatusWatch, nodes: tuple[str, ...], processes: dict, stopping: threading.Event
) -> None:
    """Block until each node has said `online`; fail if one of them died or time ran out."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not set(nodes) <= watch.online and not stopping.is_set():
        dead = [name for name in nodes if processes[name].poll() is not None]
        if dead:
            raise LaneError(f"node {dead[0]} exited at start; see its log above")
        if time.monotonic() > deadline:
            missing = sorted(set(nodes) - watch.online)
            raise LaneError(f"nodes not online after {START_TIMEOUT_S} s: {missing}")
        watch.changed.wait(0.2)
        watch.changed.clear()


def up(settings: Settings, flags: dict[str, str]) -> int:
    """Run the lane until Ctrl-C (or SIGTERM) or until a node dies; stop everything cleanly.

    Each node reads its own settings from the environment and `.env`, as on its own; `flags`
    (`SCANTALK_*` names) are what `scantalk up` was given on its command line."""
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    processes: dict[str, subprocess.Popen[bytes]] = {}
    env = {**os.environ, **flags, "SCANTALK_MQTT_PORT": str(settings.mqtt_port)}
    code = 0
    with Broker(settings.mqtt_port, settings.data_dir, settings.mqtt_host):
        print(f"broker: mqtt://{settings.mqtt_host}:{settings.mqtt_port}", flush=True)
        print(
            f"follow scans: mosquitto_sub -h {settings.mqtt_host} -p {settings.mqtt_port} "
            f"-t 'scantalk/+/scan' -v",
            flush=True,
        )
        watch = StatusWatch(settings)
        try:
            for name in START_ORDER:
                if name == "camera":
                    wait_online(watch, CONSUMERS, processes, stopping)
                if stopping.is_set():
                    break
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "scantalk", "node", name],
                    env=env,
                    # Ctrl-C reaches `up` only; `up` stops the nodes one by one.
                    start_new_session=True,
                    preexec_fn=die_with_parent,
                )
            else:
                print("lane is up; Ctrl-C stops it", flush=True)
            while not stopping.wait(0.5):
                dead = [n for n, p in processes.items() if p.poll() is not None]
                if dead:
                    log.error(
                        "node %s exited (%s); stopping the lane",
                        dead[0],
                        processes[dead[0]].returncode,
                    )
                    code = 1
                    break
        except LaneError as exc:
            log.error("%s", exc)
            code = 1
        finally:
            watch.close()
            # Producers first: the camera stops before the nodes that consume what it sends.
            for name in reversed(START_ORDER):
                if name in processes:
                    stop_process(processes[name])
        print("lane stopped", flush=True)
    return code
