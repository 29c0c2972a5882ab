"""The scan decision: when does what the camera sees become one announced scan?"""

from __future__ import annotations

from dataclasses import dataclass

from scantalk.contract import Guess

EMPTY = "<empty>"
UNSURE = "<unsure>"
UNSURE_PROMPT = Guess(UNSURE, 0.0)
"""Returned once per placement when something stays there unrecognised: ask to hold it still."""


@dataclass(frozen=True)
class Thresholds:
    threshold: float
    """Probability the top label needs to become a scan."""
    stable_frames: int
    """Frames in a row it must stay on top (and frames of emptiness that end a placement)."""
    empty_below: float
    """Total probability of announced labels below which the scan area counts as empty."""

    @property
    def unsure_after(self) -> int:
        """Frames something stays unrecognised before the shopper is asked to hold it still."""
        return 2 * self.stable_frames

    @property
    def settle_frames(self) -> int:
        """Frames of one scene the decision needs to settle (a scan, an end of placement, or
        the unsure prompt), and one to spare. The camera sends this many after each change of
        scene, so a still item is decided on."""
        return self.unsure_after + 1


@dataclass(frozen=True)
class Reading:
    """What the model makes of one frame, as the decision needs it."""

    best: Guess
    """The most likely announced label."""
    presence: float
    """Total probability of announced labels: low when nothing (known) is there."""
    top: list[Guess]
    """The most likely labels of all, best first, for the prediction and the alternatives."""


def judge(reading: Reading, t: Thresholds) -> str:
    """What one frame shows: `EMPTY`, a confident label, or `UNSURE`."""
    if reading.presence < t.empty_below:
        return EMPTY
    return reading.best.label if reading.best.confidence >= t.threshold else UNSURE


class ScanDecider:
    """Announce a label once per placement.

    Each frame is one of three things: empty (announced labels together are unlikely: nothing,
    or nothing we know, is there), a confident label, or unsure. A label becomes a scan when it
    stays on top, confident, for `stable_frames` frames in a row. The same item is not announced
    again until the scene has been empty (or held another confident item) for `stable_frames`
    frames: a banana lying on the scale is one scan, not one per frame, and an unsure wobble
    never re-announces it. Something that stays unsure for twice `stable_frames` gets one
    `UNSURE_PROMPT` per placement.
    """

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self._candidate: str | None = None
        self._streak = 0
        self._announced: str | None = None
        self._prompted = False

    def observe(self, reading: Reading) -> Guess | None:
        """Feed one frame's reading; returns its best guess when that is a new scan."""
        t = self.thresholds
        state = judge(reading, t)
        if state == self._candidate:
            self._streak += 1
        else:
            self._candidate, self._streak = state, 1
        if state == UNSURE:
            # Something has been there a while and is still not recognised, and nothing was
            # announced for this placement: ask the shopper to hold it still, once.
            if (
                self._streak == t.unsure_after
                and not self._prompted
                and self._announced in (None, EMPTY)
            ):
                self._prompted = True
                return UNSURE_PROMPT
            return None
        if self._streak < t.stable_frames or state == self._announced:
            return None
        self._announced, self._prompted = state, False
        return None if state == EMPTY else reading.best
