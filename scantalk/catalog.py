"""The product catalog: what each model label is called, its PLU code, and whether it is announced.

`catalog.csv` sits beside a model's labels (and beside a lane's taught items), one row per
label: `label,plu,announce,unit,name_en,name_de,…` (a `name_<language>` column per language).
`unit` is how the item is sold: `each` (by the piece, the default) or `kg` (by weight, from the
produce scale).
`announce` is `yes` (an item), `no` (never a scan: a hand, "other produce") or `empty`: the
model's class for "nothing there" (a store's `background`, `empty` …), which, when it leads,
means the counter is empty.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from scantalk.contract import PLU_PATTERN, Unit
from scantalk.phrases import base_language

NOTHING_LABELS = frozenset({"negative"})
"""Labels that mean "nothing there" without any catalog: Azure Custom Vision's built-in
`Negative` tag ("none of my tags")."""
UNITS = tuple(unit.value for unit in Unit)
EMPTY, NO = "empty", ("no", "false", "0")
"""`announce` values: the "nothing there" class, and never a scan."""


def tidy(label: str) -> str:
    """A label as a name for people: `red_apple` -> `Red apple`, `Fuji-apple` -> `Fuji apple`."""
    words = " ".join(re.split(r"[\s_\-]+", label.strip()))
    return words[:1].upper() + words[1:]


@dataclass(frozen=True)
class Product:
    label: str
    plu: str | None = None
    announce: bool = True
    """False for classes such as `background`, `hand` or `Negative`, which are never a scan."""
    empty: bool = False
    """The model's "nothing there" class (`Negative`, a store's `background`): never a scan,
    and when it leads, the counter is empty whatever crumbs the other labels get."""
    names: dict[str, str] = field(default_factory=dict)
    """Display name per language."""
    unit: Unit = Unit.EACH
    """How it is sold: `each` or `kg` (by weight)."""

    def name(self, language: str) -> str:
        base = base_language(language)
        return (
            self.names.get(language)
            or self.names.get(base)
            or self.names.get("en")
            or tidy(self.label)
        )

    def row(self) -> dict[str, str]:
        """This product as a `catalog.csv` row."""
        return {
            "label": self.label,
            "plu": self.plu or "",
            "announce": EMPTY if self.empty else "yes" if self.announce else "no",
            "unit": self.unit,
            **{f"name_{language}": name for language, name in self.names.items()},
        }


@dataclass(frozen=True)
class Catalog:
    products: dict[str, Product]

    @classmethod
    def load(cls, path: Path) -> Catalog:
        """An absent file is an empty catalog: every label then speaks as itself. A row whose
        unit is neither `each` nor `kg` raises ValueError naming it."""
        if not path.exists():
            return cls({})
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        products = {}
        for row in rows:
            label = row["label"].strip()
            announce = (row.get("announce") or "yes").strip().lower()
            unit = (row.get("unit") or "each").strip().lower()
            if unit not in UNITS:
                units = ", ".join(UNITS)
                raise ValueError(f"{path}: {label!r} has unit {unit!r}, not one of {units}")
            plu = (row.get("plu") or "").strip() or None
            if plu and not re.fullmatch(PLU_PATTERN.strip("^$"), plu):
                # Every scan of it would break the contract: the bridge would refuse them all.
                raise ValueError(f"{path}: {label!r} has PLU {plu!r}, not 4 or 5 digits")
            products[label] = Product(
                label=label,
                plu=plu,
                announce=announce not in (EMPTY, *NO),
                empty=announce == EMPTY,
                unit=Unit(unit),
                names={
                    key.removeprefix("name_"): value.strip()
                    for key, value in row.items()
                    if key.startswith("name_") and value and value.strip()
                },
            )
        return cls(products)

    def save(self, path: Path) -> None:
        """Write the catalog (atomically: a reader never sees half a file)."""
        rows = [product.row() for product in self.products.values()]
        languages = sorted({key for row in rows for key in row if key.startswith("name_")})
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, ["label", "plu", "announce", "unit", *languages])
            writer.writeheader()
            writer.writerows(rows)
        partial.replace(path)

    def get(self, label: str) -> Product:
        nothing = label.lower() in NOTHING_LABELS
        return self.products.get(label) or Product(label, announce=not nothing, empty=nothing)

    def merged(self, other: Catalog) -> Catalog:
        """This catalog with `other`'s rows taking precedence."""
        return Catalog({**self.products, **other.products})
