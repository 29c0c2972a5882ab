"""A model folder: `model.onnx`, `labels.txt` and optionally `catalog.csv`, read in one place.

The classifier, its evaluation and the voice's warm-up all see a model through this, so what
is announced, and under which name, cannot differ between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scantalk.catalog import Catalog, Product
from scantalk.settings import SettingError


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    labels: tuple[str, ...]
    """The model's output positions, in order."""
    catalog: Catalog

    @classmethod
    def open(cls, path: Path) -> ModelFolder:
        """Read a folder; one that lacks the model or its labels stops the node at start."""
        if not (path / "model.onnx").is_file() or not (path / "labels.txt").is_file():
            raise cls.unusable(path, "a directory holding model.onnx and labels.txt")
        lines = (path / "labels.txt").read_text(encoding="utf-8").splitlines()
        labels = tuple(line.strip() for line in lines if line.strip())
        return cls(path, labels, Catalog.load(path / "catalog.csv"))

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
        """Per label: is it ever a scan? `background` or `hand` count as "nothing there"."""
        return tuple(product.announce for product in self.products)
