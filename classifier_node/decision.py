"""The scan decision: when does what the camera sees become one announced scan?

Evidence is gathered over the frames of one placement, and two questions are kept apart:

- *Is a known item there at all?* `presence`, the model's total probability of its announced
  labels (low for an empty counter, a mug, or produce it does not know), or a taught item's
  similarity.
- *Which one?* A built-in label by its `share` among the announced labels (with enough
  presence: produce the model does not know often has one label's share high and presence
  low); a taught item by the cosine similarity of the frame's features to its closest
  prototype.

A frame the model finds no known item in is not yet empty: the model also knows what the bare
counter looks like (`CounterLook`: the features of the frames it judged empty). Something at
rest that does not look like the counter is *seen*: an item the model does not know, a mug. It
is a placement like any other, and ends in a question or "not sure", never in silence. Only
once at rest: a hand passing over the counter, or an item on its way, stays silent.

A placement whose evidence points at no single item is never a guess: the shopper hears a
wrong name as the truth. When two or three candidates hold most of the evidence, the lane asks
the shopper among them (`Ask`: a question is not a claim); else it says "not sure".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from scantalk.contract import Guess

EMPTY = "<empty>"
UNSURE = "<unsure>"
UNSURE_PROMPT = Guess(UNSURE, 0.0)
"""Returned once per placement when something stays there unrecognised: ask to hold it still."""
MARGIN = 0.06
"""How much closer a taught item must be than the next one: two look-alikes are "not sure"."""
NEAR = 0.15
"""A frame this much below `similarity` to a taught item may still show it (not empty yet)."""
ASK_PRESENCE = 0.3
"""Presence a placement needs for a question: below, the model hardly finds its produce likely
at all (mostly produce it does not know), and "not sure" is the honest answer."""
ASK_SHARE = 0.8
"""Share of the evidence the offered candidates must hold together: "most of it"."""
ASK_MIN_SHARE = 0.1
"""A candidate with less than this is not offered: it would lengthen the question for little."""
MAX_CANDIDATES = 3
SWAP_FRAMES = 3
"""Frames in a row whose best label was not offered, that hold little of the offered labels'
evidence, after which the item asked about counts as replaced by another (`NEW_ITEM`)."""
SAME_SCENE = 0.9
"""Cosine similarity of a frame's features to the bare counter's above which it shows the bare
counter. Measured on the default model: the same scene under sensor noise and JPEG is at 0.99
or above; an item on the counter, from a coin to a hand, at 0.75 or below."""
NEW_ITEM = Guess("<new item>", 0.0)
"""Returned when another item replaced the one asked about, with no empty counter between:
the question is moot, and the new item is judged afresh."""


@dataclass(frozen=True)
class Thresholds:
    threshold: float
    """Share among the announced labels a built-in label needs to become a scan."""
    presence: float
    """Presence a built-in label needs to become a scan: the model must find its produce
    likely at all, not only this label likelier than its other ones."""
    similarity: float
    """Cosine similarity to a taught item's closest prototype it needs to become a scan."""
    stable_frames: int
    """Frames of evidence before a scan (and frames of emptiness that end a placement)."""
    empty_below: float
    """Presence below which a frame shows nothing the model knows (unless a taught item)."""

    @property
    def unsure_after(self) -> int:
        """Frames of evidence gathered at most; after this many without an answer, the shopper
        is asked among the candidates, or told the lane is not sure."""
        return 3 * self.stable_frames

    @property
    def settle_frames(self) -> int:
        """Frames of one scene the decision needs to settle (a scan, an end of placement, or
        the unsure prompt), and one to spare. The camera sends this many after each change of
        scene, so a still item is decided on."""
        return self.unsure_after + 1


@dataclass(frozen=True)
class Reading:
    """What the model makes of one frame, as the decision needs it."""

    labels: tuple[str, ...]
    """The model's labels."""
    share: np.ndarray
    """Per label: its share of the announced labels' probability (0 for the others)."""
    presence: float
    """Total probability of announced labels: low when nothing (known) is there."""
    taught: tuple[str, ...]
    """Items taught on the lane."""
    similarity: np.ndarray
    """Per taught item: cosine similarity of the frame's features to its closest prototype."""
    top: list[Guess]
    """The model's most likely labels, best first, for the prediction."""
    candidates: list[Guess]
    """The most likely of the labels that are items, best first: a scan's alternatives. A
    "nothing there" class or a `hand` is never one."""
    features: np.ndarray | None = None
    """The model's features of the frame, where it has them: what a shopper's answer teaches."""


@dataclass(frozen=True)
class Ask:
    """A placement to ask the shopper about: the candidates, and what a choice would teach."""

    candidates: list[Guess]
    """1-3 labels, best first, with their share of the evidence."""
    features: np.ndarray | None
    """The placement's features (the mean of its frames'), unit length; None: the model has
    none."""


@dataclass(frozen=True)
class Evidence:
    """Readings of one placement, averaged: noise and a passing hand weigh less."""

    readings: int
    labels: tuple[str, ...]
    share: np.ndarray
    presence: float
    taught: tuple[str, ...]
    similarity: np.ndarray

    @classmethod
    def of(cls, readings: list[Reading]) -> Evidence:
        last = readings[-1]
        same = [r for r in readings if r.taught == last.taught]  # a teaching changed mid-way
        return cls(
            len(readings),
            last.labels,
            np.mean([r.share for r in readings], axis=0),
            float(np.mean([r.presence for r in readings])),
            last.taught,
            np.mean([r.similarity for r in same], axis=0),
        )

    def verdict(self, t: Thresholds) -> Guess | str:
        """A confident item, `UNSURE`, or `EMPTY`."""
        best = int(self.share.argmax())
        # Prototypes of a label the model has itself (learned from shoppers' answers) count
        # only where the model agrees: its first label, with the presence a question needs.
        # Elsewhere they would name unknown produce after the item learned, and keep an empty
        # counter from being empty (a placement's features carry some of its counter).
        agrees = self.presence >= ASK_PRESENCE
        claims = np.array(
            [label not in self.labels or (agrees and label == self.labels[best])
             for label in self.taught],
            dtype=bool,
        )  # fmt: skip
        similarity = np.where(claims, self.similarity, -1.0)
        closest = float(similarity.max()) if len(self.taught) else 0.0
        if self.presence < t.empty_below and closest < t.similarity - NEAR:
            return EMPTY
        built_in = None
        if self.presence >= t.presence and self.share[best] >= t.threshold:
            built_in = Guess(self.labels[best], round(float(self.share[best]), 4))
        taught = None
        if closest >= t.similarity:
            ranked = np.sort(similarity)
            if len(ranked) == 1 or ranked[-1] - ranked[-2] >= MARGIN:
                taught = Guess(self.taught[int(similarity.argmax())], round(closest, 4))
        if built_in and taught and built_in.label != taught.label:
            return UNSURE  # two confident claims: one of them is wrong
        return taught or built_in or UNSURE

    def candidates(self) -> list[Guess]:
        """The fewest built-in labels, at most three and best first, that hold `ASK_SHARE` of
        an evidence with `ASK_PRESENCE`; none when no such few exist."""
        if self.presence < ASK_PRESENCE:
            return []
        offered, held = [], 0.0
        for i in np.argsort(self.share)[::-1][:MAX_CANDIDATES]:
            if self.share[i] < ASK_MIN_SHARE:
                break
            offered.append(Guess(self.labels[i], round(float(self.share[i]), 4)))
            held += float(self.share[i])
            if held >= ASK_SHARE:
                return offered
        return []


def frame_is_empty(reading: Reading, t: Thresholds) -> bool:
    """Whether the model finds nothing it knows in the frame (nor a taught item)."""
    return Evidence.of([reading]).verdict(t) == EMPTY


class CounterLook:
    """What the bare counter looks like to the model: the features of frames at rest that it
    found nothing known in, followed as the light drifts. Such a frame that looks unlike the
    counter shows something unknown (a mushroom the model takes for a maraca, a mug): the
    model's presence alone cannot tell it from the bare counter.

    A lane's counter has a few looks (daylight, lamps at night): the last `LOOKS` are kept."""

    FOLLOW = 0.2
    """Share of each bare frame's features taken into its look: a drift is followed, one odd
    frame hardly moves it."""
    LOOKS = 8

    def __init__(self) -> None:
        self.looks: deque[np.ndarray] = deque(maxlen=self.LOOKS)
        """Unit length, newest last; none until a frame was judged bare (or the model has no
        features)."""

    def shows_bare(self, features: np.ndarray | None) -> bool:
        """Of a frame the model finds nothing known in: does it show the bare counter? Learns
        from it if so. The first such frame is the counter; a model without features cannot
        tell, and every such frame is bare."""
        if features is None:
            return True
        if self.looks and self._closest(_unit(features))[1] < SAME_SCENE:
            return False
        self.adopt(features)
        return True

    def adopt(self, features: np.ndarray) -> None:
        """`features` show the bare counter: its look follows them, or they are a new look (the
        light changed, or the lane started with something there)."""
        seen = _unit(features)
        if not self.looks or (closest := self._closest(seen))[1] < SAME_SCENE:
            self.looks.append(seen)
            return
        i = closest[0]
        self.looks[i] = _unit((1 - self.FOLLOW) * self.looks[i] + self.FOLLOW * seen)

    def _closest(self, seen: np.ndarray) -> tuple[int, float]:
        similarity = [float(seen @ look) for look in self.looks]
        best = int(np.argmax(similarity))
        return best, similarity[best]


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


class ScanDecider:
    """Announce one item per placement.

    A placement starts with a frame that is not empty (something known, or something unknown
    at rest that does not look like the bare counter: `counter`) and ends after
    `stable_frames` empty frames. Its evidence is the average of its last `unsure_after`
    frames. An item is announced once the evidence of at least `stable_frames` frames names
    it: a clear item in two or three frames, an ambiguous one when more frames make it clear.
    The same item is not announced again within the placement (a banana lying on the scale is
    one scan, not one per frame);
    another item replacing it is. A placement that stays unrecognised for `unsure_after` frames
    gets one `Ask` when a few candidates hold most of its evidence, else one `UNSURE_PROMPT`.
    An item asked about and then swapped for another (`SWAP_FRAMES` frames of something not
    offered) gives `NEW_ITEM`, and the new item is a placement of its own.

    Where a produce scale says what lies on it (`weighed`), it decides whether something is
    there and the camera only which item: a weighed placement is never empty (what the model
    cannot see is "not sure"), and a scale that weighs nothing ends the placement at once.
    """

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.counter = CounterLook()
        self._moving = False
        """The last frame showed the scene moving."""
        self._lifted: tuple[np.ndarray | None] | None = None
        """After a named item was taken away, until the next frame at rest: the item's features
        (the mean of its frames), so what it left is not taken for it."""
        self._window: deque[Reading] = deque(maxlen=thresholds.unsure_after)
        self._empties = 0
        self._unsure = 0
        self._announced: str | None = None
        self._prompted = False
        self._offered: tuple[str, ...] = ()
        """What the placement's question offered."""
        self._weighed: bool | None = None

    @property
    def placing(self) -> bool:
        """Whether a placement is under way: something has been on the counter since it was
        last empty for `stable_frames` frames, or the scale weighs something."""
        return bool(self._window) or self._weighed is True

    @property
    def settled(self) -> bool:
        """Whether more frames of the scene in view can change nothing: no placement is under
        way, or its item was named, asked about or called unsure and the last `stable_frames`
        frames still show just that (an empty frame starts the end of the placement, another
        item a swap: both need more). Until the scene changes again, the camera need not send
        more (`Prediction.settled`). A scene still moving is not: it may come to rest as
        something unknown."""
        if self._moving:
            return False
        if not self.placing:
            return True
        if self._empties or (self._announced is None and not self._prompted):
            return False
        verdict = self._recent_verdict()
        return (verdict.label if isinstance(verdict, Guess) else None) == self._announced

    @property
    def weighed(self) -> bool | None:
        """True: the scale weighs something; False: nothing; None: it cannot say (moving, no
        scale), and the camera alone decides."""
        return self._weighed

    @weighed.setter
    def weighed(self, weighed: bool | None) -> None:
        if weighed is False:
            self._end_placement()
        self._weighed = weighed

    def chosen(self, label: str) -> None:
        """The shopper chose `label` for this placement: it is not announced again in it."""
        if self.placing:
            self._announced = label

    def observe(self, reading: Reading, moving: bool = False) -> Guess | Ask | None:
        """Feed one frame's reading; returns the item when it is a new scan, an `Ask`, or
        `UNSURE_PROMPT`. `moving`: the camera saw the scene still changing (`FrameCause`)."""
        t = self.thresholds
        self._moving = moving
        known = not frame_is_empty(reading, t)  # the model finds an item: asked once a frame
        if self._weighed is False or (not self._weighed and self._empty(reading, known, moving)):
            self._empties += 1
            if self._empties < t.stable_frames:
                return None
            named = self._announced is not None
            item = _mean_features(self._window)
            self._end_placement()
            if not named:
                return None
            self._lifted = (item,)
            # What the named item left is judged once at rest (now, or on the next frame).
            if moving or self._weighed is False or self._empty(reading, known, moving):
                return None
        self._empties = 0
        if self._window.maxlen != t.unsure_after:  # thresholds changed live
            self._window = deque(self._window, maxlen=t.unsure_after)
        if known and self._window and all(frame_is_empty(r, t) for r in self._window):
            # Something unknown, then a known item: judged on the item's frames alone, not
            # diluted by what came before it (the same placement: no second earcon), and
            # unsure or asked about afresh.
            self._window.clear()
            self._unsure, self._prompted = 0, False
        self._window.append(reading)
        if self._offered and self._swapped():
            self._restart(list(self._window)[-SWAP_FRAMES:])
            return NEW_ITEM
        if swapped_for := self._replaced():
            return swapped_for
        evidence = Evidence.of(list(self._window))
        verdict = evidence.verdict(t)
        if isinstance(verdict, str):
            self._unsure += 1
            if self._unsure >= t.unsure_after and not self._prompted and not self._announced:
                self._prompted = True
                if offered := evidence.candidates():
                    self._offered = tuple(g.label for g in offered)
                    return Ask(offered, _mean_features(self._window))
                return UNSURE_PROMPT
            return None
        if len(self._window) < t.stable_frames or verdict.label == self._announced:
            return None
        self._announced = verdict.label
        return verdict

    def _empty(self, reading: Reading, known: bool, moving: bool) -> bool:
        """Nothing is there: nothing the model knows, and the bare counter. Something unknown
        is there only once at rest (a hand passing is not), and only before an item was named
        in the placement (after it, what is left ends the placement). `known`: the model
        finds an item in `reading`."""
        if known:
            self._lifted = None
            return False
        if moving or self._announced is not None:
            return True
        seen, lifted, self._lifted = reading.features, self._lifted, None
        if seen is not None and lifted is not None:
            # What a named item left, at rest, with nothing known in it: the counter, whatever
            # it looks like (a light changed, which the camera's gate does not even send, or
            # the lane started with something there), unless it still looks like the item.
            item = lifted[0]
            if item is None or float(_unit(seen) @ item) < SAME_SCENE:
                self.counter.adopt(seen)
                return True
        return self.counter.shows_bare(seen)

    def new_model(self) -> None:
        """Another model reads the frames: what the counter looks like to it is learned anew
        (its features are not the old model's)."""
        self.counter = CounterLook()
        self._lifted = None

    def _replaced(self) -> Guess | None:
        """Another item, named clearly by the last `stable_frames` frames alone, replaced the
        one announced (or called unsure), with no empty counter between: a placement of its
        own, announced now rather than once it outweighs the old item's frames in the
        evidence."""
        # Decided: named, or called unsure (a question sees a swap its own way, `_swapped`).
        decided = self._announced is not None or (self._prompted and not self._offered)
        if not decided or len(self._window) < self.thresholds.stable_frames:
            return None
        verdict = self._recent_verdict()
        if not isinstance(verdict, Guess) or verdict.label == self._announced:
            return None
        self._restart(self._recent())
        self._announced = verdict.label
        return verdict

    def _recent(self) -> list[Reading]:
        """The last `stable_frames` frames of the placement."""
        return list(self._window)[-self.thresholds.stable_frames :]

    def _recent_verdict(self) -> Guess | str:
        """What the last `stable_frames` frames alone say: is the item in view what was
        decided (`settled`), or another one (`_replaced`)?"""
        return Evidence.of(self._recent()).verdict(self.thresholds)

    def _swapped(self) -> bool:
        recent = list(self._window)[-SWAP_FRAMES:]
        if len(recent) < SWAP_FRAMES:
            return False
        offered = [i for i, label in enumerate(recent[-1].labels) if label in self._offered]
        tops = {r.labels[int(r.share.argmax())] for r in recent}
        held = float(np.mean([r.share[offered].sum() for r in recent]))
        return not tops & set(self._offered) and held < 1 - ASK_SHARE

    def _restart(self, readings: list[Reading]) -> None:
        """A new placement, from `readings` on."""
        self._end_placement()
        self._window.extend(readings)

    def _end_placement(self) -> None:
        self._window.clear()
        self._unsure = 0
        self._announced, self._prompted, self._offered = None, False, ()


def _mean_features(readings: Iterable[Reading]) -> np.ndarray | None:
    rows = [r.features for r in readings if r.features is not None]
    if not rows:
        return None
    return _unit(np.mean([_unit(row) for row in rows], axis=0))
