"""A model folder (`model.onnx`, `labels.txt`, optionally `catalog.csv`) and the items a lane
has taught on top of it, read in one place.

The classifier, its evaluation and the voice's warm-up all see a model through this, so what
is announced, and under which name, cannot differ between them.

Taught items live in the lane's data directory, `<data_dir>/taught/<model name>/`
(`prototypes.npz` and `catalog.csv`), not in the model folder: the default model is package
data (read-only in an image), and a lane's items must survive a model update.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scantalk.catalog import Catalog, Product
from scantalk.settings import SettingError

PROTOTYPES = "prototypes.npz"
CATALOG = "catalog.csv"


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

    @classmethod
    def open(cls, path: Path, data_dir: Path | None = None) -> ModelFolder:
        """Read a folder, and with `data_dir` the items taught on top of it; a folder that lacks
        the model or its labels stops the node at start."""
        if not (path / "model.onnx").is_file() or not (path / "labels.txt").is_file():
            raise cls.unusable(path, "a directory holding model.onnx and labels.txt")
        lines = (path / "labels.txt").read_text(encoding="utf-8").splitlines()
        labels = tuple(line.strip() for line in lines if line.strip())
        catalog = Catalog.load(path / CATALOG)
        if data_dir is None:
            return cls(path, labels, catalog)
        taught_dir = data_dir / "taught" / path.resolve().name
        taught = Catalog.load(taught_dir / CATALOG)
        return cls(path, labels, catalog.merged(taught), tuple(taught.products), taught_dir)

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
    def items(self) -> tuple[Product, ...]:
        """Everything this lane can announce: the model's announced labels and taught items."""
        built_in = [p for p in self.products if p.announce and p.label not in self.taught]
        return (*built_in, *(self.catalog.get(label) for label in self.taught))
