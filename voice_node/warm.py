"""`scantalk voice warm`: synthesise every name and phrase ahead, so the first scan of the day
is spoken as fast as the hundredth."""

from __future__ import annotations

import logging

from scantalk.catalog import Catalog
from scantalk.phrases import PHRASES, render
from scantalk.settings import Settings
from voice_node.speech import Speech

log = logging.getLogger("scantalk.voice")


def warm_cache(settings: Settings) -> str:
    counts: dict[str, int] = {}
    speech = Speech(settings, lambda key: counts.__setitem__(key, counts.get(key, 0) + 1))
    language = settings.language
    catalog = Catalog.load(settings.model_dir / "catalog.csv")
    labels_file = settings.model_dir / "labels.txt"
    labels = (
        labels_file.read_text().splitlines() if labels_file.exists() else list(catalog.products)
    )
    products = [catalog.get(label.strip()) for label in labels if label.strip()]
    texts = [render("item", language, item=p.name(language)) for p in products if p.announce]
    texts += [render(key, language) for key in PHRASES["en"] if key != "item"]
    hits = sum(speech.audio(text, language).cache_hit for text in texts)
    speech.close()
    return (
        f"{len(texts)} texts in {language}: {hits} already cached, "
        f"{counts.get('synthesized', 0)} synthesised; cache {speech.cache.size() / 1e6:.1f} MB "
        f"in {speech.cache.folder}"
    )
