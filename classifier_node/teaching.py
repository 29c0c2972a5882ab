"""Teach an item on the lane, without the cloud: `scantalk teach` and `scantalk forget`.

An item is taught from a few photos (5-20): each photo, and its quarter turns (an item lies on
the counter any way round), becomes a prototype: the model's `features` for it. The prototypes
and a catalog row are stored with the lane's taught items (`scantalk.model_folder`); then
`…/classifier/taught` tells a running classifier to read them again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from classifier_node.model import Model
from classifier_node.prototypes import Prototypes
from scantalk.catalog import Catalog, Product
from scantalk.model_folder import CATALOG, PROTOTYPES

MIN_PHOTOS, MAX_PHOTOS = 3, 50
TURNS = (0, 90, 180, 270)


def views(rgb: np.ndarray) -> list[np.ndarray]:
    """A photo and its quarter turns."""
    image = Image.fromarray(rgb)
    return [np.asarray(image.rotate(angle, expand=True)) for angle in TURNS]


def teach(model: Model, product: Product, photos: list[np.ndarray]) -> Prototypes:
    """Enrol `product` from RGB `photos`, replacing what was taught under its label before."""
    if not MIN_PHOTOS <= len(photos) <= MAX_PHOTOS:
        raise ValueError(
            f"teaching needs {MIN_PHOTOS}-{MAX_PHOTOS} photos (5-20 is best), not {len(photos)}"
        )
    features = np.array([model.features(view) for photo in photos for view in views(photo)])
    prototypes = staff_taught(model).with_item(product.label, features)
    _store(model, prototypes, _catalog(model).merged(Catalog({product.label: product})))
    return prototypes


def forget(model: Model, label: str) -> bool:
    """Remove an item taught by staff; False when `label` was not taught on this lane."""
    prototypes = staff_taught(model)
    if label not in prototypes.labels:
        return False
    catalog = _catalog(model)
    rest = {key: p for key, p in catalog.products.items() if key != label}
    _store(model, prototypes.without(label), Catalog(rest))
    return True


def staff_taught(model: Model) -> Prototypes:
    """The items staff taught, without those learned from answers (`model.prototypes` holds
    both): only these are stored here."""
    return Prototypes.load(_home(model) / PROTOTYPES)


def _catalog(model: Model) -> Catalog:
    return Catalog.load(_home(model) / CATALOG)


def _store(model: Model, prototypes: Prototypes, catalog: Catalog) -> None:
    home = _home(model)
    prototypes.save(home / PROTOTYPES)
    catalog.save(home / CATALOG)
    model.reload_taught()


def _home(model: Model) -> Path:
    home = model.folder.taught_dir
    if home is None:
        raise ValueError("a model opened without the lane's data directory cannot be taught")
    return home
