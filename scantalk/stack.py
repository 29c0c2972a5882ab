"""`scantalk up`: a whole lane on one machine: the broker and the four nodes as processes."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading

import paho.mqtt.client as mqtt

from scantalk.broker import Broker, free_port, port_open
from scantalk.contract import NODES, ONLINE
from scantalk.settings import Settings

# The camera starts last, once every consumer is online, so the first item is never missed.
START_ORDER = ("bridge", "voice", "classifier", "camera")
assert sorted(START_ORDER) == sorted(NODES)

log = logging.getLogger("scantalk.up")


def choose_port(settings: Settings, explicit: bool) -> Settings:
    """The port as set; if unset, 1883 unless a system broker already holds it, else a free one."""
    if explicit or not port_open(settings.mqtt_host, settings.mqtt_port):
        return settings
    return dataclasses.replace(settings, mqtt_port=free_port(settings.mqtt_host))


def wait_online(
    settings: Settings, nodes: tuple[str, ...], processes: dict, timeout: float = 60
) -> None:
    """Block until each node has said `online`, or fail if one of them died."""
    seen: set[str] = set()
    done = threading.Event()
    client = mqtt.Client(
        client_id=f"scantalk-up-{settings.station}-{os.getpid()}", protocol=mqtt.MQTTv5
    )

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.payload == ONLINE:
            seen.add(msg.topic.split("/")[2])
            if seen >= set(nodes):
                done.set()

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe([(settings.topics.status(n), 1) for n in nodes])
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    try:
        while not done.wait(0.2):
            dead = [name for name in nodes if processes[name].poll() is not None]
            if dead:
                raise RuntimeError(f"node {dead[0]} exited at start; see its log above")
            timeout -= 0.2
            if timeout <= 0:
                raise RuntimeError(f"nodes not online after a minute: {sorted(set(nodes) - seen)}")
    finally:
        client.loop_stop()
        client.disconnect()


def up(settings: Settings) -> int:
    """Run the lane until Ctrl-C (or SIGTERM) or until a node dies; stop everything cleanly."""
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    processes: dict[str, subprocess.Popen[bytes]] = {}
    env = {**os.environ, **settings.to_environ()}
    with Broker(settings.mqtt_port, settings.data_dir, settings.mqtt_host):
        print(f"broker: mqtt://{settings.mqtt_host}:{settings.mqtt_port}", flush=True)
        print(
            f"follow scans: mosquitto_sub -h {settings.mqtt_host} -p {settings.mqtt_port} "
            f"-t 'scantalk/+/scan' -v",
            flush=True,
        )
        code = 0
        try:
            for name in START_ORDER:
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "scantalk", "node", name],
                    env=env,
                    # Ctrl-C reaches `up` only; `up` stops the nodes in order.
                    start_new_session=True,
                )
                if name == "classifier":
                    wait_online(settings, ("bridge", "voice", "classifier"), processes)
            print("lane is up; Ctrl-C stops it", flush=True)
            while not stopping.wait(0.5):
                dead = [n for n, p in processes.items() if p.poll() is not None]
                if dead:
                    log.error(
                        "node %s stopped (exit %s); stopping the lane",
                        dead[0],
                        processes[dead[0]].returncode,
                    )
                    code = 1
                    break
        except RuntimeError as exc:
            log.error("%s", exc)
            code = 1
        finally:
            for name in reversed(START_ORDER):
                if name in processes and processes[name].poll() is None:
                    processes[name].terminate()
            for process in processes.values():
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        print("lane stopped", flush=True)
    return code
