"""A model folder (`model.onnx`, its labels, optionally `catalog.csv`) and the items a lane
has taught on top of it, read in one place.

Labels are `labels.txt`, one per line (Azure Custom Vision exports, our own models), or
`labels.json`, a JSON list indexed by class id (Azure Machine Learning's AutoML image models);
an AutoML folder to which a `labels.txt` was added by hand is still read as AutoML's.

The classifier, its evaluation and the voice's warm-up all see a model through this, so what
is announced, and under which name, cannot differ between them.

Taught items live in the lane's data directory, `<data_dir>/taught/<model name>/`
(`prototypes.npz` and `catalog.csv`), not in the model folder: the default model is package
data (read-only in an image), and a lane's items must survive a model update.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from scantalk.catalog import Catalog, Product
from scantalk.settings import SettingError

PROTOTYPES = "prototypes.npz"
CATALOG = "catalog.csv"
LABELS_TXT, LABELS_JSON = "labels.txt", "labels.json"


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    labels: tuple[str, ...]
    """The model's output positions, in order."""
    catalog: Catalog
    """The model's catalog, with the taught items' rows over it."""
    taught: tuple[str, ...] = ()
    """Labels taught on this lane, in the order of their catalog rows."""
    taught_dir: Path | None = None
    labels_file: str = LABELS_TXT
    """Where the labels came from: `labels.json` marks an AutoML model."""

    @classmethod
    def open(cls, path: Path, data_dir: Path | None = None) -> ModelFolder:
        """Read a folder, and with `data_dir` the items taught on top of it; a folder that lacks
        the model or its labels stops the node at start."""
        labels_file = next((n for n in (LABELS_JSON, LABELS_TXT) if (path / n).is_file()), None)
        if not (path / "model.onnx").is_file() or labels_file is None:
            raise cls.unusable(
                path, f"a directory holding model.onnx and {LABELS_TXT} or {LABELS_JSON}"
            )
        labels = cls._labels(path, labels_file)
        try:
            catalog = Catalog.load(path / CATALOG)
        except ValueError as exc:
            raise cls.unusable(path, f"a {CATALOG} a lane can sell from: {exc}") from exc
        if data_dir is None:
            return cls(path, labels, catalog, labels_file=labels_file)
        taught_dir = data_dir / "taught" / path.resolve().name
        taught = Catalog.load(taught_dir / CATALOG)  # written by `scantalk teach`: each or kg
        return cls(
            path, labels, catalog.merged(taught), tuple(taught.products), taught_dir, labels_file
        )

    @classmethod
    def _labels(cls, path: Path, labels_file: str) -> tuple[str, ...]:
        text = (path / labels_file).read_text(encoding="utf-8")
        if labels_file == LABELS_TXT:
            return tuple(line.strip() for line in text.splitlines() if line.strip())
        try:
            labels = json.loads(text)
        except json.JSONDecodeError as exc:
            raise cls.unusable(path, f"{LABELS_JSON} that is JSON ({exc})") from exc
        if not isinstance(labels, list) or not all(
            isinstance(label, str) and label.strip() for label in labels
        ):
            raise cls.unusable(path, f"{LABELS_JSON} holding a list of label names")
        return tuple(label.strip() for label in labels)

    @staticmethod
    def unusable(path: Path, expected: str) -> SettingError:
        """The error that stops a node whose model folder cannot serve: it names the setting."""
        return SettingError("SCANTALK_MODEL_DIR", str(path), expected)

    @property
    def name(self) -> str:
        return self.path.resolve().name

    @property
    def onnx(self) -> Path:
        return self.path / "model.onnx"

    @property
    def products(self) -> tuple[Product, ...]:
        """The catalog entry of each label, in output order (a label it lacks speaks as itself)."""
        return tuple(self.catalog.get(label) for label in self.labels)

    @property
    def announced(self) -> tuple[bool, ...]:
        """Per label: is it ever a scan? `background`, `hand` or `Negative` count as "nothing
        there"."""
        return tuple(product.announce for product in self.products)

    @property
    def empty(self) -> tuple[bool, ...]:
        """Per label: is it the model's "nothing there" class (`Negative`, `background`)?"""
        return tuple(product.empty for product in self.products)

    @property
    def items(self) -> tuple[Product, ...]:
        """Everything this lane can announce: the model's announced labels and taught items."""
        built_in = [p for p in self.products if p.announce and p.label not in self.taught]
        return (*built_in, *(self.catalog.get(label) for label in self.taught))
