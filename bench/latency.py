"""Placement to first audio: an item is put down in front of a 15 fps camera, how long until
the lane says its name (warm cache).

    .venv/bin/python -m bench.latency [--placements 24] [--scale] [--hub] [--swaps 12]

Runs a real broker, a real classifier node and a real voice node (espeak-ng, pygame on SDL's
disk driver). The camera is scripted in this process: it publishes composed frames
(`scantalk.scene`, testing stagings) at a steady 15 fps, each placement empty -> entering ->
resting -> empty plus a few more empty frames. t0 of a placement is when its first frame
showing the item was published. A listener on the bus records when each message arrives:

- placement -> scan: the placement's `…/scan` heard, minus t0;
- placement -> first audio: the matching `…/voice/say` (same `scan_id`) heard, plus the
  `latency_ms` of its `…/voice/spoken` (request received -> first audio sample out), minus t0;
- placement -> first sound: the same for the placement's `detected` earcon;
- placement -> question starts: the same for a question, where the lane asks instead;
- swap -> first audio of the new name (`--swaps`): an item replaced by another from one frame
  to the next, no empty counter between; t0 is the first frame showing the new item.

One untimed round of every item comes first, so the voice's audio cache holds each name. The
baseline, from the same run: the bus round trip (publish -> heard by the listener) and the
classifier's own time per frame (`inference_ms` of its predictions).

With `--scale`, every placement is made twice, interleaved: once from the camera alone and once
with a scripted produce scale (its node online, the weight moving from the first item frame
and stable `SETTLE_FRAMES` later, then moving and back to zero when the item leaves). For the
placements with the scale, "placement" is also timed from the first stable weight (on the bus:
a real scale node adds its poll, about 100 ms at 0.2 s, `bench.scale`). Items sold by weight
wait for that weight and say it; items sold by the piece do not wait.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench import lane_env
from bench.bridge import arrivals
from scantalk.catalog import Catalog
from scantalk.commands.broker import Broker, free_port
from scantalk.connection import tcp_no_delay
from scantalk.contract import (
    FRAME_EXPIRY_S,
    OFFLINE,
    ONLINE,
    FrameInfo,
    NodeName,
    Topics,
    Unit,
    Weight,
    WeightStatus,
)
from scantalk.latency import percentile
from scantalk.processes import stop_process
from scantalk.scene import PLACEMENT, TUXPAINT_FOOD, Stage, cutout, placement, stagings
from scantalk.settings import DEFAULT_MODEL_DIR
from testbench.bus import Bus, Heard, wait_online
from testbench.hub import Hub

FPS = 15
TARGET_P95_MS = 250
TARGET_EARCON_P95_MS = 120
TARGET_QUESTION_P95_MS = 600
STATION = "lane-1"
TOPICS = Topics(STATION)
AFTER_EMPTY = 6
"""Extra empty frames after each placement, so the classifier has seen it end."""
STAGINGS = 4
PRODUCE = {  # photo -> the model's label
    "fruit/banana.png": "banana",
    "fruit/lemon.png": "lemon",
    "vegetables/broccoli.png": "broccoli",
    "fruit/strawberry.png": "strawberry",
    "fruit/pineapple.png": "pineapple",
    "vegetables/yellowpepper.png": "bell_pepper",
}
SWAPS = (  # item first placed -> item put in its place, with no empty counter between
    ("fruit/banana.png", "fruit/lemon.png"),
    ("fruit/lemon.png", "fruit/strawberry.png"),
    ("vegetables/broccoli.png", "fruit/pineapple.png"),
    ("fruit/strawberry.png", "fruit/banana.png"),
    ("fruit/pineapple.png", "vegetables/yellowpepper.png"),
    ("vegetables/yellowpepper.png", "vegetables/broccoli.png"),
)
TARGET_SWAP_P95_MS = 400
PING = f"scantalk/{STATION}/bench/ping"  # the wire format, on purpose: the bench's own topic
SETTLE_FRAMES = 8
"""Frames at 15 fps the scripted scale moves after an item lands or leaves (0.53 s)."""


@dataclass(frozen=True)
class Frame:
    placement: int
    index: int
    """Frame number within its placement."""
    phase: str
    jpeg: bytes
    before: tuple[tuple[str, bytes], ...] = ()
    """Messages (topic, payload) published retained just before the frame: the scale's."""
    stable_weight: bool = False
    """`before` holds the first stable weight of the item: the scale's "placed"."""

    @property
    def frame_id(self) -> str:
        return f"p{self.placement}-f{self.index}"


@dataclass
class Outcome:
    label: str
    counter: str
    t0: float = 0.0
    scan: Heard | None = None
    scan_ms: float | None = None
    audio_ms: float | None = None
    earcon_ms: float | None = None
    question_ms: float | None = None
    record_ms: float | None = None
    """To its record arriving at the IoT Hub stand-in (with `--hub`)."""
    extra_scans: int = 0
    scale: bool | None = None
    """With the scripted scale (True), from the camera alone beside it (False), or no scale."""
    weighed: float = 0.0
    """When its first stable weight was published (with the scale)."""
    swapped_in: bool = False
    """It replaced the item before it with no empty counter between: t0 is its first frame."""


def script(
    placements: list[tuple[Stage, str]], first: int, scale: list[bool] | None = None
) -> list[Frame]:
    """Every frame of `placements`, numbered from `first`, with empty frames after each;
    `scale`: per placement, whether the scripted scale weighs it (its node online) or not."""
    frames = []
    for n, (stage, photo) in enumerate(placements, start=first):
        shown = list(placement(stage, cutout(TUXPAINT_FOOD / photo)))
        shown += [("empty", stage.frame(None)) for _ in range(AFTER_EMPTY)]
        placed = [Frame(n, i, phase, jpeg) for i, (phase, jpeg) in enumerate(shown)]
        if scale is not None:
            placed = weighed(placed, scale[n - first], 0.2 + (n % 7) * 0.19)
        frames += placed
    return frames


def swaps_script(swaps: list[tuple[Stage, str, str]], first: int) -> list[Frame]:
    """Each swap as two placements, numbered from `first`: the first item arrives and rests;
    the second takes its place from one frame to the next (its first frame is `entering`, so
    its t0), rests, and leaves."""
    frames = []
    phases = dict(PLACEMENT)
    for k, (stage, photo, swapped_in) in enumerate(swaps):
        n = first + 2 * k
        shown = list(placement(stage, cutout(TUXPAINT_FOOD / photo)))
        arrived = shown[: -phases["empty"]]  # no empty counter after it
        frames += [Frame(n, i, phase, jpeg) for i, (phase, jpeg) in enumerate(arrived)]
        item = cutout(TUXPAINT_FOOD / swapped_in)
        after = [
            ("entering" if i == 0 else "resting", stage.frame(item))
            for i in range(phases["resting"])
        ]
        after += [("empty", stage.frame(None)) for _ in range(phases["empty"] + AFTER_EMPTY)]
        frames += [Frame(n + 1, i, phase, jpeg) for i, (phase, jpeg) in enumerate(after)]
    return frames


def weighed(frames: list[Frame], scale: bool, kg: float) -> list[Frame]:
    """One placement's frames with the scale's messages: its node online or offline at the
    start; with the scale, the weight moving and settling as the item lands and leaves."""
    status = (TOPICS.status(NodeName.SCALE), ONLINE if scale else OFFLINE)
    out = [dataclasses.replace(frames[0], before=(status,)), *frames[1:]]
    if not scale:
        return out
    landed = next(i for i, f in enumerate(frames) if f.phase == "entering")
    left = next(i for i, f in enumerate(frames) if i > landed and f.phase == "empty")
    for at, grams, stable in (
        (landed, kg / 2, False), (landed + SETTLE_FRAMES, kg, True),
        (left, kg / 2, False), (left + SETTLE_FRAMES, 0.0, True),
    ):  # fmt: skip
        status_now = WeightStatus.OK if stable else WeightStatus.MOTION
        weight = Weight(STATION, round(grams, 3), stable, status_now).to_json()
        out[at] = dataclasses.replace(
            out[at], before=(*out[at].before, (TOPICS.weight, weight)),
            stable_weight=stable and grams > 0,
        )  # fmt: skip
    return out


class Camera:
    """A scripted camera: its own MQTT client, frames at QoS 0 with the camera's properties."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(client_id=f"bench-camera-{os.getpid()}", protocol=mqtt.MQTTv5)
        self.client.on_socket_open = tcp_no_delay
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.late_ms: list[float] = []
        """How late each frame went out against its due time."""
        self.sent: dict[str, float] = {}
        """When each frame (by id) was published, monotonic."""
        self.weighed: dict[int, float] = {}
        """When each placement's first stable weight was published, monotonic."""

    def stream(self, frames: list[Frame]) -> dict[int, float]:
        """Publish `frames` at a steady FPS; returns each placement's t0 (first item frame)."""
        t0: dict[int, float] = {}
        start = time.monotonic() + 0.1
        for i, frame in enumerate(frames):
            due = start + i / FPS
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            for topic, payload in frame.before:
                self.client.publish(topic, payload, qos=1, retain=True)
            if frame.stable_weight:
                self.weighed[frame.placement] = time.monotonic()
            properties = Properties(PacketTypes.PUBLISH)
            properties.UserProperty = FrameInfo(frame_id=frame.frame_id).to_properties()
            properties.MessageExpiryInterval = FRAME_EXPIRY_S
            now = time.monotonic()
            self.late_ms.append((now - due) * 1000)
            self.sent[frame.frame_id] = now
            if frame.phase == "entering" and frame.placement not in t0:
                t0[frame.placement] = now
            self.client.publish(TOPICS.frame, frame.jpeg, qos=0, properties=properties)
        return t0

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def warm_cache(camera: Camera, bus: Bus, stages: list[Stage], photos: list[str]) -> list[str]:
    """Untimed: place each item until it is announced and spoken once, so the voice's audio
    cache holds its name (up to one try on each staging). Returns the items never spoken."""
    unwarmed = []
    for i, photo in enumerate(photos):
        label = PRODUCE[photo]
        for k in range(STAGINGS):
            tried = time.monotonic()
            n = i * STAGINGS + k
            camera.stream(script([(stages[(i + k) % STAGINGS], photo)], first=n))
            scans = [
                h
                for h in bus.matching(TOPICS.scan)
                if h.received >= tried and h.json()["label"] == label
            ]
            if scans:
                bus.wait_for(TOPICS.spoken, _for_scan(scans[0].json()["scan_id"]), timeout=30)
                break
        else:
            unwarmed.append(label)
    time.sleep(2)
    return unwarmed


def bus_round_trip(bus: Bus, count: int = 50) -> list[float]:
    """Milliseconds from publishing a small message to the listener hearing it."""
    times = []
    for i in range(count):
        payload = f"ping-{i}".encode()
        started = time.monotonic()
        bus.client.publish(PING, payload, qos=0)
        (heard,) = bus.wait_for(PING, _payload_is(payload), timeout=10)
        times.append((heard.received - started) * 1000)
        time.sleep(0.02)
    return times


def _payload_is(payload: bytes) -> Callable[[Heard], bool]:
    return lambda h: h.payload == payload


def _for_scan(scan_id: str) -> Callable[[Heard], bool]:
    return lambda h: h.json().get("scan_id") == scan_id


def _audio_ms(bus: Bus, t0: float, until: float, kind: str) -> float | None:
    """Placement to the first audio of the first `kind` request in its window: the request
    heard plus its `spoken` latency (matched by text), minus t0."""
    says = bus.matching(TOPICS.say, lambda h: t0 <= h.received < until and h.json()["kind"] == kind)
    if not says:
        return None
    text = says[0].json()["text"]
    spoken = bus.matching(
        TOPICS.spoken, lambda h: h.received >= says[0].received and h.json()["text"] == text
    )
    if not spoken:
        return None
    return (says[0].received + spoken[0].json()["latency_ms"] / 1000 - t0) * 1000


def match(
    bus: Bus, outcomes: dict[int, Outcome], end: float, records: dict[str, float] | None = None
) -> None:
    """Give each placement the first scan heard in its window, that scan's audio time, the
    times of its earcon and of its question, if the lane asked, and of its record reaching the
    hub (`records`: when each scan's record arrived, by scan id)."""
    order = sorted(outcomes, key=lambda n: outcomes[n].t0)
    scans, seen = [], set()
    for h in bus.matching(TOPICS.scan, lambda h: h.json()["revision"] == 1):  # not a new weight
        if h.json()["scan_id"] not in seen:  # not one sent again while it waits for its ack
            seen.add(h.json()["scan_id"])
            scans.append(h)
    for k, n in enumerate(order):
        outcome = outcomes[n]
        until = outcomes[order[k + 1]].t0 if k + 1 < len(order) else end
        outcome.earcon_ms = _audio_ms(bus, outcome.t0, until, "earcon")
        outcome.question_ms = _audio_ms(bus, outcome.t0, until, "question")
        inside = [h for h in scans if outcome.t0 <= h.received < until]
        if not inside:
            continue
        outcome.scan, outcome.extra_scans = inside[0], len(inside) - 1
        outcome.scan_ms = (inside[0].received - outcome.t0) * 1000
        scan_id = inside[0].json()["scan_id"]
        if records and scan_id in records:
            outcome.record_ms = (records[scan_id] - outcome.t0) * 1000
        says = bus.matching(TOPICS.say, _for_scan(scan_id))
        spoken = bus.matching(TOPICS.spoken, _for_scan(scan_id))
        if says and spoken:
            audio_at = says[0].received + spoken[0].json()["latency_ms"] / 1000
            outcome.audio_ms = (audio_at - outcome.t0) * 1000


@dataclass
class LaneRun:
    """One timed run: each placement's outcome, and what the report needs beside it."""

    outcomes: dict[int, Outcome]
    baseline: dict[str, list[float]]
    """Measured in the same run: the bus round trip, the classifier's own time per frame."""
    camera: Camera
    timed: list[Frame]
    prompts: int
    bus: Bus
    unwarmed: list[str]
    modes: list[bool] | None
    spoken_hit_ms: list[float]
    """The voice's request -> first audio for cached names in the timed run."""


def run(placements: int, scale: bool = False, hub: bool = False, swaps: int = 0) -> LaneRun:
    """`placements` timed placements on a lane of a real broker, classifier and voice (and with
    `hub`, a bridge sending records to the IoT Hub stand-in over TLS), then `swaps` swaps of one
    item for another with no empty counter between (`SWAPS` in turn)."""
    photos = list(PRODUCE)[:placements]  # fewer placements than items: warm only those used
    stages = [Stage(s, seed=k) for k, s in enumerate(stagings("testing", STAGINGS, seed=11))]
    timed_plan = [
        (stages[(i // len(photos) + i) % STAGINGS], photos[i % len(photos)])
        for i in range(placements)
    ]
    modes = None
    if scale:  # each placement twice, interleaved, each mode first in turn
        timed_plan = [p for p in timed_plan for _ in range(2)]
        modes = [(i % 2 == 0) == (i // 2 % 2 == 0) for i in range(len(timed_plan))]
    swapped = [photo for pair in SWAPS[:swaps] for photo in pair]
    warmed = list(dict.fromkeys(photos + swapped))
    first = len(warmed) * STAGINGS  # after the warming placements' numbers
    timed = script(timed_plan, first=first, scale=modes)
    first_swap = first + len(timed_plan)
    swap_plan = [(stages[k % STAGINGS], *SWAPS[k % len(SWAPS)]) for k in range(swaps)]
    timed += swaps_script(swap_plan, first_swap)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        broker = stack.enter_context(Broker(free_port(), Path(tmp)))
        env = lane_env(broker.port, tmp)
        names = ["classifier", "voice"]
        hub_bus = None
        if hub:
            stand_in = Hub(Path(tmp))
            stack.enter_context(stand_in.broker)
            hub_bus = stand_in.listen()
            stack.callback(hub_bus.close)
            env |= stand_in.env()
            names.append("bridge")
        nodes = {
            name: subprocess.Popen([sys.executable, "-m", "scantalk", "node", name], env=env)
            for name in names
        }
        for process in nodes.values():
            stack.callback(stop_process, process)
        bus = Bus(broker.port, ["scantalk/#"])  # the wire format, on purpose
        stack.callback(bus.close)
        camera = Camera(broker.port)
        stack.callback(camera.close)
        wait_online(bus, *nodes)
        unwarmed = warm_cache(camera, bus, stages, warmed)
        timed_from = time.monotonic()
        t0 = camera.stream(timed)
        time.sleep(3)  # the last placement's scan, audio and record
        end = time.monotonic()
        round_trip = bus_round_trip(bus)
        records = arrivals(hub_bus, "") if hub_bus else None
    outcomes = {
        n: Outcome(
            PRODUCE[photo],
            stage.staging.counter,
            t0.get(n, 0.0),
            scale=modes[n - first] if modes else None,
            weighed=camera.weighed.get(n, 0.0),
        )
        for n, (stage, photo) in enumerate(timed_plan, start=first)
    }
    for k, (stage, photo, swapped_in) in enumerate(swap_plan):
        n = first_swap + 2 * k
        outcomes[n] = Outcome(PRODUCE[photo], stage.staging.counter, t0.get(n, 0.0))
        outcomes[n + 1] = Outcome(
            PRODUCE[swapped_in], stage.staging.counter, t0.get(n + 1, 0.0), swapped_in=True
        )
    match(bus, outcomes, end, records)

    def timed_run(h: Heard) -> bool:
        return timed_from <= h.received < end

    inference = [h.json()["inference_ms"] for h in bus.matching(TOPICS.prediction, timed_run)]
    prompts = bus.matching(TOPICS.say, lambda h: timed_run(h) and h.json()["kind"] == "prompt")
    spoken_hits = [
        h.json()["latency_ms"]
        for h in bus.matching(TOPICS.spoken, timed_run)
        if h.json()["cache_hit"] and h.json().get("scan_id")
    ]
    baseline = {
        "bus round trip (publish -> heard)": round_trip,
        "classifier per frame (inference_ms)": inference,
    }
    return LaneRun(
        outcomes, baseline, camera, timed, len(prompts), bus, unwarmed, modes, spoken_hits
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--placements", type=int, default=24)
    parser.add_argument(
        "--scale", action="store_true", help="each placement also with a scripted scale"
    )
    parser.add_argument(
        "--hub", action="store_true", help="a bridge sends each record to the IoT Hub stand-in"
    )
    parser.add_argument(
        "--swaps", type=int, default=0, help="then swaps of one item for another, no empty between"
    )
    args = parser.parse_args()
    lane = run(args.placements, args.scale, args.hub, args.swaps)
    report(lane.outcomes, lane.baseline, lane.camera, lane.timed, lane.prompts, lane.bus)
    if lane.modes:
        report_scale(lane.outcomes)
    if lane.unwarmed:
        print(
            f"never announced while warming, so not in the audio cache: {', '.join(lane.unwarmed)}"
        )


def report(
    outcomes: dict[int, Outcome],
    baseline: dict[str, list[float]],
    camera: Camera,
    timed: list[Frame],
    prompts: int,
    bus: Bus,
) -> None:
    frame_ms = 1000 / FPS
    scanned = [o for o in outcomes.values() if o.scan is not None]
    scan_ms = [o.scan_ms for o in scanned if o.scan_ms is not None and not o.swapped_in]
    audio_ms = [o.audio_ms for o in scanned if o.audio_ms is not None and not o.swapped_in]
    swap_ms = [o.audio_ms for o in scanned if o.audio_ms is not None and o.swapped_in]
    print(
        f"placement -> first audio, scripted camera at {FPS} fps ({frame_ms:.1f} ms a frame), "
        f"warm cache; {len(outcomes)} placements of {len(PRODUCE)} items on {STAGINGS} stagings"
    )
    print(f"{'':<34}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}{'p50 frames':>12}")
    decided = [  # deciding frame published -> scan heard: the node's work, queueing included
        (o.scan.received - camera.sent[o.scan.json()["frame_id"]]) * 1000
        for o in scanned
        if o.scan is not None and o.scan.json()["frame_id"] in camera.sent
    ]
    rows = {
        "placement -> scan": scan_ms,
        "placement -> first audio": audio_ms,
        "  of it: deciding frame -> scan": decided,
        "placement -> first sound (earcon)": [
            o.earcon_ms for o in outcomes.values() if o.earcon_ms is not None
        ],
        "placement -> question starts": [
            o.question_ms for o in outcomes.values() if o.question_ms is not None
        ],
        "placement -> record at the hub": [
            o.record_ms for o in outcomes.values() if o.record_ms is not None
        ],
        "swap -> first audio of the new name": swap_ms,
    }
    for label, values in rows.items():
        if values:
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            print(f"{label:<34}{len(values):>4}{p50:>9.0f}{p95:>9.0f}{p50 / frame_ms:>12.1f}")
        else:
            print(f"{label:<34}{0:>4}{'-':>9}{'-':>9}{'-':>12}")
    for label, target in (
        ("placement -> first audio", TARGET_P95_MS),
        ("placement -> first sound (earcon)", TARGET_EARCON_P95_MS),
        ("placement -> question starts", TARGET_QUESTION_P95_MS),
        ("swap -> first audio of the new name", TARGET_SWAP_P95_MS),
    ):
        if rows[label]:
            p95 = percentile(rows[label], 0.95)
            met = "met" if p95 <= target else "NOT met"
            print(f"target {label} p95 <= {target} ms {met}: p95 {p95:.0f} ms")
    print("baseline (same run):")
    for label, values in baseline.items():
        if values:
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            print(f"  {label:<38} median {p50:6.1f} ms  p95 {p95:6.1f} ms  (n={len(values)})")
    late = camera.late_ms[-len(timed) :]
    answered = len(baseline["classifier per frame (inference_ms)"])
    print(
        f"  camera: {len(timed)} frames sent, late by median {statistics.median(late):.1f} ms, "
        f"max {max(late):.1f} ms; classifier answered {answered}, "
        f"skipped {len(timed) - answered} (conflated)"
    )
    first_item = dict(PLACEMENT)["empty"]
    deciding = [frame_index(o.scan.json()["frame_id"]) - first_item for o in scanned if o.scan]
    if deciding:
        print(
            f"deciding frame: median {statistics.median(deciding):.0f} frames after the first "
            f"item frame, range {min(deciding)}-{max(deciding)} "
            f"(the item enters over {dict(PLACEMENT)['entering']} frames, then rests)"
        )
        spread = ", ".join(f"{k}: {deciding.count(k)}" for k in sorted(set(deciding)))
        print(f"  placements by deciding frame: {spread}")
    missing = [n for n, o in outcomes.items() if o.scan is None]
    print(f"not announced: {len(missing)} of {len(outcomes)}")
    for n in missing:
        print(f"  #{n} {outcomes[n].label} on {outcomes[n].counter}: {seen_as(bus, n)}")
    if missing:
        print("  (no scan: the decision stayed unsure of the item; see 'not sure' prompts)")
    for n, o in outcomes.items():
        if o.scan is not None and o.scan.json()["label"] != o.label:
            print(f"wrong label: #{n} {o.label} announced as {o.scan.json()['label']}")
    no_audio = sum(1 for o in scanned if o.audio_ms is None)
    extra = sum(o.extra_scans for o in outcomes.values())
    ids = {o.scan.json()["scan_id"] for o in scanned if o.scan is not None}
    misses = [
        h for h in bus.matching(TOPICS.spoken)
        if h.json().get("scan_id") in ids and not h.json()["cache_hit"]
    ]  # fmt: skip
    for count, what in (
        (no_audio, "scanned but no audio heard"),
        (extra, "extra scans within a placement"),
        (prompts, "'not sure' prompts during the timed placements"),
        (len(misses), "timed announcements that missed the audio cache"),
    ):
        if count:
            print(f"{what}: {count}")


def report_scale(outcomes: dict[int, Outcome]) -> None:
    """The same placements from the camera alone and with the scale, side by side."""
    catalog = Catalog.load(DEFAULT_MODEL_DIR / "catalog.csv")
    by_weight = {o.label for o in outcomes.values() if catalog.get(o.label).unit == Unit.KG}
    print(
        f"with and without the scale (interleaved, the scale settling in {SETTLE_FRAMES} frames, "
        f"{SETTLE_FRAMES * 1000 / FPS:.0f} ms); sold by weight: {', '.join(sorted(by_weight))}"
    )
    print(f"{'':<54}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for scale in (False, True):
        mode = "with scale" if scale else "camera only"
        placed = [o for o in outcomes.values() if o.scale is scale]
        heard = [(o, o.audio_ms) for o in placed if o.audio_ms is not None]
        rows = {
            "placement -> first audio, by weight": [ms for o, ms in heard if o.label in by_weight],
            "placement -> first audio, by the piece": [
                ms for o, ms in heard if o.label not in by_weight
            ],
        }
        if scale:
            rows["stable weight -> first audio, by weight"] = [
                ms - (o.weighed - o.t0) * 1000 for o, ms in heard if o.label in by_weight
            ]
        for label, values in rows.items():
            if values:
                p50, p95 = statistics.median(values), percentile(values, 0.95)
                p99 = percentile(values, 0.99)
                print(f"{mode + ': ' + label:<54}{len(values):>4}{p50:>9.0f}{p95:>9.0f}{p99:>9.0f}")
        scans = [o.scan.json() for o in placed if o.scan is not None]
        weighed = sum(1 for scan in scans if scan.get("weight_kg") is not None)
        print(f"  {mode}: {len(scans)} of {len(placed)} announced, {weighed} with a weight")


def frame_index(frame_id: str) -> int:
    return int(frame_id.rsplit("-f", 1)[1])


def seen_as(bus: Bus, placement_no: int) -> str:
    """What the classifier made of a placement's resting frames: its usual best label."""
    first = dict(PLACEMENT)["empty"] + dict(PLACEMENT)["entering"]
    last = first + dict(PLACEMENT)["resting"]
    tops = [
        h.json()["top"][0]
        for h in bus.matching(TOPICS.prediction)
        if h.json()["frame_id"].startswith(f"p{placement_no}-f")
        and first <= frame_index(h.json()["frame_id"]) < last
        and h.json()["top"]
    ]
    if not tops:
        return "no predictions of its resting frames"
    labels = [t["label"] for t in tops]
    best = max(set(labels), key=labels.count)
    confidence = statistics.median(t["confidence"] for t in tops if t["label"] == best)
    return (
        f"best label of its resting frames {best} ({labels.count(best)} of {len(tops)}, "
        f"median confidence {confidence:.2f})"
    )


if __name__ == "__main__":
    main()
