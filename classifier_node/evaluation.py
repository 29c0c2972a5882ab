"""`scantalk model eval`: how the lane does, placement by placement, on scenes it never saw.

Each placement is a sequence of camera frames (`scantalk.scene.placement`: the empty counter,
the item sliding in, resting, gone), composed from a real photo with one of the test stagings
(other counters and lights, scale, rotation, position, a hand over the item, JPEG), and fed
frame by frame through the lane's own `Model.read` and `ScanDecider`. What `scenes.csv` lists:

- `known`: photos of the model's labels; the right outcome is that label, announced once;
- `taught`: produce the model does not know; with `--taught` each is first taught from
  *teaching* stagings (plain counters, upright), then judged on the *test* stagings; without,
  it is unknown produce;
- `unknown`: produce that is neither: "not sure" or silence, never a name;
- `other`, `empty`: non-produce and the empty counter: nothing at all.

No photo here trains, calibrates or tunes a built-in label (the int8 calibration keeps off
them, `photos()`), and taught items never see a test staging.
"""

from __future__ import annotations

import csv
import dataclasses
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from classifier_node.decision import UNSURE_PROMPT, ScanDecider, Thresholds
from classifier_node.model import Model
from classifier_node.teaching import teach
from scantalk.catalog import Product, tidy
from scantalk.latency import summary
from scantalk.scene import (
    IMAGE_SUFFIXES,
    PLACEMENT,
    TUXPAINT_STAMPS,
    Stage,
    cutout,
    empty_scene,
    photo_frame,
    placement,
)
from scantalk.scene import stagings as staged

SCENES = Path(__file__).with_name("scenes.csv")
TEST_STAGINGS, TEACHING_PHOTOS = 6, 10
SEED = 2026
SILENT, UNSURE, WRONG = "silent", "not sure", "wrong"
NOTHING = "nothing"
ENTERING = PLACEMENT[0][1]
"""Index of the first frame that shows the item."""


def rows() -> list[dict[str, str]]:
    """`role`, `label` and `photo` (relative to TUXPAINT_STAMPS; empty: the bare counter)."""
    with SCENES.open(newline="") as f:
        return list(csv.DictReader(f))


def photos() -> set[Path]:
    """Every photo the evaluation uses, so nothing else (calibration) trains on it."""
    return {TUXPAINT_STAMPS / row["photo"] for row in rows() if row["photo"]}


@dataclasses.dataclass
class Outcome:
    role: str
    truth: str
    said: list[str]
    """Labels announced during the placement, in order, and `not sure` for the prompt."""
    frames_to_scan: int | None
    """Frames from the item's first appearance to its (first) announcement."""

    @property
    def verdict(self) -> str:
        """The placement in one word: the label announced, `not sure`, `silent`, or `wrong`
        when it announced more than one thing."""
        items = [s for s in self.said if s != UNSURE]
        if len(items) > 1:
            return WRONG
        if items:
            return items[0]
        return UNSURE if self.said else SILENT


def run_placement(model: Model, thresholds: Thresholds, frames: Iterable[bytes]) -> tuple:
    """Feed one placement's frames through the lane's decision: (what was said, frames to the
    first scan, per-frame ms)."""
    decider = ScanDecider(thresholds)
    said: list[str] = []
    first: int | None = None
    latencies = []
    for i, jpeg in enumerate(frames):
        started = time.perf_counter()
        reading = model.read(model.decode(jpeg))
        latencies.append((time.perf_counter() - started) * 1000)
        verdict = decider.observe(reading)
        if verdict is UNSURE_PROMPT:
            said.append(UNSURE)
        elif verdict:
            said.append(verdict.label)
            if first is None:
                first = i - ENTERING + 1
    return said, first, latencies


def teach_items(model: Model, items: list[dict[str, str]]) -> float:
    """Teach each `taught` item from teaching stagings; returns seconds per item."""
    started = time.perf_counter()
    for row in items:
        item = cutout(TUXPAINT_STAMPS / row["photo"])
        shots = [
            model.decode(Stage(staging, seed=i).frame(item))
            for i, staging in enumerate(staged("teaching", TEACHING_PHOTOS, seed=SEED))
        ]
        teach(model, Product(row["label"]), shots)
    return (time.perf_counter() - started) / max(len(items), 1)


def evaluate(
    model: Model, thresholds: Thresholds, *, taught: bool = False, stagings: int = TEST_STAGINGS
) -> dict:
    """Every row of `scenes.csv`, each in `stagings` test stagings."""
    table = rows()
    with tempfile.TemporaryDirectory() as data_dir:
        lane = Model(
            model.model_dir, threads=_threads(model), data_dir=Path(data_dir), hints=model.hints
        )
        teach_s = teach_items(lane, [r for r in table if r["role"] == "taught"]) if taught else None
        outcomes, latencies = [], []
        stages = [
            Stage(staging, seed=SEED + k)
            for k, staging in enumerate(staged("testing", stagings, seed=SEED + 1))
        ]
        for row in table:
            role = row["role"]
            if role == "taught" and not taught:
                role = "unknown"
            item = cutout(TUXPAINT_STAMPS / row["photo"]) if row["photo"] else None
            for stage in stages:
                frames = (jpeg for _, jpeg in placement(stage, item))
                said, first, ms = run_placement(lane, thresholds, frames)
                latencies += ms
                truth = row["label"] if role in ("known", "taught") else NOTHING
                outcomes.append(Outcome(role, truth, said, first))
    return _summarise(model, thresholds, outcomes, latencies, teach_s)


def evaluate_photos(model: Model, images_dir: Path, thresholds: Thresholds) -> dict:
    """Your own labelled photos (one folder per label, `nothing/` for non-items), each shown
    as a still placement on the plain counter."""
    outcomes, latencies = [], []
    for folder in sorted(p for p in images_dir.iterdir() if p.is_dir()):
        truth = folder.name
        if truth != NOTHING and truth not in model.labels:
            raise ValueError(
                f"{folder}: {truth!r} is not one of the model's labels nor {NOTHING!r}"
            )
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            jpeg = _jpeg(photo_frame(path))
            frames = [_jpeg(empty_scene())] * ENTERING + [jpeg] * thresholds.settle_frames
            said, first, ms = run_placement(model, thresholds, frames)
            latencies += ms
            outcomes.append(Outcome("known" if truth != NOTHING else "other", truth, said, first))
    return _summarise(model, thresholds, outcomes, latencies, None)


def _jpeg(rgb: np.ndarray) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


def _threads(model: Model) -> int:
    return model.session.get_session_options().intra_op_num_threads or 2


def _summarise(
    model: Model, thresholds: Thresholds, outcomes: list[Outcome], latencies: list[float],
    teach_s: float | None,
) -> dict:  # fmt: skip
    def share(selected: list[Outcome], good: Callable[[Outcome], bool]) -> float:
        return round(sum(1 for o in selected if good(o)) / len(selected), 4) if selected else 0.0

    items = [o for o in outcomes if o.role in ("known", "taught")]
    per_class: dict[str, dict] = {}
    for truth in sorted({o.truth for o in items}):
        mine = [o for o in items if o.truth == truth]
        correct = sum(o.verdict == truth for o in mine)
        per_class[truth] = {
            "role": mine[0].role,
            "placements": len(mine),
            "correct": correct,
            "accuracy": round(correct / len(mine), 4),
        }
    columns = sorted({o.verdict for o in outcomes} - {SILENT, UNSURE, WRONG, NOTHING})
    columns += [UNSURE, SILENT, WRONG]
    confusion = Counter(
        (o.truth if o.role in ("known", "taught") else o.role, o.verdict) for o in outcomes
    )
    row_names = [*per_class, "unknown", "other", "empty"]
    unknown = [o for o in outcomes if o.role == "unknown"]
    nothing = [o for o in outcomes if o.role in ("other", "empty")]
    scan_frames = [o.frames_to_scan for o in items if o.verdict == o.truth and o.frames_to_scan]
    return {
        "model": model.name,
        "placements": len(outcomes),
        "known": share([o for o in items if o.role == "known"], lambda o: o.verdict == o.truth),
        "taught": share([o for o in items if o.role == "taught"], lambda o: o.verdict == o.truth),
        "wrong_names": sum(1 for o in items if o.verdict not in (o.truth, UNSURE, SILENT)),
        "repeated": sum(1 for o in items if o.said.count(o.truth) > 1),
        "unknown_announced": share(unknown, lambda o: o.verdict not in (UNSURE, SILENT)),
        "unknown_unsure": share(unknown, lambda o: o.verdict == UNSURE),
        "nothing_announced": sum(1 for o in nothing if o.verdict not in (UNSURE, SILENT)),
        "nothing_unsure": sum(1 for o in nothing if o.verdict == UNSURE),
        "frames_to_scan": summary([float(n) for n in scan_frames]) if scan_frames else None,
        "teach_s_per_item": round(teach_s, 2) if teach_s is not None else None,
        "per_class": per_class,
        "confusion": {
            "columns": columns,
            "rows": {
                r: [confusion[r, c] for c in columns]
                for r in row_names
                if any(confusion[r, c] for c in columns)
            },
        },
        "latency_ms": summary(latencies),
        "thresholds": dataclasses.asdict(thresholds),
    }


def report(result: dict) -> str:
    """The evaluation as text for a person."""
    fts = result["frames_to_scan"]
    lines = [
        f"model {result['model']}: {result['placements']} placements on composed scenes",
        f"known items announced correctly: {result['known']:.1%}"
        + (f"; taught items: {result['taught']:.1%}" if result["teach_s_per_item"] else ""),
        f"wrong names: {result['wrong_names']}; announced twice: {result['repeated']}",
        f"unknown produce announced as anything: {result['unknown_announced']:.1%} "
        f"(not sure: {result['unknown_unsure']:.1%})",
        f"empty counter and non-produce announced: {result['nothing_announced']} "
        f"(not sure: {result['nothing_unsure']})",
        f"frames from first sight to scan: median {fts['median']}, p95 {fts['p95']}" if fts else "",
        f"per frame (decode, preprocess, infer): median {result['latency_ms']['median']} ms, "
        f"p99 {result['latency_ms']['p99']} ms",
    ]
    if result["teach_s_per_item"] is not None:
        lines.append(
            f"teaching: {result['teach_s_per_item']} s per item of {TEACHING_PHOTOS} photos"
        )
    lines += ["", f"{'item':<18}{'role':>8}{'placed':>8}{'correct':>9}{'accuracy':>10}"]
    for name, row in result["per_class"].items():
        lines.append(
            f"{tidy(name):<18}{row['role']:>8}{row['placements']:>8}{row['correct']:>9}"
            f"{row['accuracy']:>10.0%}"
        )
    columns = result["confusion"]["columns"]
    width = max(len(r) for r in result["confusion"]["rows"]) + 1
    lines += [
        "",
        "confusion (rows: what was placed; columns: what the lane said)",
        " " * width + "".join(f"{i:>4}" for i in range(len(columns))),
    ]
    for name, counts in result["confusion"]["rows"].items():
        lines.append(f"{name:<{width}}" + "".join(f"{n or '.':>4}" for n in counts))
    lines.append("columns: " + ", ".join(f"{i} {label}" for i, label in enumerate(columns)))
    return "\n".join(line for line in lines if line is not None)
