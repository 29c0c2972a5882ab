"""Taught items as prototypes: feature vectors of their teaching photos, compared by cosine.

`prototypes.npz` holds `labels` (one per row) and `vectors` (rows normalised to length 1) from
the model's `features` output. An item is as similar to a frame as its closest prototype, so a
few views of an item (sides, rotations) each count, instead of one blurred average.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Prototypes:
    labels: tuple[str, ...]
    """The taught labels, each once, in teaching order."""
    vectors: np.ndarray
    """[rows, features], unit length."""
    owners: np.ndarray
    """Per row: the index of its label in `labels`."""

    @classmethod
    def empty(cls, width: int = 0) -> Prototypes:
        return cls((), np.zeros((0, width), np.float32), np.zeros(0, np.int64))

    @classmethod
    def load(cls, path: Path) -> Prototypes:
        """An absent file: nothing taught."""
        if not path.exists():
            return cls.empty()
        with np.load(path, allow_pickle=False) as data:
            rows, vectors = [str(label) for label in data["labels"]], data["vectors"]
        labels = tuple(dict.fromkeys(rows))
        owners = np.array([labels.index(label) for label in rows], np.int64)
        return cls(labels, vectors.astype(np.float32), owners)

    def save(self, path: Path) -> None:
        """Write atomically: a classifier reloading mid-write sees the old or the new file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as f:
            np.savez(
                f, labels=np.array([self.labels[i] for i in self.owners]), vectors=self.vectors
            )
        partial.replace(path)

    def with_item(self, label: str, features: np.ndarray) -> Prototypes:
        """These prototypes with `label`'s replaced by `features` [photos, width]."""
        kept = self.without(label)
        rows = normalise(np.atleast_2d(features).astype(np.float32))
        if kept.vectors.shape[1] not in (0, rows.shape[1]):
            raise ValueError(
                f"features of width {rows.shape[1]} do not match the taught items' "
                f"({kept.vectors.shape[1]}): they were taught with another model"
            )
        labels = (*kept.labels, label)
        owners = np.concatenate([kept.owners, np.full(len(rows), len(labels) - 1)])
        vectors = np.concatenate([kept.vectors.reshape(-1, rows.shape[1]), rows])
        return Prototypes(labels, vectors, owners)

    def without(self, label: str) -> Prototypes:
        if label not in self.labels:
            return self
        gone = self.labels.index(label)
        keep = self.owners != gone
        owners = self.owners[keep]
        return Prototypes(
            tuple(x for x in self.labels if x != label),
            self.vectors[keep],
            np.where(owners > gone, owners - 1, owners),
        )

    def similarity(self, features: np.ndarray) -> np.ndarray:
        """Per taught label, the cosine similarity of `features` to its closest prototype."""
        if not self.labels:
            return np.zeros(0, np.float32)
        cosines = self.vectors @ normalise(features.reshape(1, -1))[0]
        best = np.full(len(self.labels), -1.0, np.float32)
        np.maximum.at(best, self.owners, cosines)
        return best


def normalise(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)
