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
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from classifier_node import learning
from classifier_node.decision import NEW_ITEM, UNSURE_PROMPT, Ask, ScanDecider, Thresholds
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
SILENT, UNSURE, WRONG, ASKED = "silent", "not sure", "wrong", "asked"
NOTHING = "nothing"
CAMERA_FPS = 15
"""The camera's default pace: frames to milliseconds."""
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
    said: list[str] = dataclasses.field(default_factory=list)
    """Labels announced during the placement, in order, and `not sure` for the prompt."""
    frames_to_scan: int | None = None
    """Frames from the item's first appearance to its (first) announcement."""
    asked: list[list[str]] = dataclasses.field(default_factory=list)
    """The candidates of each question asked."""
    frames_to_question: int | None = None
    chosen: str | None = None
    """What the simulated shopper chose: the truth when it was offered."""

    @property
    def stated(self) -> list[str]:
        """Labels stated as fact: announced, not chosen."""
        return [s for s in self.said if s != UNSURE]

    @property
    def verdict(self) -> str:
        """The placement in one word: the label it ended in (announced or chosen), `asked`
        (a question with no item chosen), `not sure`, `silent`, or `wrong` when it ended in more
        than one thing."""
        items = self.stated + ([self.chosen] if self.chosen else [])
        if len(items) > 1:
            return WRONG
        if items:
            return items[0]
        return ASKED if self.asked else UNSURE if self.said else SILENT


def run_placement(
    model: Model, thresholds: Thresholds, frames: Iterable[bytes], outcome: Outcome,
    *, learn: bool = False, latencies: list[float] | None = None,
) -> Outcome:  # fmt: skip
    """Feed one placement's frames through the lane's decision, a simulated shopper answering
    its questions truthfully (the truth when offered, else "none of these"); with `learn`, the
    lane learns from the answers as it does from a shopper's."""
    decider = ScanDecider(thresholds)
    for i, jpeg in enumerate(frames):
        started = time.perf_counter()
        reading = model.read(model.decode(jpeg))
        if latencies is not None:
            latencies.append((time.perf_counter() - started) * 1000)
        verdict = decider.observe(reading)
        if verdict is NEW_ITEM:  # the lane took the item for another one: judged afresh
            continue
        if isinstance(verdict, Ask):
            offered = [g.label for g in verdict.candidates]
            outcome.asked.append(offered)
            if outcome.frames_to_question is None:
                outcome.frames_to_question = i - ENTERING + 1
            if outcome.truth in offered:
                outcome.chosen = outcome.truth
                decider.chosen(outcome.truth)
                if learn:
                    learning.learn(model, outcome.truth, verdict, str(uuid.uuid4()))
        elif verdict is UNSURE_PROMPT:
            outcome.said.append(UNSURE)
        elif verdict:
            outcome.said.append(verdict.label)
            if outcome.frames_to_scan is None:
                outcome.frames_to_scan = i - ENTERING + 1
    return outcome


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
    model: Model, thresholds: Thresholds, *, taught: bool = False, stagings: int = TEST_STAGINGS,
    learn: bool = False, seed: int = SEED,
) -> dict:  # fmt: skip
    """Every row of `scenes.csv`, each in `stagings` test stagings. With `learn`, also the
    learning curve: the lane learns from the simulated shopper's answers on as many *learning*
    stagings (of their own seed), then the test stagings are run again."""
    table = rows()
    with tempfile.TemporaryDirectory() as data_dir:
        lane = Model(
            model.model_dir, threads=_threads(model), data_dir=Path(data_dir), hints=model.hints
        )
        teach_s = teach_items(lane, [r for r in table if r["role"] == "taught"]) if taught else None
        latencies: list[float] = []
        tests = _stages(stagings, seed)
        outcomes = _run(lane, thresholds, table, tests, taught, latencies=latencies)
        result = _summarise(model, thresholds, outcomes, latencies, teach_s)
        if learn:
            _run(lane, thresholds, table, _stages(stagings, seed + LEARNING), taught, learn=True)
            result["after_learning"] = _summarise(
                model, thresholds, _run(lane, thresholds, table, tests, taught), [], teach_s
            )
            result["after_learning"]["learned"] = learning.summary(lane)
    return result


LEARNING = 7919
"""Seed offset of the learning stagings: never the test stagings."""


def _stages(count: int, seed: int) -> list[Stage]:
    return [
        Stage(staging, seed=seed + k)
        for k, staging in enumerate(staged("testing", count, seed=seed + 1))
    ]


def _run(
    lane: Model, thresholds: Thresholds, table: list[dict[str, str]], stages: list[Stage],
    taught: bool, *, learn: bool = False, latencies: list[float] | None = None,
) -> list[Outcome]:  # fmt: skip
    outcomes = []
    for row in table:
        role = row["role"]
        if role == "taught" and not taught:
            role = "unknown"
        item = cutout(TUXPAINT_STAMPS / row["photo"]) if row["photo"] else None
        truth = row["label"] if role in ("known", "taught") else NOTHING
        for stage in stages:
            frames = (jpeg for _, jpeg in placement(stage, item))
            outcome = Outcome(role, truth)
            outcomes.append(
                run_placement(lane, thresholds, frames, outcome, learn=learn, latencies=latencies)
            )
    return outcomes


def evaluate_photos(model: Model, images_dir: Path, thresholds: Thresholds) -> dict:
    """Your own labelled photos (one folder per label, `nothing/` for non-items), each shown
    as a still placement on the plain counter."""
    outcomes: list[Outcome] = []
    latencies: list[float] = []
    for folder in sorted(p for p in images_dir.iterdir() if p.is_dir()):
        truth = folder.name
        if truth != NOTHING and truth not in model.labels:
            raise ValueError(
                f"{folder}: {truth!r} is not one of the model's labels nor {NOTHING!r}"
            )
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            jpeg = _jpeg(photo_frame(path))
            frames = [_jpeg(empty_scene())] * ENTERING + [jpeg] * thresholds.settle_frames
            outcome = Outcome("known" if truth != NOTHING else "other", truth)
            outcomes.append(run_placement(model, thresholds, frames, outcome, latencies=latencies))
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

    def ms(frames: list[int | None]) -> dict | None:
        taken = [n * 1000 / CAMERA_FPS for n in frames if n]
        return summary(taken) if taken else None

    items = [o for o in outcomes if o.role in ("known", "taught")]
    known = [o for o in items if o.role == "known"]
    per_class: dict[str, dict] = {}
    for truth in sorted({o.truth for o in items}):
        mine = [o for o in items if o.truth == truth]
        announced = sum(o.stated == [truth] for o in mine)
        chosen = sum(o.verdict == truth and o.chosen is not None for o in mine)
        per_class[truth] = {
            "role": mine[0].role,
            "placements": len(mine),
            "correct": announced,
            "accuracy": round(announced / len(mine), 4),
            "chosen": chosen,
        }
    columns = sorted({o.verdict for o in outcomes} - {SILENT, UNSURE, WRONG, NOTHING, ASKED})
    columns += [ASKED, UNSURE, SILENT, WRONG]
    confusion = Counter(
        (o.truth if o.role in ("known", "taught") else o.role, o.verdict) for o in outcomes
    )
    row_names = [*per_class, "unknown", "other", "empty"]
    unknown = [o for o in outcomes if o.role == "unknown"]
    nothing = [o for o in outcomes if o.role in ("other", "empty")]
    announced_right = [o for o in items if o.stated == [o.truth]]
    chosen_right = [o for o in items if o.verdict == o.truth and o.chosen is not None]
    return {
        "model": model.name,
        "placements": len(outcomes),
        "known": share(known, lambda o: o.stated == [o.truth]),
        "known_resolved": share(known, lambda o: o.verdict == o.truth),
        "known_asked": share(known, lambda o: bool(o.asked)),
        "taught": share([o for o in items if o.role == "taught"], lambda o: o.stated == [o.truth]),
        "wrong_names": sum(1 for o in items if any(s != o.truth for s in o.stated)),
        "repeated": sum(1 for o in items if o.said.count(o.truth) > 1),
        "unknown_announced": share(unknown, lambda o: bool(o.stated)),
        "unknown_asked": share(unknown, lambda o: bool(o.asked)),
        "unknown_unsure": share(unknown, lambda o: o.verdict == UNSURE),
        "nothing_announced": sum(1 for o in nothing if o.stated),
        "nothing_asked": sum(1 for o in nothing if o.asked),
        "nothing_unsure": sum(1 for o in nothing if o.verdict == UNSURE),
        "questions": sum(1 for o in outcomes if o.asked),
        "frames_to_scan": (
            summary([float(o.frames_to_scan) for o in announced_right if o.frames_to_scan])
            if any(o.frames_to_scan for o in announced_right) else None
        ),
        "ms_to_scan": {
            "announced": ms([o.frames_to_scan for o in announced_right]),
            "chosen_question": ms([o.frames_to_question for o in chosen_right]),
        },
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
        "latency_ms": summary(latencies) if latencies else None,
        "thresholds": dataclasses.asdict(thresholds),
    }  # fmt: skip


def _measures(result: dict) -> list[str]:
    fts, times = result["frames_to_scan"], result["ms_to_scan"]
    lines = [
        f"known items ending in the right item: {result['known_resolved']:.1%} "
        f"(announced: {result['known']:.1%}; asked about: {result['known_asked']:.1%})"
        + (f"; taught announced: {result['taught']:.1%}" if result["teach_s_per_item"] else ""),
        f"wrong items stated as fact: {result['wrong_names']}; announced twice: "
        f"{result['repeated']}; placements with a question: {result['questions']}",
        f"unknown produce stated as fact: {result['unknown_announced']:.1%}; asked about: "
        f"{result['unknown_asked']:.1%}; not sure: {result['unknown_unsure']:.1%}",
        f"empty counter and non-produce stated as fact: {result['nothing_announced']}; asked "
        f"about: {result['nothing_asked']}; not sure: {result['nothing_unsure']}",
    ]
    if fts:
        lines.append(f"frames from first sight to scan: median {fts['median']}, p95 {fts['p95']}")
    for what, name in (("announced", "announced"), ("chosen_question", "question (chosen)")):
        if t := times[what]:
            lines.append(
                f"first sight to {name}, at {CAMERA_FPS} fps: p50 {t['median']:.0f} ms, "
                f"p95 {t['p95']:.0f} ms"
            )
    return lines


def report(result: dict) -> str:
    """The evaluation as text for a person."""
    lines = [f"model {result['model']}: {result['placements']} placements on composed scenes"]
    lines += _measures(result)
    if result["latency_ms"]:
        lines.append(
            f"per frame (decode, preprocess, infer): median {result['latency_ms']['median']} ms, "
            f"p99 {result['latency_ms']['p99']} ms"
        )
    if result["teach_s_per_item"] is not None:
        lines.append(
            f"teaching: {result['teach_s_per_item']} s per item of {TEACHING_PHOTOS} photos"
        )
    if after := result.get("after_learning"):
        learned = after["learned"]
        lines += [
            "",
            "after learning from the shopper's answers on as many other stagings "
            f"({sum(r['enrolled'] for r in learned)} items enrolled, "
            f"{sum(r['held_for_staff'] for r in learned)} answers held for staff):",
            *_measures(after),
        ]
    header = f"{'item':<18}{'role':>8}{'placed':>8}{'correct':>9}{'accuracy':>10}{'chosen':>8}"
    lines += ["", header]
    for name, row in result["per_class"].items():
        lines.append(
            f"{tidy(name):<18}{row['role']:>8}{row['placements']:>8}{row['correct']:>9}"
            f"{row['accuracy']:>10.0%}{row['chosen']:>8}"
        )
    columns = result["confusion"]["columns"]
    width = max(len(r) for r in result["confusion"]["rows"]) + 1
    lines += [
        "",
        "confusion (rows: what was placed; columns: what the placement ended in)",
        " " * width + "".join(f"{i:>4}" for i in range(len(columns))),
    ]
    for name, counts in result["confusion"]["rows"].items():
        lines.append(f"{name:<{width}}" + "".join(f"{n or '.':>4}" for n in counts))
    lines.append("columns: " + ", ".join(f"{i} {label}" for i, label in enumerate(columns)))
    return "\n".join(line for line in lines if line is not None)
