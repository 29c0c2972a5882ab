"""Wrong "empty" and "present" decisions, with and without the produce scale.

    .venv/bin/python -m bench.weighing [--stagings 4]

Every scene of the evaluation (`classifier_node/scenes.csv`: known and unknown produce, things
that are not produce, the bare counter) and a hand alone, each on test stagings (counters,
lights, positions; never the teaching ones), is fed frame by frame through the lane's own
`Model.read` and `ScanDecider`, twice from the same readings: once from the camera alone, once
with a scale. A placement is the empty counter, the item sliding in and resting about 1.3 s,
then the empty counter again. The scripted scale moves for `SETTLE_FRAMES` after each change
(a checkout scale settles in about half a second), then is stable: the item's weight, or zero.
A hand alone hovers: it weighs nothing, and the camera sees it moving.

Each frame at least `SETTLE_FRAMES` after a change is judged: *wrong empty* when an item lies
there and the decision has no placement, *wrong present* when nothing lies there and it has
one. Each placement's outcome (its item named, a question, "not sure", silence, a wrong name)
is counted too.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter

from PIL import Image

from classifier_node.decision import NEW_ITEM, UNSURE_PROMPT, Ask, Reading, ScanDecider
from classifier_node.evaluation import SEED, rows
from classifier_node.model import Model
from classifier_node.settings import ClassifierSettings
from scantalk.scene import HAND, TUXPAINT_STAMPS, Stage, cutout, stagings

SETTLE_FRAMES = 8
"""Frames at 15 fps a scale is in motion after an item lands or leaves (0.53 s)."""
PHASES = (("empty", 3), ("entering", 2), ("resting", 20), ("empty", 16))
MODES = ("camera only", "with scale")


@dataclasses.dataclass
class Tally:
    judged_on: int = 0
    judged_off: int = 0
    wrong_empty: int = 0
    wrong_present: int = 0
    outcomes: Counter[str] = dataclasses.field(default_factory=Counter)


def frames(stage: Stage, item: Image.Image | None) -> list[tuple[bool, bytes]]:
    """(the item in view, JPEG) per frame of one placement."""
    out = []
    for phase, count in PHASES:
        for i in range(count):
            if phase == "empty" or item is None:
                out.append((False, stage.frame(None)))
            elif phase == "entering":
                out.append((True, stage.frame(item, visible=(i + 1) / (count + 1))))
            else:
                out.append((True, stage.frame(item)))
    return out


def settled(on: list[bool], i: int) -> bool:
    """Whether the scale has settled at frame `i`: `SETTLE_FRAMES` since what lies on it last
    changed (before any change, it has long been still)."""
    changes = [k for k in range(1, i + 1) if on[k] != on[k - 1]]
    return not changes or i - changes[-1] >= SETTLE_FRAMES


def run(decider: ScanDecider, readings: list[Reading], on: list[bool], moving: list[bool],
        truth: str, scale: bool, tally: Tally) -> None:  # fmt: skip
    """One placement through `decider`; `on`: whether an item lies on the scale, `moving`:
    whether the camera saw the scene moving, per frame."""
    said: list[str] = []
    for i, reading in enumerate(readings):
        if scale:  # in motion: it cannot say
            decider.weighed = on[i] if settled(on, i) else None
        verdict = decider.observe(reading, moving=moving[i])
        if isinstance(verdict, Ask):
            said.append("asked")
            if truth in [g.label for g in verdict.candidates]:  # the shopper chooses it
                decider.chosen(truth)
        elif verdict is UNSURE_PROMPT:
            said.append("not sure")
        elif verdict and verdict is not NEW_ITEM:
            said.append(verdict.label)
        if not settled(on, i):
            continue
        if on[i]:
            tally.judged_on += 1
            tally.wrong_empty += not decider.placing
        else:
            tally.judged_off += 1
            tally.wrong_present += decider.placing
    names = [s for s in said if s not in ("asked", "not sure")]
    if truth and names == [truth]:
        tally.outcomes["named right"] += 1
    elif names:
        tally.outcomes["wrong name" if len(set(names)) == 1 else "named twice or more"] += 1
    elif "asked" in said:
        tally.outcomes["asked"] += 1
    elif said:
        tally.outcomes["not sure"] += 1
    else:
        tally.outcomes["silent"] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stagings", type=int, default=4)
    args = parser.parse_args()
    settings = ClassifierSettings()
    model = Model(settings.model_dir, settings.inference_threads)
    stages = [
        Stage(staging, seed=SEED + k)
        for k, staging in enumerate(stagings("testing", args.stagings, seed=SEED + 1))
    ]
    # Items to teach are unknown produce here: nothing is taught.
    scenes = [(r["role"].replace("taught", "unknown"), r["label"], r["photo"]) for r in rows()]
    scenes.append(("hand alone", "", str(HAND.relative_to(TUXPAINT_STAMPS))))
    tallies = {(mode, role): Tally() for mode in MODES for role, _, _ in scenes}
    for role, label, photo in scenes:
        item = cutout(TUXPAINT_STAMPS / photo) if photo else None
        truth = label if role == "known" else ""
        for stage in stages:
            shown = frames(stage, item)
            # A hand hovering over the scale weighs nothing: it is not an item to scan.
            on = [seen and role != "hand alone" for seen, _ in shown]
            moving = [seen and role == "hand alone" for seen, _ in shown]  # it never rests
            readings = [model.read(model.decode(jpeg)) for _, jpeg in shown]
            for mode in MODES:
                decider = ScanDecider(settings.thresholds)
                run(decider, readings, on, moving, truth, mode == "with scale", tallies[mode, role])
    report(tallies, [role for role, _, _ in scenes], len(stages))


def report(tallies: dict[tuple[str, str], Tally], roles: list[str], stages: int) -> None:
    print(
        f"wrong empty / present decisions, {stages} test stagings per scene, scale settling in "
        f"{SETTLE_FRAMES} frames (15 fps); frames judged once the scale has settled"
    )
    print(f"{'scene':<12}{'mode':<13}{'placements':>11}{'wrong empty':>16}{'wrong present':>16}"
          "  outcomes")  # fmt: skip
    for role in dict.fromkeys(roles):
        for mode in MODES:
            t = tallies[mode, role]
            placements = sum(t.outcomes.values())
            empty = f"{t.wrong_empty}/{t.judged_on}" if t.judged_on else "-"
            present = f"{t.wrong_present}/{t.judged_off}"
            outcomes = ", ".join(f"{k} {v}" for k, v in t.outcomes.most_common())
            print(f"{role:<12}{mode:<13}{placements:>11}{empty:>16}{present:>16}  {outcomes}")
    for mode in MODES:
        on = sum(t.judged_on for (m, _), t in tallies.items() if m == mode)
        off = sum(t.judged_off for (m, _), t in tallies.items() if m == mode)
        wrong_empty = sum(t.wrong_empty for (m, _), t in tallies.items() if m == mode)
        wrong_present = sum(t.wrong_present for (m, _), t in tallies.items() if m == mode)
        print(
            f"all, {mode}: wrong empty {wrong_empty}/{on} frames ({wrong_empty / on:.1%}), "
            f"wrong present {wrong_present}/{off} ({wrong_present / off:.1%})"
        )


if __name__ == "__main__":
    main()
