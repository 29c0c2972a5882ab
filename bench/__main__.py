"""One report of what the lane costs, against the 2019 pattern measured in the same run.

    .venv/bin/python -m bench [--quick] [--out bench-report]

Writes `report.md` (plots in `plots/`) and `report.html` (self-contained) into `--out`. Every
figure comes from this run, on this machine: the lane on real parts (Mosquitto, the classifier
on onnxruntime, espeak-ng, the bridge and the IoT Hub stand-in over TLS), the 2019 pattern
(`bench.pattern2019`) on the same placements, interleaved with the lane, the lane's cost
choices before and after (`bench.choices`), and the scale measures (`bench.scaling`).
`--quick` runs a short version of every part (CI runs it, so the report cannot rot; it asserts
no timing). The full run takes about 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import onnxruntime as ort

from bench import broker as broker_bench
from bench import choices, latency, pattern2019, report, scaling, stack
from bench.report import Section, Table, ratio, spread
from classifier_node.settings import ClassifierSettings
from scantalk.commands.broker import Broker, free_port
from scantalk.latency import percentile
from scantalk.scene import PLACEMENT, TUXPAINT_FOOD, empty_scene, photo_frame
from scantalk.settings import BUILT_IN_MODELS

INT8_DIR = BUILT_IN_MODELS / "produce-int8"
JPEG_QUALITY = 85
"""The camera's default."""


@dataclass(frozen=True)
class Plan:
    """How much of each part to run."""

    placements: int
    """Timed placements of the latency part."""
    rounds: int
    """Rounds of the lane and the 2019 pattern, interleaved."""
    window_s: float
    """The lane's measuring window per round (a placement every 6 s)."""
    still_s: float
    int8: bool
    warm_s: float
    """After the lane is up, before measuring: the model loaded, caches filled."""
    frames: int
    """Frames per case of the cost choices."""
    swaps: int
    """Timed swaps of one item for another, no empty counter between."""

    @property
    def pattern_placements(self) -> int:
        return round(self.window_s / (stack.DWELL_S + stack.GAP_S))


FULL = Plan(
    placements=24, rounds=2, window_s=60, still_s=60, int8=True, warm_s=8, frames=150, swaps=12
)
QUICK = Plan(
    placements=2, rounds=1, window_s=4, still_s=3, int8=False, warm_s=2, frames=15, swaps=1
)


def machine() -> Section:
    section = Section("The machine")
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines()
                  if ln.startswith("model name")), platform.processor())  # fmt: skip
    flags = next((ln.split(":", 1)[1].split() for ln in cpuinfo.splitlines()
                  if ln.startswith(("flags", "Features"))), [])  # fmt: skip
    shown = [
        f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "asimd") if f in flags
    ]
    mosquitto = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True, check=False)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    rows: list[list[report.Cell]] = [
        ["CPU", model],
        ["flags that matter to inference", " ".join(shown) or "none of avx2, avx512, vnni"],
        ["cores", str(len(os.sched_getaffinity(0)))],
        ["Python", platform.python_version()],
        [
            "onnxruntime",
            f"{ort.__version__}, {ClassifierSettings().inference_threads} intra-op "
            "threads, spinning off",
        ],
        ["OpenCV", cv2.__version__],
        ["Mosquitto", (mosquitto.stdout or mosquitto.stderr).splitlines()[0]],
        ["commit", commit or "-"],
        ["date", time.strftime("%Y-%m-%d %H:%M %Z")],
    ]
    section.tables.append(Table(["", ""], rows))
    return section


def latency_section(plan: Plan) -> tuple[Section, dict[str, float | None]]:
    lane = latency.run(plan.placements, hub=True, swaps=plan.swaps)
    outcomes = [o for o in lane.outcomes.values() if not o.swapped_in]
    swapped = [o.audio_ms for o in lane.outcomes.values() if o.swapped_in and o.audio_ms]

    def ms(field: str) -> list[float]:
        return [v for o in outcomes if (v := getattr(o, field)) is not None]

    rows = {
        "placement -> first sound (earcon)": ms("earcon_ms"),
        "placement -> scan": ms("scan_ms"),
        "placement -> first audio of the name": ms("audio_ms"),
        "placement -> question starts": ms("question_ms"),
        "placement -> record at the IoT Hub stand-in": ms("record_ms"),
        "swap -> first audio of the new name": swapped,
    }
    inference = lane.baseline["classifier per frame (inference_ms)"]
    stable_frames = ClassifierSettings().stable_frames
    frame_ms = 1000 / latency.FPS
    # The floor: the decision's `stable_frames` frames at the camera's rate (the first frame
    # shows the item only entering), the classifier's own work on the last, the voice starting
    # a cached name, and one hop of the bus; each measured in this run.
    parts = {
        f"{stable_frames} frames at {latency.FPS} fps": stable_frames * frame_ms,
        "classifier per frame (median)": statistics.median(inference) if inference else 0.0,
        "voice, request -> first audio, cached (median)": (
            statistics.median(lane.spoken_hit_ms) if lane.spoken_hit_ms else 0.0
        ),
        "bus round trip (median)": statistics.median(
            lane.baseline["bus round trip (publish -> heard)"]
        ),
    }
    floor = sum(parts.values())
    section = Section("Latency per placement")
    announced = len(rows["placement -> scan"])
    section.say(
        f"A scripted camera at {latency.FPS} fps places {len(outcomes)} times "
        f"{len({o.label for o in outcomes})} known items "
        f"on {latency.STAGINGS} test stagings (each placement: 3 empty frames, the item entering "
        "over 2, resting 10, then empty), on a real broker, classifier, voice (espeak-ng, its "
        "cache warmed first) and bridge sending records to the IoT Hub stand-in (the "
        "`azure-iot-device` SDK over TLS to a local Mosquitto). From the first frame showing "
        f"the item. {announced} of {len(outcomes)} placements were announced; "
        f"{lane.prompts} 'not sure' prompts."
    )
    section.tables.append(
        Table(["", "n", "p50 ms", "p95 ms", "p99 ms"], [[k, *spread(v)] for k, v in rows.items()])
    )
    floor_rows: list[list[report.Cell]] = [[k, v] for k, v in parts.items()]
    section.tables.append(
        Table(
            ["the floor, measured in this run", "ms"],
            [*floor_rows, ["floor", floor]],
            "What no lane can beat: the decision's frames, the classifier's work, the voice "
            "starting, one bus hop.",
        )
    )
    first_item = dict(PLACEMENT)["empty"]
    deciding = [
        latency.frame_index(o.scan.json()["frame_id"]) - first_item for o in outcomes if o.scan
    ]
    if deciding:
        spread_of = ", ".join(f"frame {k}: {deciding.count(k)}" for k in sorted(set(deciding)))
        section.say(
            "The frame each scan was decided on, counted from the first item frame (0): "
            f"{spread_of}. A clear item is decided as soon as it has its {stable_frames} "
            "frames; an ambiguous one waits for more evidence, which is what the p95 shows."
        )
    audio = rows["placement -> first audio of the name"]
    p95 = percentile(audio, 0.95) if audio else None
    if p95:
        section.say(
            f"Placement -> first audio of an announced name, p95 **{p95:.0f} ms = "
            f"{p95 / floor:.2f}x the floor** ({floor:.0f} ms)."
        )
    section.plots.append(
        report.cdf(
            "latency-cdf",
            {k.removeprefix("placement -> "): v for k, v in rows.items()},
            "ms after the first frame showing the item",
            "Latency per placement, cumulative",
        )
    )
    swaps = sum(o.swapped_in for o in lane.outcomes.values())
    if swapped:
        section.say(
            f"Then swaps, an item replaced by another from one frame to the next with no "
            f"empty counter between: the new name was heard in {len(swapped)} of {swaps}. "
            f"Swap -> first audio of the new name, p95 **{percentile(swapped, 0.95):.0f} ms** "
            f"(target {latency.TARGET_SWAP_P95_MS} ms)."
        )
    figures = {"p95_ms": p95, "floor_ms": floor}
    return section, figures


def pattern_frames(placements: int) -> list[latency.Frame]:
    """The demo's photos as the 2019 pattern sees them: each item `DWELL_S`, then the empty
    counter `GAP_S`, at the lane's rate, JPEG as the camera encodes."""
    from camera_node.sources import DEMO_ITEMS

    def jpeg(rgb: object) -> bytes:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)  # type: ignore[call-overload]
        return bytes(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1])

    empty = jpeg(empty_scene((640, 480)))
    item_frames, gap_frames = round(stack.DWELL_S * stack.FPS), round(stack.GAP_S * stack.FPS)
    frames = []
    for n in range(placements):
        item = jpeg(photo_frame(TUXPAINT_FOOD / DEMO_ITEMS[n % len(DEMO_ITEMS)]))
        for i in range(item_frames):
            frames.append(latency.Frame(n, i, "entering" if i == 0 else "resting", item))
        for i in range(gap_frames):
            frames.append(latency.Frame(n, item_frames + i, "empty", empty))
    return frames


def compare(plan: Plan) -> tuple[list[Section], dict[str, float | None]]:
    """The lane and the 2019 pattern, interleaved, then both at a still counter, then the lane
    with the int8 model; and the broker's throughput."""
    lanes: list[stack.StackRun] = []
    patterns: list[pattern2019.PatternRun] = []
    frames = pattern_frames(plan.pattern_placements)
    with tempfile.TemporaryDirectory() as tmp, Broker(free_port(), Path(tmp)) as broker:
        for k in range(plan.rounds):
            if k % 2 == 0:  # each first in turn
                lanes.append(stack.run(plan.window_s, warm_s=plan.warm_s))
                patterns.append(pattern2019.run(frames, stack.FPS, broker.port, Path(tmp)))
            else:
                patterns.append(pattern2019.run(frames, stack.FPS, broker.port, Path(tmp)))
                lanes.append(stack.run(plan.window_s, warm_s=plan.warm_s))
        still_pattern = pattern2019.still(plan.still_s, stack.FPS, broker.port, Path(tmp))
    still_lane = stack.run(plan.still_s, still=True, warm_s=plan.warm_s)
    int8 = stack.run(plan.window_s, model_dir=INT8_DIR, warm_s=plan.warm_s) if plan.int8 else None

    def lane_sum(get: str) -> float:
        return sum(getattr(r, get) for r in lanes)

    lane_cpu = lane_sum("cpu_total") / lane_sum("placements")
    lane_frames = lane_sum("frames") / lane_sum("placements")
    lane_ms = statistics.median([ms for r in lanes for ms in r.inference_ms])
    lane_rss = max(r.rss_total for r in lanes)
    pattern_cpu = sum(sum(p.cpu_s.values()) for p in patterns) / sum(p.placements for p in patterns)
    pattern_frames_per = sum(p.frames_classified for p in patterns) / sum(
        p.placements for p in patterns
    )
    pattern_ms = statistics.median([ms for p in patterns for ms in p.wall_ms])
    pattern_rss = max(sum(p.peak_rss_mb.values()) for p in patterns)
    still_lane_min = still_lane.cpu_total * 60 / still_lane.seconds
    still_pattern_min = sum(still_pattern.cpu_s.values()) * 60 / still_pattern.seconds
    int8_rss = int8.rss_total if int8 else None

    against = Section("ScanTalk against the 2019 pattern, same machine, same run")
    against.say(
        f"{plan.rounds} round(s), interleaved: the lane as `scantalk up` runs it (camera node on "
        f"the demo photos, each item {stack.DWELL_S:.0f} s then the empty counter "
        f"{stack.GAP_S:.0f} s, at {stack.FPS} fps; {plan.window_s:.0f} s measured per round), "
        f"and the 2019 pattern on the same photos at the same pace ({plan.pattern_placements} "
        "placements per round): a new `InferenceSession` per frame, every frame POSTed to a "
        "werkzeug endpoint on loopback, a blocking espeak-ng and playback on each label change, "
        "one broker message per prediction, no motion gate. CPU is user + system from /proc "
        "for every process of each, the broker included."
    )
    against.tables.append(
        Table(
            ["measure", "ScanTalk", "2019 pattern", "ratio"],
            [
                [
                    "wall ms per frame classified (median)",
                    lane_ms,
                    pattern_ms,
                    ratio(pattern_ms, lane_ms),
                ],
                [
                    "CPU s per placement, whole stack",
                    lane_cpu,
                    pattern_cpu,
                    ratio(pattern_cpu, lane_cpu),
                ],
                [
                    "frames classified per placement",
                    lane_frames,
                    pattern_frames_per,
                    ratio(pattern_frames_per, lane_frames),
                ],
                [
                    "peak RSS of the stack, MB (fp32)",
                    lane_rss,
                    pattern_rss,
                    ratio(pattern_rss, lane_rss),
                ],
                [
                    "still counter, CPU s per minute",
                    still_lane_min,
                    still_pattern_min,
                    ratio(still_pattern_min, still_lane_min),
                ],
            ],
        )
    )
    against.say(
        "ScanTalk's per-frame time is the classifier's own (`inference_ms`: decode, "
        "preprocessing, inference); the pattern's is the camera's wall time from taking the "
        "frame to the prediction back (HTTP, new session, inference). What the pattern leaves "
        "out: a camera driver, IoT Hub's SDK and TLS (an MQTT publish stands in), Flask itself "
        "(werkzeug, which Flask is built on), real audio output; it speaks while the lane's "
        "voice is a process of its own, so its frames skip while it talks."
    )
    against.plots.append(
        report.bars(
            "cpu-per-placement",
            {"ScanTalk": lane_cpu, "2019 pattern": pattern_cpu},
            "CPU s per placement",
            "CPU seconds per placement, whole stack",
        )
    )

    cost = Section("Cost at rest and under work")
    names = stack.PROCESSES
    rows: list[list[report.Cell]] = []
    for name in names:
        rows.append(
            [
                name,
                still_lane.cpu_s[name] * 60 / still_lane.seconds,
                statistics.mean(r.cpu_s[name] * 60 / r.seconds for r in lanes),
                max(r.peak_rss_mb[name] for r in lanes),
                int8.peak_rss_mb[name] if int8 else None,
            ]
        )
    rows.append(
        ["whole stack", still_lane_min,
         statistics.mean(r.cpu_total * 60 / r.seconds for r in lanes), lane_rss, int8_rss]
    )  # fmt: skip
    cost.say(
        "Per process of `scantalk up`: CPU seconds per minute with a still, empty counter "
        f"({plan.still_s:.0f} s) and while scanning the demo at {stack.FPS} fps; peak RSS while "
        "scanning, with the default fp32 model and with the int8 one "
        f"({'measured' if int8 else 'not run with --quick'})."
    )
    cost.tables.append(
        Table(
            [
                "process",
                "CPU s/min still",
                f"CPU s/min at {stack.FPS} fps",
                "RSS MB fp32",
                "RSS MB int8",
            ],
            rows,
        )
    )
    cost.plots.append(
        report.bars(
            "cpu-per-node",
            {n: statistics.mean(r.cpu_s[n] * 60 / r.seconds for r in lanes) for n in names},
            "CPU s per minute",
            f"CPU per process while scanning at {stack.FPS} fps",
        )
    )
    scans = 50 if plan is QUICK else 300
    throughput: list[list[report.Cell]] = [
        [
            f"bridge {'up' if up else 'down'}, {name}",
            broker_bench.run(broker_bench.SETTINGS["now (every 100 changes)"], up, send, scans),
        ]
        for up in (True, False)
        for name, send in (("one by one", broker_bench.one_by_one), ("burst", broker_bench.burst))
    ]
    cost.tables.append(
        Table(
            ["queued scans, QoS 1, persistent session", "scans/s"],
            throughput,
            f"Broker throughput with the persistence in force (`autosave_on_changes`, every 100 "
            f"changes), {scans} scans (`bench.broker`).",
        )
    )
    figures = {
        "frame_ratio": pattern_ms / lane_ms,
        "cpu_ratio": pattern_cpu / lane_cpu,
        "frames_per_placement": lane_frames,
        "rss_fp32": lane_rss,
        "rss_int8": int8_rss,
        "rss_pattern": pattern_rss,
        "still_core_share": still_lane_min / 60,
    }
    return [against, cost], figures


def targets(figures: dict[str, float | None]) -> Section:
    def met(ok: bool | None) -> str:
        return "-" if ok is None else "**met**" if ok else "not met"

    def show(value: float | None, fmt: str) -> str:
        return "-" if value is None else fmt.format(value)

    f = figures
    p95, floor = f["p95_ms"], f["floor_ms"]
    rss8, rss_pattern = f["rss_int8"], f["rss_pattern"]
    rows: list[list[report.Cell]] = [
        ["placement -> first audio, announced, p95 at 15 fps", "<= 1.1x the floor",
         show(p95 / floor if p95 and floor else None, "{:.2f}x"),
         met(p95 / floor <= 1.1 if p95 and floor else None)],
        ["per-frame wall time vs the 2019 pattern", ">= 8x faster",
         show(f["frame_ratio"], "{:.1f}x"), met((f["frame_ratio"] or 0) >= 8)],
        ["CPU s per placement vs the 2019 pattern", ">= 20x less",
         show(f["cpu_ratio"], "{:.1f}x"), met((f["cpu_ratio"] or 0) >= 20)],
        ["frames classified per placement", "<= 6",
         show(f["frames_per_placement"], "{:.1f}"), met((f["frames_per_placement"] or 99) <= 6)],
        ["whole-stack RSS, int8", "< 250 MB and below the 2019 pattern's",
         show(rss8, "{:.0f} MB") + show(rss_pattern, " (pattern {:.0f} MB)"),
         met(rss8 < 250 and rss8 < rss_pattern if rss8 and rss_pattern else None)],
        ["whole-stack CPU, still counter", "<= 1 % of one core",
         show((f["still_core_share"] or 0) * 100, "{:.1f} %"),
         met((f["still_core_share"] or 1) <= 0.01)],
    ]  # fmt: skip
    section = Section("Where we stand")
    section.tables.append(Table(["measure", "target", "this run", ""], rows))
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run of every part")
    parser.add_argument("--out", type=Path, default=Path("bench-report"))
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    sections = [machine()]
    lat, figures = latency_section(plan)
    compared, more = compare(plan)
    figures |= more
    chosen = choices.section(args.quick, plan.frames)
    scale = scaling.section(args.quick)
    sections = [sections[0], targets(figures), lat, *compared, chosen, scale]
    minutes = (time.monotonic() - started) / 60
    sections[0].say(
        f"`.venv/bin/python -m bench{' --quick' if args.quick else ''}`, {minutes:.1f} min."
    )
    title = "ScanTalk benchmark" + (" (quick)" if args.quick else "")
    md, page = report.write(args.out, title, sections)
    print(md.read_text())
    print(f"\nwritten: {md}, {page}")


if __name__ == "__main__":
    main()
