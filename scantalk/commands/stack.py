"""`scantalk up`: a whole lane on one machine: the broker and the nodes as processes.

`up` restarts whatever dies until Ctrl-C or SIGTERM: a node after a delay that doubles with each
quick death, the broker (on its port and data directory) at once unless it died at start. Only
a node that fails at start on a setting error stops the lane. One lane per station and data
directory: `up` holds a lock in the data directory for the lane's life."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt

from scantalk.commands.broker import Broker, BrokerError, free_port, port_open
from scantalk.connection import mqtt_client
from scantalk.contract import ONLINE, NodeName
from scantalk.logs import setup_logging
from scantalk.processes import die_with_parent, exit_status, stop_process
from scantalk.settings import Settings

# The camera starts last, once every other node is online, so the first item is never missed.
# The scale runs only where one is configured (SCANTALK_SCALE_PORT).
START_ORDER = (
    NodeName.BRIDGE, NodeName.VOICE, NodeName.CLASSIFIER, NodeName.SCALE, NodeName.CAMERA
)  # fmt: skip
START_TIMEOUT_S = 60

SETTING_ERROR_EXIT = 2
"""How a node's command ends on a `SettingError` (or a missing extra): see the CLI."""
SETTING_ERROR_WITHIN_S = 15.0
"""A node that exits with `SETTING_ERROR_EXIT` this soon after its start has a setting error:
starting it again would fail again, so the lane stops and says so."""
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
STABLE_S = 60.0
"""A node that stayed up this long is restarted after `FIRST_DELAY_S` again."""
BROKER_STABLE_S = 5.0
"""A broker that ran this long did start well (its config and port are fine): when it dies it
is restarted at once, however often, for every second without it is a silent lane. Only a
broker that dies at start backs off."""
TICK_S = 0.2

log = logging.getLogger("scantalk.up")


class LaneError(RuntimeError):
    """The lane could not start."""


def choose_port(settings: Settings, explicit: bool) -> Settings:
    """The port as set; if unset, 1883 unless a system broker already holds it, else a free one."""
    if explicit or not port_open(settings.mqtt_host, settings.mqtt_port):
        return settings
    return dataclasses.replace(settings, mqtt_port=free_port(settings.mqtt_host))


@contextlib.contextmanager
def lane_lock(settings: Settings) -> Iterator[Path]:
    """Hold `<data_dir>/lane-<station>.lock` (with our PID in it) while the lane runs; raise
    `LaneError` naming the holder if another `scantalk up` holds it. The kernel releases the
    lock when the holder exits, however it exits; the file stays (removing it would race)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / f"lane-{settings.station}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by the children
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            raise LaneError(
                f"a lane for station {settings.station} with data dir "
                f"{settings.data_dir.resolve()} is already running (pid {holder}, {path}); "
                f"stop it first, or give this one another SCANTALK_STATION or SCANTALK_DATA_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)


class Backoff:
    """Restart delays: `FIRST_DELAY_S`, doubling up to `MAX_DELAY_S`; back to the first once
    the process had stayed up `stable_s`."""

    def __init__(self, stable_s: float = STABLE_S) -> None:
        self.stable_s = stable_s
        self._next = FIRST_DELAY_S

    def reset(self) -> None:
        self._next = FIRST_DELAY_S

    def delay(self, uptime: float) -> float:
        if uptime >= self.stable_s:
            self.reset()
        delay, self._next = self._next, min(self._next * 2, MAX_DELAY_S)
        return delay


def broker_delay(backoff: Backoff, uptime: float) -> float:
    """When to restart a broker that died after `uptime` seconds: at once if it had started
    well (`BROKER_STABLE_S`), else after the backoff (a config error, its port taken)."""
    if uptime >= BROKER_STABLE_S:
        backoff.reset()
        return 0.0
    return backoff.delay(uptime)


@dataclasses.dataclass
class Supervised:
    """A process of the lane: running (`process`), or waiting to (re)start at `restart_at`."""

    name: str
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float | None = None
    backoff: Backoff = dataclasses.field(default_factory=Backoff)


class StatusWatch:
    """Follows the nodes' status topics, starting from a clean slate: a retained `online` left
    in the broker's store by an earlier run that crashed must not count."""

    def __init__(self, settings: Settings) -> None:
        self.topics = {settings.topics.status(node): node for node in NodeName}
        self.online: set[str] = set()
        self._resubscribe = False
        self.client = mqtt_client(settings, f"scantalk-up-{settings.station}-{os.getpid()}")
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.connect(settings.mqtt_host, settings.mqtt_port)
        self.client.loop_start()
        for topic in self.topics:
            self.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
        self._resubscribe = True  # after a restart of the broker, which may forget us
        self.client.subscribe([(topic, 1) for topic in self.topics])

    def _on_connect(self, client: mqtt.Client, *_args: object) -> None:
        if self._resubscribe:
            client.subscribe([(topic, 1) for topic in self.topics])

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        node = self.topics[msg.topic]
        (self.online.add if msg.payload == ONLINE else self.online.discard)(node)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Lane:
    """The broker and the nodes of one `scantalk up`, each restarted when it dies. Every child
    starts from the main thread (see `die_with_parent`)."""

    def __init__(self, settings: Settings, flags: dict[str, str]) -> None:
        self.settings = settings
        self.env = {**os.environ, **flags, "SCANTALK_MQTT_PORT": str(settings.mqtt_port)}
        self.broker = Broker(settings.mqtt_port, settings.data_dir, settings.mqtt_host)
        self.broker_state = Supervised("broker")
        scale = bool(self.env.get("SCANTALK_SCALE_PORT", "").strip())
        self.nodes = {
            name: Supervised(name) for name in START_ORDER if scale or name is not NodeName.SCALE
        }
        self.consumers = [name for name in self.nodes if name is not NodeName.CAMERA]

    def run(self, stopping: threading.Event) -> int:
        """Start the lane, keep it up until `stopping`, stop it; the command's exit code."""
        settings = self.settings
        self.broker.start()
        self.broker_state.started = time.monotonic()
        try:
            print(f"broker: mqtt://{settings.mqtt_host}:{settings.mqtt_port}", flush=True)
            print(
                f"follow scans: mosquitto_sub -h {settings.mqtt_host} -p {settings.mqtt_port} "
                f"-t 'scantalk/+/scan' -v",
                flush=True,
            )
            assert self.broker.process
            log.info("broker started (pid %d)", self.broker.process.pid)
            watch = StatusWatch(settings)
            try:
                return self._supervise(watch, stopping)
            finally:
                watch.close()
        finally:
            # Producers first: the camera stops before the nodes that consume what it sends.
            for name in reversed(self.nodes):
                process = self.nodes[name].process
                if process is not None:
                    stop_process(process)
            self.broker.stop()
            print("lane stopped", flush=True)

    def _supervise(self, watch: StatusWatch, stopping: threading.Event) -> int:
        for name in self.consumers:
            self._start(self.nodes[name])
        camera = self.nodes[NodeName.CAMERA]
        deadline = time.monotonic() + START_TIMEOUT_S
        started = False
        while not stopping.wait(TICK_S):
            now = time.monotonic()
            if not started:
                if set(self.consumers) <= watch.online:
                    self._start(camera)
                    started = True
                    print("lane is up; Ctrl-C stops it", flush=True)
                elif now > deadline:
                    missing = sorted(set(self.consumers) - watch.online)
                    log.error("nodes not online after %d s: %s", START_TIMEOUT_S, missing)
                    return 1
            self._tend_broker(now)
            for node in self.nodes.values():
                code = self._tend(node, now)
                if code is not None:
                    return code
        return 0

    def _start(self, node: Supervised) -> None:
        node.process = subprocess.Popen(
            [sys.executable, "-m", "scantalk", "node", node.name],
            env=self.env,
            # Ctrl-C reaches `up` only; `up` stops the nodes one by one.
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        node.started, node.restart_at = time.monotonic(), None
        log.info("node %s started (pid %d)", node.name, node.process.pid)

    def _tend(self, node: Supervised, now: float) -> int | None:
        """Notice that the node died and plan its restart, or restart it when due; an exit code
        if the lane must stop."""
        if node.process is None:
            if node.restart_at is not None and now >= node.restart_at:
                self._start(node)
            return None
        returncode = node.process.poll()
        if returncode is None:
            return None
        uptime = now - node.started
        node.process = None
        if returncode == SETTING_ERROR_EXIT and uptime < SETTING_ERROR_WITHIN_S:
            log.error(
                "node %s failed at start (%s): a setting error, see its message above; "
                "stopping the lane",
                node.name,
                exit_status(returncode),
            )
            return SETTING_ERROR_EXIT
        delay = node.backoff.delay(uptime)
        node.restart_at = now + delay
        log.warning(
            "node %s exited (%s) after %.0f s; restarting it in %.0f s",
            node.name,
            exit_status(returncode),
            uptime,
            delay,
        )
        return None

    def _tend_broker(self, now: float) -> None:
        """Restart a broker that died on the same port and data directory; the nodes
        reconnect by themselves."""
        state, process = self.broker_state, self.broker.process
        if process is not None:
            returncode = process.poll()
            if returncode is None:
                return
            self.broker.stop()  # reaps it
            delay = broker_delay(state.backoff, now - state.started)
            state.restart_at = now + delay
            log.warning(
                "broker exited (%s) after %.0f s; restarting it on port %d in %g s",
                exit_status(returncode),
                now - state.started,
                self.settings.mqtt_port,
                delay,
            )
        elif state.restart_at is not None and now >= state.restart_at:
            try:
                self.broker.start()
            except BrokerError as exc:
                delay = state.backoff.delay(0)
                state.restart_at = time.monotonic() + delay
                log.error("%s; trying again in %.0f s", exc, delay)
                return
            state.started, state.restart_at = time.monotonic(), None
            assert self.broker.process
            log.info("broker started (pid %d)", self.broker.process.pid)


def up(settings: Settings, flags: dict[str, str]) -> int:
    """Run the lane until Ctrl-C (or SIGTERM), restarting what dies; stop everything cleanly.

    Each node reads its own settings from the environment and `.env`, as on its own; `flags`
    (`SCANTALK_*` names) are what `scantalk up` was given on its command line."""
    setup_logging("up", settings.station, settings.log_level)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        with lane_lock(settings):
            return Lane(settings, flags).run(stopping)
    except LaneError as exc:
        print(f"scantalk: {exc}", file=sys.stderr)
        return 1
