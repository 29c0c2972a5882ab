"""`scantalk watch`: a live view of a lane, or of a whole store, in the terminal.

For a person at the lane: which nodes are online, the last scans, the lane's gauges and what was
last said, redrawn a few times a second. `--json` streams the scans as JSON lines for scripts.

Three parts, each usable alone: `WatchState`, the model, fed by `on_message(topic, payload)`;
`render`, state -> rich renderable; `_connect`, the MQTT client. rich and paho are imported
lazily: the CLI imports this module for `--help`, and `--json` needs no rich.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from scantalk.contract import (
    OFFLINE,
    ONLINE,
    AckStatus,
    ContractError,
    InventoryAck,
    NodeName,
    Scan,
    Spoken,
    Stats,
    Topics,
    Unit,
    Weight,
    WeightStatus,
    printable,
)
from scantalk.counters import BridgeCounter, CameraCounter, ClassifierCounter, NodeCounter
from scantalk.registry import Command
from scantalk.settings import STATIONS, SettingError, Settings

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

NEEDS_RICH = "scantalk watch needs rich: pip install 'scantalk[watch]'"
SCANS = 8
"""Scans shown per station, newest first."""
ACKS_KEPT = 4 * SCANS
"""Ack states remembered: enough for the scans shown, and bounded on a busy store."""
CONNECT_TIMEOUT_S = 10
REFRESH_PER_SECOND = 4
UNKNOWN = "\N{EN DASH}"
"""Shown for what is not known yet."""
NODES = frozenset(node.value for node in NodeName)
NODE_MARKS = {"online": ("●", "green"), "offline": ("○", "red")}
"""How a node's status looks; anything else is unknown."""
"""Control characters: text from the bus never steers the terminal (an ESC would)."""

GAUGES: dict[NodeName, tuple[NodeCounter, ...]] = {
    NodeName.CAMERA: (CameraCounter.FRAMES_PER_MINUTE,),
    NodeName.CLASSIFIER: (ClassifierCounter.INFERENCE_MS,),
    NodeName.BRIDGE: (
        BridgeCounter.OUTBOX_PENDING,
        BridgeCounter.SPEECH_OVERDUE,
        BridgeCounter.ANNOUNCEMENTS_FAILING,
    ),
}
"""The stats counters shown, by the node whose `…/stats` carries them."""
GAUGE_LABELS: dict[NodeCounter, str] = {
    CameraCounter.FRAMES_PER_MINUTE: "frames/min",
    ClassifierCounter.INFERENCE_MS: "inference ms",
    BridgeCounter.OUTBOX_PENDING: "outbox",
    BridgeCounter.SPEECH_OVERDUE: "speech not heard",
}


class Unreachable(Exception):
    """The broker could not be reached, or would not let us in."""


# --- the model ------------------------------------------------------------------------------


@dataclass
class StationView:
    """What is known of one station."""

    nodes: dict[NodeName, str] = field(default_factory=dict)
    """`online` or `offline` from each node's retained status; absent until heard."""
    gauges: dict[str, float] = field(default_factory=dict)
    """Gauges from the latest stats of their node; absent until known."""
    scans: deque[Scan] = field(default_factory=lambda: deque(maxlen=SCANS))
    """The latest scans, newest last."""
    acks: dict[str, AckStatus] = field(default_factory=dict)
    """The bridge's latest state of each recent scan, by scan id."""
    spoken: Spoken | None = None
    weight: Weight | None = None
    """The scale's latest weight; None on a lane without a scale."""


@dataclass
class WatchState:
    """Everything the view shows; changed only by `on_message` and the connection's state."""

    stations: dict[str, StationView] = field(default_factory=dict)
    broker: str = ""
    """`host:port`, for the footer."""
    connected: bool = False
    malformed: int = 0
    """Payloads skipped because they break the contract."""
    problem: str = ""
    """Why the latest malformed payload was skipped."""

    @classmethod
    def following(cls, station: str, broker: str = "") -> WatchState:
        """The state for `--station`: one station shown at once, or (`+`) each once seen."""
        state = cls(broker=broker)
        if station != "+":
            state.station(station)
        return state

    def station(self, name: str) -> StationView:
        return self.stations.setdefault(name, StationView())

    def on_message(self, topic: str, payload: bytes) -> None:
        """Take one message; a malformed one is counted and changes nothing else."""
        try:
            self._take(topic, payload)
        except ContractError as exc:
            self.malformed += 1
            self.problem = f"{topic[:120]}: {str(exc)[:200]}"

    def _take(self, topic: str, payload: bytes) -> None:
        station = Topics.station_of(topic)
        match topic.split("/")[2:]:
            case ["scan"]:
                self._scan(station, Scan.from_json(payload))
            case ["scale", "weight"]:
                self.station(station).weight = Weight.from_json(payload) if payload else None
            case ["voice", "spoken"]:
                self.station(station).spoken = Spoken.from_json(payload)
            case ["inventory", "ack"]:
                self._ack(station, InventoryAck.from_json(payload))
            case [node, "status"] if node in NODES:
                self._status(station, NodeName(node), payload)
            case [node, "stats"] if node in NODES:
                self._stats(station, NodeName(node), Stats.from_json(payload))

    def _scan(self, station: str, scan: Scan) -> None:
        view = self.station(station)
        for i, seen in enumerate(view.scans):
            if seen.scan_id == scan.scan_id:  # QoS 1 may redeliver; a new weight revises it
                if scan.revision > seen.revision:
                    view.scans[i] = scan
                return
        view.scans.append(scan)

    def _ack(self, station: str, ack: InventoryAck) -> None:
        acks = self.station(station).acks
        acks.pop(ack.scan_id, None)  # re-insert: the dict's order is the order of news
        acks[ack.scan_id] = ack.status
        while len(acks) > ACKS_KEPT:
            del acks[next(iter(acks))]

    def _status(self, station: str, node: NodeName, payload: bytes) -> None:
        if payload and payload not in (ONLINE, OFFLINE):
            raise ContractError(f"status {payload[:40]!r} is neither online nor offline")
        nodes = self.station(station).nodes
        if payload:
            nodes[node] = payload.decode()
        else:  # an empty retained message clears the status: unknown again
            nodes.pop(node, None)

    def _stats(self, station: str, node: NodeName, stats: Stats) -> None:
        wanted = GAUGES.get(node, ())
        values: dict[str, Any] = {n: stats.counters[n] for n in wanted if n in stats.counters}
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ContractError(f"stats counter {name} is not a number: {str(value)[:40]!r}")
            if not math.isfinite(value):
                raise ContractError(f"stats counter {name} is {value}")
        gauges = self.station(station).gauges
        for name in wanted:  # the latest stats are the node's whole story: a gauge gone is gone
            gauges.pop(name, None)
        gauges.update(values)


# --- the view -------------------------------------------------------------------------------


def render(state: WatchState, scans: int = SCANS) -> RenderableType:
    """The whole screen: a panel per station (sorted), then a footer."""
    from rich.console import Group
    from rich.text import Text

    if state.stations:
        sections: list[RenderableType] = [
            _station_panel(name, state.stations[name], scans) for name in sorted(state.stations)
        ]
    else:
        sections = [Text("waiting for a station to speak …", style="dim")]
    return Group(*sections, _footer(state))


def scans_fitting(height: int, stations: int) -> int:
    """Scans per station that fit a terminal `height` rows high: fewer when a store is shown."""
    fixed = 9  # panel borders, nodes, gauges, said, table header and its rules
    footer = 2
    return max(1, min(SCANS, (height - footer) // max(1, stations) - fixed))


def _station_panel(name: str, view: StationView, scans: int) -> RenderableType:
    from rich.console import Group
    from rich.panel import Panel

    body = Group(
        _nodes_line(view), _gauges_line(view), _spoken_line(view), _scans_table(view, scans)
    )
    return Panel(body, title=_plain(name, style="bold"), title_align="left")


def _nodes_line(view: StationView) -> RenderableType:
    from rich.text import Text

    line = Text()
    for node in NodeName:
        status = view.nodes.get(node)
        if node is NodeName.SCALE and status is None:  # a lane without a scale
            continue
        mark, style = NODE_MARKS.get(status or "", ("?", "dim"))
        line.append(f"{node} ", style="bold")
        line.append(f"{mark} {status or 'unknown'}", style=style)
        line.append("   ")
    return line


def _gauges_line(view: StationView) -> RenderableType:
    from rich.text import Text

    line = Text()
    if weight := view.weight:  # a lane with a scale
        line.append("scale ", style="bold")
        if weight.weight_kg is not None and weight.status is not WeightStatus.NO_SCALE:
            line.append(f"{weight.weight_kg:g} kg ")
        if weight.status is not WeightStatus.OK:
            style = "dim" if weight.status is WeightStatus.MOTION else "yellow"
            line.append(weight.status.value, style=style)
        line.append("   ")
    for name, label in GAUGE_LABELS.items():
        value = view.gauges.get(name)
        # Work waiting is worth a glance; shoppers not hearing announcements now is an alarm.
        style = "yellow" if value and name is BridgeCounter.OUTBOX_PENDING else ""
        failing = view.gauges.get(BridgeCounter.ANNOUNCEMENTS_FAILING)
        if name is BridgeCounter.SPEECH_OVERDUE and failing:
            style = "bold red"
        line.append(f"{label} ", style="bold")
        line.append(_number(value), style=style)
        line.append("   ")
    return line


def _spoken_line(view: StationView) -> RenderableType:
    from rich.text import Text

    line = Text("said ", style="bold")
    spoken = view.spoken
    if spoken is None:
        return line.append(UNKNOWN)
    line.append(f"“{printable(spoken.text)}”")
    details = [printable(spoken.engine), f"{spoken.latency_ms:.0f} ms"]
    if spoken.cache_hit:
        details.append("cached")
    if spoken.interrupted:
        details.append("interrupted")
    return line.append(f"   {' · '.join(details)}", style="dim")


def _scans_table(view: StationView, scans: int) -> RenderableType:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    table.add_column("time")
    table.add_column("item", ratio=3)
    table.add_column("label", ratio=2)
    table.add_column("PLU")
    table.add_column("amount", justify="right")
    table.add_column("confidence", justify="right")
    table.add_column("record")
    for scan in list(reversed(view.scans))[:scans]:
        status = view.acks.get(scan.scan_id)
        table.add_row(
            _local_time(scan.time),
            _plain(scan.display_name),  # Text, not markup: a "[" in a name is just a "["
            _plain(scan.label),
            _plain(scan.plu or UNKNOWN),
            _amount(scan),
            f"{scan.confidence:.0%}",
            _ack_text(status),
        )
    return table


def _amount(scan: Scan) -> str:
    """1 (a piece), the weight in kg, or "to weigh" (sold by weight, no stable weight)."""
    if scan.unit == Unit.EACH:
        return "1"
    return UNKNOWN if scan.weight_kg is None else f"{scan.weight_kg:.3f} kg"


def _ack_text(status: AckStatus | None) -> RenderableType:
    from rich.text import Text

    if status is None:
        return Text(UNKNOWN, style="dim")
    styles = {AckStatus.DELIVERED: "green", AckStatus.QUEUED: "yellow", AckStatus.REJECTED: "red"}
    return Text(status, style=styles[status])


def _footer(state: WatchState) -> RenderableType:
    from rich.text import Text

    line = Text(f"broker {state.broker} ", style="dim")
    if state.connected:
        line.append("connected", style="green")
    else:
        line.append("reconnecting …", style="yellow")
    skipped = f"   malformed payloads skipped: {state.malformed}"
    line.append(skipped, style="red" if state.malformed else "")
    line.append("   Ctrl-C quits", style="dim")
    if state.problem:
        line.append(f"\nlast skipped: {printable(state.problem)}", style="dim")
    return line


def _plain(text: str, style: str = "") -> Text:
    """Text from the bus as it is: neither rich markup nor terminal control."""
    from rich.text import Text

    return Text(printable(text), style=style)


def _number(value: float | None) -> str:
    if value is None:
        return UNKNOWN
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _local_time(rfc3339: str) -> str:
    """`2026-11-25T09:53:00.123Z` as this machine's local `HH:MM:SS`."""
    return datetime.fromisoformat(rfc3339).astimezone().strftime("%H:%M:%S")


# --- the client -----------------------------------------------------------------------------


def _topics(station: str, scans_only: bool) -> list[str]:
    """What the view needs, and no frames: a lane's camera sends many a second."""
    topics = Topics(station)
    if scans_only:
        return [topics.scan]
    nodes = [topics.status(node) for node in NodeName] + [topics.stats(node) for node in NodeName]
    return [topics.scan, topics.spoken, topics.inventory_ack, *nodes]


def _connect(
    settings: Settings,
    topics: list[str],
    on_message: Callable[[str, bytes], None],
    on_connection: Callable[[bool], None],
) -> Any:
    """A running paho client, back once the broker confirmed the subscription to `topics` (so
    nothing published after is missed), or `Unreachable` naming host:port. It reconnects by
    itself (and subscribes again) until `_disconnect`."""
    from scantalk.connection import mqtt_client

    where = f"{settings.mqtt_host}:{settings.mqtt_port}"
    who = "store" if settings.station == "+" else settings.station
    client = mqtt_client(settings, f"scantalk-watch-{who}-{os.getpid()}")
    client.reconnect_delay_set(1, 5)
    answered = threading.Event()
    refused: list[str] = []

    def connected(c: Any, _u: object, _f: object, rc: Any, _p: object = None) -> None:
        if rc != 0:
            refused.append(str(rc))
            answered.set()
        else:
            c.subscribe([(topic, 1) for topic in topics])
            on_connection(True)

    client.on_connect = connected
    client.on_subscribe = lambda *_: answered.set()
    client.on_disconnect = lambda *_: on_connection(False)
    client.on_message = lambda _c, _u, msg: on_message(msg.topic, msg.payload)
    try:
        client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=30)
    except OSError as exc:
        raise Unreachable(f"cannot reach the broker at {where} ({exc})") from exc
    client.loop_start()
    if not answered.wait(CONNECT_TIMEOUT_S) or refused:
        _disconnect(client)
        reason = refused[0] if refused else f"no answer in {CONNECT_TIMEOUT_S} s"
        raise Unreachable(f"the broker at {where} did not let us in ({reason})")
    return client


def _disconnect(client: Any) -> None:
    client.disconnect()
    client.loop_stop()


def _until_stopped(tick: Callable[[float], None]) -> None:
    """Call `tick(seconds)` until Ctrl-C or SIGTERM; `tick` returns within about `seconds`."""
    stopped = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.is_set():
            tick(0.25)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- the command ----------------------------------------------------------------------------


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "A live view of a lane: nodes online, the last scans, gauges, what was last said. "
        "--station + follows every station of the store."
    )
    parser.add_argument(
        "--station",
        dest="watch_station",
        metavar="STATION",
        help="the station to watch, or + for every station of the store "
        "(default: SCANTALK_STATION)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="no view: print each scan's payload as one JSON line, for scripts",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.watch_station:
        try:
            settings = dataclasses.replace(settings, station=STATIONS(args.watch_station))
        except ValueError as exc:
            raise SettingError("--station", args.watch_station, STATIONS.expected) from exc
    try:
        if args.json:
            return _stream_json(settings)
        return _live_view(settings)
    except Unreachable as exc:  # not ConnectionError: a closed stdout is one (BrokenPipeError)
        print(f"scantalk watch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while still connecting
        return 0


def _live_view(settings: Settings) -> int:
    try:
        from rich.console import Console
        from rich.live import Live
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "rich":
            raise
        print(NEEDS_RICH, file=sys.stderr)
        return 2

    lock = threading.Lock()  # paho's thread writes the state, Live's thread reads it
    state = WatchState.following(settings.station, f"{settings.mqtt_host}:{settings.mqtt_port}")

    def on_message(topic: str, payload: bytes) -> None:
        with lock:
            state.on_message(topic, payload)

    def on_connection(up: bool) -> None:
        with lock:
            state.connected = up

    client = _connect(settings, _topics(settings.station, False), on_message, on_connection)
    console = Console()

    def view() -> RenderableType:
        with lock:
            return render(state, scans_fitting(console.size.height, len(state.stations)))

    try:
        with Live(
            get_renderable=view,
            console=console,
            screen=True,
            refresh_per_second=REFRESH_PER_SECOND,
        ):
            _until_stopped(time.sleep)
    finally:
        _disconnect(client)
    return 0


def _stream_json(settings: Settings) -> int:
    """One line per scan on stdout, written by this (main) thread: a closed pipe (`| head`)
    raises here, where `cli.main` ends it quietly, not in paho's thread."""
    lines: queue.Queue[tuple[IO[bytes], bytes]] = queue.Queue()

    def on_message(topic: str, payload: bytes) -> None:
        try:
            Scan.from_json(payload)
        except ContractError as exc:
            lines.put((sys.stderr.buffer, f"scantalk watch: skipped {topic}: {exc}".encode()))
            return
        # Raw newlines in valid JSON are only whitespace: keep one scan on one line.
        lines.put((sys.stdout.buffer, payload.replace(b"\r", b" ").replace(b"\n", b" ")))

    def write_next(seconds: float) -> None:
        try:
            stream, line = lines.get(timeout=seconds)
        except queue.Empty:
            return
        stream.write(line + b"\n")
        stream.flush()

    topics = _topics(settings.station, True)
    client = _connect(settings, topics, on_message, lambda _up: None)
    where = f"{settings.mqtt_host}:{settings.mqtt_port}"
    # On stderr, for the person starting it: stdout stays pure JSON lines.
    print(f"scantalk watch: streaming {topics[0]} from {where}", file=sys.stderr, flush=True)
    try:
        _until_stopped(write_next)
    finally:
        _disconnect(client)
    return 0


COMMAND = Command(("watch",), "a live view of a lane (or a store) in the terminal", run, arguments)
