"""How the lane's cost grows: with the camera's frame rate, the frame size, the items taught on
the lane, and the lanes bridged to one store broker. The "Scale" section of the report.

    .venv/bin/python -m bench.scaling [--quick]

Frame rate and lanes run the real nodes as processes against real `mosquitto` brokers, CPU read
from /proc; frame size and taught items time the nodes' per-frame work in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import heapq
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench import cpu_seconds, lane_env, rss_mb
from bench.bridge import scan
from bench.classifier import PHOTO
from bench.report import Cell, Plot, Section, Table, figure, markdown, spread
from camera_node.gate import Gate, GateSettings
from camera_node.settings import CameraSettings
from classifier_node.decision import ScanDecider
from classifier_node.model import Model
from classifier_node.prototypes import Prototypes, normalise
from classifier_node.settings import ClassifierSettings
from scantalk.commands.broker import Broker, BrokerError, free_port
from scantalk.contract import ONLINE, AckStatus, NodeName, Topics
from scantalk.latency import percentile
from scantalk.processes import stop_process
from scantalk.scene import Stage, cutout, stagings
from scantalk.settings import DEFAULT_MODEL_DIR
from testbench.broker_conf import lane_to_store_conf
from testbench.bus import Bus, Heard, wait_online
from testbench.scenes import footage, write_video

T = Topics("lane-1")
SETTLE_FRAMES = ClassifierSettings().thresholds.settle_frames
"""What the camera's gate is told by the classifier at its default settings (7)."""
WARM_UP = 5
"""Untimed rounds before the in-process timings."""

RATES = (5, 15, 30)
FOOTAGE_PHOTO = "fruit/lemon.png"
"""Named with confidence by the shipped model in `footage`, so a placement is a scan (its
default banana is "not sure" at that size: the cost of questions is not what is measured)."""
CYCLE = (("empty", 2.0), ("entering", 0.4), ("resting", 1.2), ("leaving", 0.4))
"""One placement as the camera sees it, in seconds, the same at every frame rate: the item 2 s
in view, then the empty counter 2 s."""
CYCLE_S = sum(seconds for _, seconds in CYCLE)

SIZES = ((640, 480), (1280, 720), (1920, 1080))
STEPS = ("gate", "encode", "decode", "preprocess", "inference")

PROTOTYPE_COUNTS = (0, 50, 500)
PER_ITEM = 10
"""Prototypes per taught item: a few teaching photos, each in its four quarter turns."""

LANE_COUNTS = (1, 10, 50)
SCAN_EVERY_S = 4.0
STORE = "store-1"
"""The store bridge's station id: its own status topic, apart from every lane's."""


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _p50_p95(values: Sequence[float]) -> list[float]:
    return [statistics.median(values), percentile(list(values), 0.95)]


def _fixed(value: Cell, digits: int = 2) -> Cell:
    """A number shown with more digits than the report's one: small ones would read 0.0."""
    return f"{value:.{digits}f}" if isinstance(value, float) else value


def _turns(items: Sequence[int], i: int) -> list[int]:
    """`items`, the `i`th first: interleaved timings where no case always goes first."""
    k = i % len(items)
    return [*items[k:], *items[:k]]


def lines(
    name: str, xs: Sequence[float], series: dict[str, list[float]], labels: tuple[str, str],
    caption: str, log_x: bool = False,
) -> Plot:  # fmt: skip
    """One line per series over the same x values; `labels`: the x and y axes'."""
    fig = figure()
    ax = fig.subplots()
    for label, ys in series.items():
        ax.plot(list(xs), ys, marker="o", label=label)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_ylim(bottom=0)
    if log_x:
        ax.set_xscale("log")
        ax.set_xticks(list(xs), [f"{x:g}" for x in xs])
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return Plot(name, fig, caption)


# --- 1. frame rate -------------------------------------------------------------------------------


def paced_footage(clip: list[tuple[str, np.ndarray]], fps: int) -> list[tuple[str, np.ndarray]]:
    """One `CYCLE` of `clip` (`testbench.scenes.footage`) at `fps`: each phase's frames spread
    over its seconds, so the item moves at the same pace whatever the rate (the camera reads
    one video frame per tick)."""
    pools: dict[str, list[np.ndarray]] = {}
    for phase, frame in clip:
        pools.setdefault(phase, []).append(frame)
    out = []
    for phase, seconds in CYCLE:
        n, pool = round(seconds * fps), pools[phase]
        out += [(phase, pool[i * len(pool) // n]) for i in range(n)]
    return out


@dataclass
class RateRun:
    fps: int
    placements: int
    published: int
    """Frames the camera published in the window."""
    classified: int
    scans: int
    cpu_s: dict[str, float]
    seconds: float


def _frame_number(prediction: Heard) -> int:
    """The camera numbers the frames it publishes: its frame ids are `<run id>-<n>`."""
    return int(prediction.json()["frame_id"].rsplit("-", 1)[1])


def run_rate(
    fps: int, video: Path, env: dict[str, str], others: dict[str, int], bus: Bus, cycles: int
) -> RateRun:
    started = time.monotonic()
    env = env | {"SCANTALK_CAMERA_SOURCE": str(video), "SCANTALK_CAMERA_FPS": str(fps)}
    camera = subprocess.Popen([sys.executable, "-m", "scantalk", "node", "camera"], env=env)
    try:
        # The camera of the rate before left its "online" retained: only this one's counts.
        bus.wait_for(
            T.status(NodeName.CAMERA), lambda h: h.payload == ONLINE and h.received > started
        )
        bus.wait_for(T.prediction, lambda h: h.received > started)  # frames flow end to end
        pids = {"camera": camera.pid, **others}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        t0 = time.monotonic()
        time.sleep(cycles * CYCLE_S)  # the window: whole placements
        used = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        t1 = time.monotonic()
    finally:
        stop_process(camera)
    mine = bus.matching(T.prediction, lambda h: h.received > started)
    inside = [h for h in mine if t0 <= h.received < t1]
    last_before = max(_frame_number(h) for h in mine if h.received < t0)
    published = max(map(_frame_number, inside), default=last_before) - last_before
    # Scans new in the window: with no bridge to ack them, the classifier publishes each again.
    first_heard: dict[str, float] = {}
    for h in bus.matching(T.scan):
        first_heard.setdefault(h.json()["scan_id"], h.received)
    scans = sum(t0 <= at < t1 for at in first_heard.values())
    return RateRun(fps, cycles, published, len(inside), scans, used, t1 - t0)


def frame_rate(quick: bool, section: Section) -> None:
    cycles = 1 if quick else 5
    with tempfile.TemporaryDirectory() as tmp_name, Broker(free_port(), Path(tmp_name)) as broker:
        tmp = Path(tmp_name)
        assert broker.process is not None
        env = lane_env(broker.port, str(tmp / "data"))
        # Not the frames: a second subscriber to them would add to the broker's work.
        bus = Bus(broker.port, [T.prediction, T.scan, T.statuses])
        classifier = subprocess.Popen(
            [sys.executable, "-m", "scantalk", "node", "classifier"], env=env
        )
        try:
            clip = footage(FOOTAGE_PHOTO)  # while the classifier loads its model
            videos = {
                fps: write_video(tmp / f"{fps}.avi", paced_footage(clip, fps), fps) for fps in RATES
            }
            wait_online(bus, "classifier")
            others = {"classifier": classifier.pid, "broker": broker.process.pid}
            runs = [run_rate(fps, videos[fps], env, others, bus, cycles) for fps in RATES]
        finally:
            stop_process(classifier)
            bus.close()
    nodes = ("camera", "classifier", "broker")
    rows: list[list[Cell]] = []
    for r in runs:
        total = sum(r.cpu_s.values())
        counts = [r.published, r.classified, r.scans]
        cpu_s = [*(r.cpu_s[n] for n in nodes), total]
        rows.append([r.fps, r.placements, *(c / r.placements for c in counts),
                     *(_fixed(c / r.placements, 3) for c in cpu_s),
                     100 * total / r.seconds])  # fmt: skip
    how = (
        f"**Frame rate.** The camera node reads a 640x480 video of tuxpaint photos (a lemon "
        f"moving in, resting, moving out: {CYCLE_S - CYCLE[0][1]:g} s, then {CYCLE[0][1]:g} s "
        f"of empty counter) at 5, 15 and 30 fps, its motion gate on. Each rate has its own "
        f"video, so a placement takes as long at every rate. A real classifier node (defaults: "
        f"2 inference threads) and a real broker run with it; one classifier serves the three "
        f"rates, the camera starts anew for each. CPU is process time from /proc (10 ms ticks) "
        f"over {cycles} whole placement(s) per rate, starting once the camera is online and its "
        f"first frame classified. Frames published come from the camera's frame numbers in the "
        f"classifier's predictions."
    )
    section.tables.append(Table(
        ["fps", "placements", "frames published / placement", "frames classified / placement",
         "scans / placement", "camera CPU s / placement", "classifier CPU s / placement",
         "broker CPU s / placement", "total CPU s / placement", "total CPU % of one core"],
        rows, how,
    ))  # fmt: skip
    section.plots.append(lines(
        "scaling-fps", RATES,
        {name: [r.cpu_s[name] / r.placements for r in runs] for name in nodes},
        ("camera frames per second", "CPU seconds per placement"),
        "CPU per placement by the camera's frame rate, per process",
    ))  # fmt: skip


# --- 2. frame size -------------------------------------------------------------------------------


def frame_work(
    model: Model, gate: Gate, bgr: np.ndarray, quality: int, now: float
) -> tuple[dict[str, float], int]:
    """One frame through the camera (gate, encode) and the classifier (decode, preprocess,
    inference): ms per step in `STEPS`, and the JPEG's size in bytes."""
    took = {}
    started = time.perf_counter()
    gate.check(bgr, now)
    took["gate"], started = _ms(started), time.perf_counter()
    jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
    took["encode"], started = _ms(started), time.perf_counter()
    rgb = model.decode(jpeg)
    took["decode"], started = _ms(started), time.perf_counter()
    tensor = model.preprocess(rgb)
    took["preprocess"], started = _ms(started), time.perf_counter()
    model.run(tensor)
    took["inference"] = _ms(started)
    return took, len(jpeg)


def frame_size(quick: bool, section: Section) -> None:
    frames = 20 if quick else 100
    model = Model(DEFAULT_MODEL_DIR, threads=1)
    assert max(map(max, SIZES)) <= model.max_side, "the classifier would refuse the frames"
    quality = CameraSettings().camera_quality
    staging, item = stagings("testing", 1, seed=3)[0], cutout(PHOTO)
    shots: dict[int, list[np.ndarray]] = {}  # by width
    for size in SIZES:  # a few sensor-noise patterns, as BGR: what the camera holds
        stage = Stage(staging, size, seed=3)
        jpegs = [stage.frame(item) for _ in range(Stage.NOISE_FRAMES)]
        decoded = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) for j in jpegs]
        shots[size[0]] = [bgr for bgr in decoded if bgr is not None]
    gates = {w: Gate(GateSettings(settle_frames=SETTLE_FRAMES)) for w, _ in SIZES}
    times = {w: {step: list[float]() for step in STEPS} for w, _ in SIZES}
    kb: dict[int, list[float]] = {w: [] for w, _ in SIZES}
    for i in range(WARM_UP + frames):
        for w in _turns([w for w, _ in SIZES], i):
            bgr = shots[w][i % len(shots[w])]
            step_ms, jpeg_bytes = frame_work(model, gates[w], bgr, quality, now=i / 15)
            if i >= WARM_UP:
                for step, ms in step_ms.items():
                    times[w][step].append(ms)
                kb[w].append(jpeg_bytes / 1024)
    rows: list[list[Cell]] = []
    for w, h in SIZES:
        took = {step: np.array(times[w][step]) for step in STEPS}
        camera = (took["gate"] + took["encode"]).tolist()
        classifier = (took["decode"] + took["preprocess"] + took["inference"]).tolist()
        steps = [float(np.median(took[step])) for step in STEPS]
        rows.append([f"{w}x{h}", statistics.median(kb[w]), *steps[:2], *_p50_p95(camera),
                     *steps[2:], *_p50_p95(classifier)])  # fmt: skip
    how = (
        f"**Frame size.** In this process, {frames} frames of each size, sizes interleaved, "
        f"after {WARM_UP} untimed: a banana on a testing staging composed by `scantalk.scene` "
        f"at that size, with sensor noise. The camera's work per frame it publishes: the motion "
        f"gate (`settle_frames` {SETTLE_FRAMES}) and JPEG encoding at its default quality "
        f"({quality}). The classifier's: `Model.decode` (the JPEG scaled down as it is decoded), "
        f"`preprocess` and inference with the shipped model on 1 thread; its frame limits "
        f"({model.max_side} px a side, {model.max_bytes // 2**20} MiB) take 1920x1080. Medians "
        f"unless marked p95."
    )
    section.tables.append(Table(
        ["frame", "JPEG KB", "gate ms", "encode ms", "camera ms", "camera p95 ms", "decode ms",
         "preprocess ms", "inference ms", "classifier ms", "classifier p95 ms"],
        rows, how,
    ))  # fmt: skip
    section.plots.append(lines(
        "scaling-frame-size", [w * h / 1e6 for w, h in SIZES],
        {"camera (gate + encode)": [float(r[4] or 0) for r in rows],
         "classifier (decode + preprocess + inference)": [float(r[9] or 0) for r in rows]},
        ("megapixels per frame", "median ms per frame"),
        "Per-frame work of the camera and the classifier by frame size",
    ))  # fmt: skip


# --- 3. taught items -----------------------------------------------------------------------------


def random_prototypes(count: int, width: int, rng: np.random.Generator) -> Prototypes:
    """`count` random unit vectors of the model's feature width, `PER_ITEM` to a taught label."""
    if not count:
        return Prototypes.empty(width)
    labels = tuple(f"taught-{k}" for k in range(-(-count // PER_ITEM)))
    owners = np.arange(count, dtype=np.int64) // PER_ITEM
    vectors = normalise(rng.standard_normal((count, width)).astype(np.float32))
    return Prototypes(labels, vectors, owners)


def taught_items(quick: bool, section: Section) -> None:
    frames = 40 if quick else 200
    model = Model(DEFAULT_MODEL_DIR, threads=1)
    jpeg = Stage(stagings("testing", 1, seed=3)[0], seed=3).frame(cutout(PHOTO))
    features = model.features(model.decode(jpeg))
    rng = np.random.default_rng(5)
    taught = {n: random_prototypes(n, len(features), rng) for n in PROTOTYPE_COUNTS}
    deciders = {n: ScanDecider(ClassifierSettings().thresholds) for n in PROTOTYPE_COUNTS}
    per_frame: dict[int, list[float]] = {n: [] for n in PROTOTYPE_COUNTS}
    for i in range(WARM_UP + frames):
        for n in _turns(PROTOTYPE_COUNTS, i):
            model.prototypes = taught[n]
            started = time.perf_counter()
            deciders[n].observe(model.read(model.decode(jpeg)))  # the node's per-frame work
            if i >= WARM_UP:
                per_frame[n].append(_ms(started))
    alone_us = {}  # the comparison on its own: the inference's jitter is larger than it
    for n in PROTOTYPE_COUNTS:
        started = time.perf_counter()
        for _ in range(1000):
            taught[n].similarity(features)
        alone_us[n] = _ms(started)  # ms for 1000 calls: µs for one
    base = statistics.median(per_frame[0])
    rows: list[list[Cell]] = [
        [n, len(taught[n].labels), *map(_fixed, _p50_p95(per_frame[n])),
         _fixed(statistics.median(per_frame[n]) - base), alone_us[n]]
        for n in PROTOTYPE_COUNTS
    ]  # fmt: skip
    how = (
        f"**Taught items.** In this process, {frames} frames for each number of prototypes, "
        f"interleaved, after {WARM_UP} untimed: what the classifier node does with each frame "
        f"(`Model.decode`; `Model.read`, which is inference and the cosine comparison with every "
        f"taught prototype; the scan decision's `observe`), shipped model, 1 thread. The "
        f"prototypes are random unit vectors of the model's feature width ({len(features)}), "
        f"{PER_ITEM} to a taught item (a few photos in four quarter turns, as `scantalk teach` "
        f'makes them). "Comparison alone" is `Prototypes.similarity` on its own, the mean of '
        f"1000 calls."
    )
    section.tables.append(Table(
        ["prototypes", "taught items", "per frame ms", "p95 ms", "Δ median vs 0 ms",
         "comparison alone µs"],
        rows, how,
    ))  # fmt: skip


# --- 4. lanes on one store broker ----------------------------------------------------------------


@dataclass
class Lane:
    """A simulated lane: its broker, bridged to the store, and this process as its classifier."""

    name: str
    broker: Broker
    bus: Bus
    sent: dict[str, float] = dataclasses.field(default_factory=dict)
    """Scan id -> when it was published at the lane broker, monotonic."""

    @property
    def pid(self) -> int:
        assert self.broker.process is not None
        return self.broker.process.pid

    def publish(self, scan_id: str) -> None:
        payload = dataclasses.replace(scan(self.name, 0), scan_id=scan_id, station=self.name)
        self.sent[scan_id] = time.monotonic()
        self.bus.client.publish(Topics(self.name).scan, payload.to_json(), qos=1)

    def acks(self, status: AckStatus) -> dict[str, float]:
        """Scan id -> when its first `status` ack was heard back at the lane broker."""
        heard: dict[str, float] = {}
        for h in self.bus.matching(Topics(self.name).inventory_ack):
            if (ack := h.json())["status"] == status:
                heard.setdefault(ack["scan_id"], h.received)
        return heard

    def has_ack(self, scan_ids: Sequence[str], status: AckStatus) -> bool:
        return set(scan_ids) <= self.acks(status).keys()


def open_lane(n: int, store_port: int, tmp: Path) -> Lane:
    name = f"lane-{n}"
    conf = lane_to_store_conf(name, "127.0.0.1", store_port)
    broker = Broker(free_port(), tmp / name, extra_conf=conf).start()
    try:
        return Lane(name, broker, Bus(broker.port, [Topics(name).inventory_ack]))
    except Exception:
        broker.stop()
        raise


def add_lanes(lanes: list[Lane], count: int, store_port: int, tmp: Path) -> None:
    """Lanes up to `count`; a first scan of each new one goes to the store's bridge and its ack
    comes back before anything is timed (the bridge connection is up)."""
    added = []
    while len(lanes) < count:
        lanes.append(open_lane(len(lanes) + 1, store_port, tmp))
        added.append(lanes[-1])
    for lane in added:
        lane.publish(f"{lane.name}-warm")
    for lane in added:
        ids = [f"{lane.name}-warm"]
        queued = functools.partial(lane.has_ack, ids, AckStatus.QUEUED)
        lane.bus.wait_until(queued, f"{lane.name} bridged to the store", timeout=30)


def close_lanes(lanes: list[Lane]) -> None:
    """All at once: one after another, each listener's loop and each broker take a while."""
    for lane in lanes:
        lane.bus.client.disconnect()  # wakes its network loop, so closing it does not wait
        if lane.broker.process:
            lane.broker.process.terminate()
    for lane in lanes:
        lane.bus.close()
        lane.broker.stop()


@dataclass
class LanesRun:
    lanes: int
    sent: int
    recorded: int
    latency_ms: list[float]
    cpu_pct: dict[str, float]
    rss_mb: float


def run_lanes(lanes: list[Lane], pids: dict[str, int], seconds: float) -> LanesRun:
    """Each lane publishes a scan every `SCAN_EVERY_S` ± 1 s for `seconds`; then its acks."""
    rng = random.Random(len(lanes))
    due = [(time.monotonic() + rng.uniform(0, SCAN_EVERY_S), k) for k in range(len(lanes))]
    heapq.heapify(due)
    first = {lane.name: len(lane.sent) for lane in lanes}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    end = started + seconds
    while due[0][0] < end:
        at, k = heapq.heappop(due)
        time.sleep(max(0.0, at - time.monotonic()))  # the shoppers' pace: nothing to wait for
        lanes[k].publish(f"{lanes[k].name}-{len(lanes[k].sent):05d}")
        heapq.heappush(due, (at + rng.uniform(SCAN_EVERY_S - 1, SCAN_EVERY_S + 1), k))
    time.sleep(max(0.0, end - time.monotonic()))
    elapsed = time.monotonic() - started
    cpu = {name: 100 * (cpu_seconds(pid) - before[name]) / elapsed for name, pid in pids.items()}
    rss = sum(rss_mb(lane.pid) for lane in lanes)
    cpu["lane brokers"] = sum(cpu.pop(lane.name) for lane in lanes)
    sent, recorded, latency = 0, 0, []
    for lane in lanes:
        ids = list(lane.sent)[first[lane.name] :]
        with contextlib.suppress(AssertionError):  # a scan never recorded is counted so
            recorded_all = functools.partial(lane.has_ack, ids, AckStatus.DELIVERED)
            lane.bus.wait_until(recorded_all, f"{lane.name}'s records", timeout=30)
        queued, delivered = lane.acks(AckStatus.QUEUED), lane.acks(AckStatus.DELIVERED)
        latency += [(queued[i] - lane.sent[i]) * 1000 for i in ids if i in queued]
        sent, recorded = sent + len(ids), recorded + sum(i in delivered for i in ids)
    return LanesRun(len(lanes), sent, recorded, latency, cpu, rss)


def lanes_on_a_store(quick: bool, section: Section) -> None:
    counts, seconds = (LANE_COUNTS[:1], 3.0) if quick else (LANE_COUNTS, 30.0)
    runs: list[LanesRun] = []
    stopped = ""
    lanes: list[Lane] = []
    with tempfile.TemporaryDirectory() as tmp_name, Broker(free_port(), Path(tmp_name)) as store:
        tmp = Path(tmp_name)
        assert store.process is not None
        env = lane_env(store.port, str(tmp / "store-data"))
        env |= {"SCANTALK_STATION": STORE, "SCANTALK_BRIDGE_STATIONS": "+"}
        store_bus = Bus(store.port, [Topics(STORE).status(NodeName.BRIDGE)])
        bridge = subprocess.Popen([sys.executable, "-m", "scantalk", "node", "bridge"], env=env)
        try:
            wait_online(store_bus, "bridge", station=STORE)
            for count in counts:  # lanes are added to the same store, bridge and outbox
                try:
                    add_lanes(lanes, count, store.port, tmp)
                except (BrokerError, OSError, AssertionError) as exc:
                    stopped = f"{count} lanes did not all start and bridge ({exc})"
                    break
                pids = {"store broker": store.process.pid, "bridge": bridge.pid}
                runs.append(run_lanes(lanes, pids | {lane.name: lane.pid for lane in lanes},
                                      seconds))  # fmt: skip
        finally:
            stop_process(bridge)
            store_bus.close()
            close_lanes(lanes)
    rows: list[list[Cell]] = [
        [r.lanes, r.sent, r.recorded, *spread(r.latency_ms)[1:],
         *(_fixed(r.cpu_pct[p]) for p in ("store broker", "bridge", "lane brokers")), r.rss_mb]
        for r in runs
    ]  # fmt: skip
    how = (
        f"**Lanes on one store broker.** Each simulated lane is a `mosquitto` of its own (the "
        f"dev config and `mosquitto/lane-to-store.conf` rendered for it) bridged to one store "
        f"broker, where one bridge node (`SCANTALK_BRIDGE_STATIONS=+`, local record store) "
        f"records every lane's scans. At each lane broker this process publishes a scan (QoS 1) "
        f"every {SCAN_EVERY_S:g} ± 1 s, for {seconds:g} s per lane count; lanes are added to the "
        f"same store and bridge from one count to the next. Latency is from the publish at the "
        f"lane broker to the bridge's `queued` ack of that scan (it is in the durable outbox) "
        f"heard back at the lane broker, matched by `scan_id`; recorded means its `delivered` "
        f"ack was heard. CPU % of one core over the publishing window, from /proc; RSS is the "
        f"sum over the lane brokers at its end."
    )
    if stopped:
        section.say(f"**Lanes:** stopped at {runs[-1].lanes if runs else 0} lanes: {stopped}.")
    section.tables.append(Table(
        ["lanes", "scans sent", "recorded", "ack p50 ms", "ack p95 ms", "ack p99 ms",
         "store broker CPU %", "bridge CPU %", "lane brokers CPU %", "lane brokers RSS MB"],
        rows, how,
    ))  # fmt: skip
    if len(runs) > 1:
        quantiles = {f"p{round(q * 100)}": q for q in (0.5, 0.95, 0.99)}
        section.plots.append(lines(
            "scaling-lanes", [r.lanes for r in runs],
            {name: [percentile(r.latency_ms, q) if r.latency_ms else 0.0 for r in runs]
             for name, q in quantiles.items()},
            ("lanes bridged to the store", "scan → queued ack, ms"),
            "Scan to acknowledgement by the number of lanes on one store broker", log_x=True,
        ))  # fmt: skip


def section(quick: bool) -> Section:
    out = Section("Scale")
    out.say(
        f"How the lane's cost grows with the camera's frame rate, the frame size, the items "
        f"taught and the lanes on one store broker, on this machine ({os.cpu_count()} cores; "
        f"other work on it shows as noise in the p95s)."
    )
    frame_rate(quick, out)
    frame_size(quick, out)
    taught_items(quick, out)
    lanes_on_a_store(quick, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows; 1 lane")
    args = parser.parse_args()
    print(markdown("Scale", [section(args.quick)], "plots"))


if __name__ == "__main__":
    main()
