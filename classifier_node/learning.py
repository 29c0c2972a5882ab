"""The lane learns from its shoppers: each answered question teaches the item chosen.

A shopper's choice keeps the placement's features (never its image) as an observation of that
label, in the lane's data directory beside its taught items (`observations.npz`). Once a label
has `ENROL_AFTER` observations that agree with each other, they become its prototypes, beside
the built-in label: the lane then recognises it by similarity and announces it without a
question (`Model.reload_taught`).

Why three, and how consistent: one shopper who presses the wrong key must not teach the lane a
wrong item, and two who do the same are rare; three answers of the same item also cover the
usual ways it lies on the scale. An observation counts only if its cosine to the label's other
observations' mean is at least `CONSISTENT`, which is how close two placements of one item are
on the model's features and more than two different items are (`scantalk model eval --learn`
measures the effect). An observation whose chosen label the model itself found far less likely
than its first candidate (`HOLD_BELOW`) disagrees strongly: it is kept for staff and never
enrolled by itself. An item taught by staff (`scantalk teach`) is never overridden.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from classifier_node.decision import Ask
from classifier_node.prototypes import Prototypes, normalise
from scantalk.contract import now_rfc3339

if TYPE_CHECKING:
    from classifier_node.model import Model

OBSERVATIONS = "observations.npz"
ENROL_AFTER = 3
"""Consistent observations of a label before it is enrolled."""
CONSISTENT = 0.8
"""Cosine to the mean of the label's other observations an observation needs to count."""
HOLD_BELOW = 0.25
"""A choice whose share is below this part of the first candidate's is held for staff."""
PER_LABEL = 12
"""Observations kept per label, the newest: bounded, and the lane follows a new season's look."""
MAX_LABELS = 256
"""Labels with observations: a lane's produce, with room; the oldest label is dropped beyond."""


@dataclass(frozen=True)
class Observation:
    label: str
    vector: np.ndarray
    """The placement's features, unit length."""
    time: str
    question_id: str
    held: bool
    """Disagrees strongly with the model: for staff, never enrolled by itself."""


@dataclass(frozen=True)
class Observations:
    items: tuple[Observation, ...]

    @classmethod
    def load(cls, path: Path) -> Observations:
        if not path.exists():
            return cls(())
        with np.load(path, allow_pickle=False) as data:
            return cls(
                tuple(
                    Observation(str(label), vector.astype(np.float32), str(when), str(qid), bool(h))
                    for label, vector, when, qid, h in zip(
                        data["labels"], data["vectors"], data["times"], data["questions"],
                        data["held"], strict=True,
                    )
                )
            )  # fmt: skip

    def save(self, path: Path) -> None:
        """Atomically, as `Prototypes.save`: a reader sees the old file or the new one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        width = self.items[0].vector.shape[0] if self.items else 0
        with partial.open("wb") as f:
            np.savez(
                f,
                labels=np.array([o.label for o in self.items], dtype=str),
                vectors=np.array([o.vector for o in self.items], np.float32).reshape(
                    len(self.items), width
                ),
                times=np.array([o.time for o in self.items], dtype=str),
                questions=np.array([o.question_id for o in self.items], dtype=str),
                held=np.array([o.held for o in self.items], dtype=bool),
            )
        partial.replace(path)

    def of(self, label: str) -> list[Observation]:
        return [o for o in self.items if o.label == label]

    @property
    def labels(self) -> list[str]:
        return list(dict.fromkeys(o.label for o in self.items))

    def added(self, observation: Observation) -> Observations:
        """With `observation`, bounded: `PER_LABEL` per label, `MAX_LABELS` labels."""
        mine = [*self.of(observation.label), observation][-PER_LABEL:]
        others = [o for o in self.items if o.label != observation.label]
        labels = list(dict.fromkeys(o.label for o in others))
        dropped = set(labels[: max(0, len(labels) + 1 - MAX_LABELS)])
        return Observations(tuple([o for o in others if o.label not in dropped] + mine))

    def without(self, label: str) -> Observations:
        return Observations(tuple(o for o in self.items if o.label != label))

    def consistent(self, label: str) -> list[Observation]:
        """The label's observations that agree with the others (held ones never count)."""
        mine = [o for o in self.of(label) if not o.held]
        if len(mine) < 2:
            return []
        vectors = np.array([o.vector for o in mine])
        total = vectors.sum(axis=0)
        kept = []
        for o, vector in zip(mine, vectors, strict=True):
            rest = normalise((total - vector)[None])[0]
            if float(rest @ vector) >= CONSISTENT:
                kept.append(o)
        return kept

    def enrolled(self) -> dict[str, np.ndarray]:
        """Per label with `ENROL_AFTER` consistent observations: their vectors."""
        found = {}
        for label in self.labels:
            kept = self.consistent(label)
            if len(kept) >= ENROL_AFTER:
                found[label] = np.array([o.vector for o in kept])
        return found


def observations_path(model: Model) -> Path | None:
    home = model.folder.taught_dir
    return home / OBSERVATIONS if home is not None else None


def with_learned(prototypes: Prototypes, path: Path) -> Prototypes:
    """Staff-taught `prototypes` and, beside them, the labels learned from answers (never one
    that staff taught)."""
    for label, vectors in Observations.load(path).enrolled().items():
        if label not in prototypes.labels:
            try:
                prototypes = prototypes.with_item(label, vectors)
            except ValueError:  # learned on another model's features: not these
                continue
    return prototypes


def learn(model: Model, label: str, ask: Ask, question_id: str) -> Observation | None:
    """Keep a shopper's choice of `label` for a placement asked about; None when the model has
    no features to learn from. The model reads its prototypes again, so an item enrolled by
    this answer is announced from the next placement on."""
    path = observations_path(model)
    if path is None or ask.features is None:
        return None
    shares = {g.label: g.confidence for g in ask.candidates}
    first = ask.candidates[0].confidence
    observation = Observation(
        label, ask.features, now_rfc3339(), question_id,
        held=shares.get(label, 0.0) < HOLD_BELOW * first,
    )  # fmt: skip
    # Read again first: `scantalk forget` may have changed the file since.
    Observations.load(path).added(observation).save(path)
    model.reload_taught()
    return observation


def forget(model: Model, label: str) -> bool:
    """Drop what was learned of `label`; False when nothing was."""
    path = observations_path(model)
    if path is None:
        return False
    observations = Observations.load(path)
    if label not in observations.labels:
        return False
    observations.without(label).save(path)
    model.reload_taught()
    return True


def summary(model: Model) -> list[dict]:
    """What was learned from answers, per label: for `scantalk taught`."""
    path = observations_path(model)
    observations = Observations.load(path) if path else Observations(())
    enrolled = set(observations.enrolled())
    rows = []
    for label in observations.labels:
        mine = observations.of(label)
        rows.append(
            {
                "label": label,
                "answers": len(mine),
                "consistent": len(observations.consistent(label)),
                "held_for_staff": sum(o.held for o in mine),
                "enrolled": label in enrolled and label not in model.folder.taught,
                "since": min(o.time for o in mine),
                "last": max(o.time for o in mine),
            }
        )
    return rows
