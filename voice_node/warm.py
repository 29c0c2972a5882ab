"""`scantalk voice warm`: synthesise every name and phrase ahead, so the first scan of the day
is spoken as fast as the hundredth."""

from __future__ import annotations

from collections import Counter
from string import Formatter

from scantalk.model_folder import ModelFolder
from scantalk.phrases import PHRASES, announcement, render
from voice_node.settings import VoiceSettings
from voice_node.speech import Speech


def warm_cache(settings: VoiceSettings) -> str:
    counts: Counter[str] = Counter()
    speech = Speech(settings, lambda key: counts.update((key,)))
    language = settings.language
    folder = ModelFolder.open(settings.model_dir, settings.data_dir)
    texts = [
        announcement(p.name(language), language, again=again, chosen=chosen, coded=bool(p.plu))
        for p in folder.items
        for again, chosen in ((False, False), (True, False), (False, True))
    ]
    # Questions combine names, so only the phrases without fields can be made ahead.
    texts += [render(key, language) for key, template in PHRASES["en"].items() if _fixed(template)]
    texts = list(dict.fromkeys(texts))  # an item with no code sounds the same, chosen or not
    hits = sum(speech.audio(text, language).cache_hit for text in texts)
    speech.close()
    return (
        f"{len(texts)} texts in {language}: {hits} already cached, "
        f"{counts['synthesized']} synthesised; cache {speech.cache.size() / 1e6:.1f} MB "
        f"in {speech.cache.folder}"
    )


def _fixed(template: str) -> bool:
    return all(field is None for _, field, _, _ in Formatter().parse(template))
