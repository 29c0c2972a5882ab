"""The scan decision: when does what the camera sees become one announced scan?"""

from __future__ import annotations

from scantalk.contract import Guess


class ScanDecider:
    """Announce a label once per placement.

    A label becomes a scan when it stays on top, above the threshold, for `stable_frames`
    frames in a row. The same item is not announced again until the scene has been empty (or
    held something else) for `stable_frames` frames: a banana lying on the scale is one scan,
    not one per frame.
    """

    def __init__(self, threshold: float, stable_frames: int) -> None:
        self.threshold = threshold
        self.stable_frames = stable_frames
        self._candidate: str | None = None
        self._streak = 0
        self._announced: str | None = None

    def observe(self, top: Guess | None) -> Guess | None:
        """Feed one frame's best guess; returns it when it is a new scan."""
        label = top.label if top and top.confidence >= self.threshold else None
        if label == self._candidate:
            self._streak += 1
        else:
            self._candidate, self._streak = label, 1
        if self._streak < self.stable_frames:
            return None
        if label is None or label != self._announced:
            self._announced = label
            return top if label is not None else None
        return None
