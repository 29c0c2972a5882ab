"""What ScanTalk says, per language: templates shared by the nodes that ask for speech.

Item names come from the model's `catalog.csv`; these are the words around them. Numbers are
rendered for the ear ("2", "1,5" in German), never as raw floats such as `0.7512`. Nothing here
asks for what a shopper cannot check without sight: "not sure" says so and points to the
checkout's lookup (a question, where the lane has candidates, comes instead of it).
"""

from __future__ import annotations

PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "item": "{item}",
        "again": "{item}, again",
        "no_code": "{item}, no code: key in or weigh",
        "unsure": "Unsure, use lookup.",
        "startup": "ScanTalk is ready.",
        "nothing": "Nothing scanned yet.",
        "ask_1": "{a}? Press 1 for {a}, 0 for no.",
        "ask_2": "{a}, or {b}? Press 1 for {a}, 2 for {b}, 0 for neither.",
        "ask_3": "{a}, {b}, or {c}? Press 1 for {a}, 2 for {b}, 3 for {c}, 0 for none of these.",
        "chosen": "{item}.",
        "lookup": "Please use the checkout's lookup.",
        "weighed": "{item}, {weight}",
        "reweighed": "{item}, now {weight}",
    },
    "de": {
        "item": "{item}",
        "again": "{item}, noch einmal",
        "no_code": "{item}, ohne Code: eintippen oder wiegen",
        "unsure": "Unsicher, Suche nutzen.",
        "startup": "ScanTalk ist bereit.",
        "nothing": "Noch nichts gescannt.",
        "ask_1": "{a}? Drücken Sie 1 für {a}, 0 für nein.",
        "ask_2": "{a} oder {b}? Drücken Sie 1 für {a}, 2 für {b}, 0 für keins davon.",
        "ask_3": "{a}, {b} oder {c}? Drücken Sie 1 für {a}, 2 für {b}, 3 für {c}, "
        "0 für keins davon.",
        "chosen": "{item}.",
        "lookup": "Bitte wählen Sie den Artikel an der Kasse aus.",
        "weighed": "{item}, {weight}",
        "reweighed": "{item}, jetzt {weight}",
    },
}
WEIGHTS: dict[str, dict[str, str]] = {
    "en": {"grams": "{n} grams", "kilo": "1 kilo", "kilos": "{n} kilos"},
    "de": {"grams": "{n} Gramm", "kilo": "1 Kilo", "kilos": "{n} Kilo"},
}
"""A weight's words, per language: parts of a phrase, never said alone."""
DECIMAL_SEPARATOR = {"de": ","}


def base_language(tag: str) -> str:
    """`de` for `de-AT`: the language without its region."""
    return tag.split("-")[0].lower()


def render(key: str, language: str, **params: object) -> str:
    """The phrase `key` in `language` (its base language, else English)."""
    return _render(PHRASES, key, language, params)


def _render(
    table: dict[str, dict[str, str]], key: str, language: str, params: dict[str, object]
) -> str:
    base = base_language(language)
    templates = table.get(base) or table["en"]
    spoken = {name: _for_the_ear(value, base) for name, value in params.items()}
    return templates[key].format(**spoken)


def weight(kg: float, language: str) -> str:
    """A weight as a person says it: grams to the nearest ten below a kilo ("850 grams"),
    kilos to one decimal from there ("1.2 kilos", German "1,2 Kilo")."""
    grams = max(10, round(kg * 100) * 10)
    if grams < 1000:
        return _render(WEIGHTS, "grams", language, {"n": grams})
    kilos = round(kg, 1)
    return _render(WEIGHTS, "kilo" if kilos == 1 else "kilos", language, {"n": kilos})


def announcement(
    name: str,
    language: str,
    *,
    again: bool = False,
    kg: float | None = None,
    chosen: bool = False,
    coded: bool = True,
) -> str:
    """How a scan is said: its name; ", again" when the same item was scanned just before
    (`again`); its weight (`kg`); and, for an item without a price code (not `coded`), that the
    checkout needs it keyed in or weighed. `chosen`: the shopper's own answer."""
    if again:
        name = render("again", language, item=name)
    if kg is not None:
        text = render("weighed", language, item=name, weight=weight(kg, language))
    else:
        text = render("chosen" if chosen else "item", language, item=name)
    return text if coded else render("no_code", language, item=text.rstrip("."))


def question(names: list[str], language: str) -> str:
    """The spoken question among 1-3 names, best first, each with its key (1, 2, 3; 0: none)."""
    return render(f"ask_{len(names)}", language, **dict(zip("abc", names, strict=False)))


def _for_the_ear(value: object, language: str) -> object:
    if isinstance(value, float) and not isinstance(value, bool):
        if value.is_integer():
            return str(int(value))
        return f"{value:.1f}".replace(".", DECIMAL_SEPARATOR.get(language, "."))
    return value
