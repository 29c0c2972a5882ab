"""The product catalog: what each model label is called, its PLU code, and whether it is announced.

`catalog.csv` sits beside a model's `labels.txt`, one row per label:
`label,plu,announce,name_en,name_de,…` (a `name_<language>` column per language).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from scantalk.phrases import base_language


@dataclass(frozen=True)
class Product:
    label: str
    plu: str | None = None
    announce: bool = True
    """False for classes such as `background` or `hand`, which are never a scan."""
    names: dict[str, str] = field(default_factory=dict)
    """Display name per language."""

    def name(self, language: str) -> str:
        base = base_language(language)
        return (
            self.names.get(language)
            or self.names.get(base)
            or self.names.get("en")
            or self.label.replace("_", " ").capitalize()
        )


@dataclass(frozen=True)
class Catalog:
    products: dict[str, Product]

    @classmethod
    def load(cls, path: Path) -> Catalog:
        """An absent file is an empty catalog: every label then speaks as itself."""
        if not path.exists():
            return cls({})
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        products = {}
        for row in rows:
            label = row["label"].strip()
            products[label] = Product(
                label=label,
                plu=(row.get("plu") or "").strip() or None,
                announce=(row.get("announce") or "yes").strip().lower() not in ("no", "false", "0"),
                names={
                    key.removeprefix("name_"): value.strip()
                    for key, value in row.items()
                    if key.startswith("name_") and value and value.strip()
                },
            )
        return cls(products)

    def get(self, label: str) -> Product:
        return self.products.get(label) or Product(label)
