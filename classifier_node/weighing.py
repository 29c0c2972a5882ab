"""The produce scale as the classifier sees it: whether something lies on it, and the weight
a scan of an item sold by weight carries."""

from __future__ import annotations

from dataclasses import dataclass

from scantalk.contract import Weight, WeightStatus

REWEIGH_KG = 0.01
"""A stable weight this far from a scan's weight is a new weight of its item (a second banana),
not the scale's last digit."""


@dataclass(frozen=True)
class ScaleView:
    """The scale's last weight and whether its node is online (its retained status)."""

    online: bool = False
    weight: Weight | None = None

    def present(self, min_kg: float) -> bool | None:
        """True: something lies on the scale; False: nothing does; None: it cannot say (in
        motion, under zero, a zero error, no scale, its node offline)."""
        weight = self.weight
        if not self.online or weight is None:
            return None
        if weight.status is WeightStatus.OVER_CAPACITY:
            return True
        if weight.stable and weight.weight_kg is not None:
            return weight.weight_kg >= min_kg
        return None

    def stable_kg(self, min_kg: float) -> float | None:
        """The weight of what lies on the scale, once it has settled."""
        if self.present(min_kg) and self.weight and self.weight.stable:
            return self.weight.weight_kg
        return None

    @property
    def weighs(self) -> bool:
        """Whether a weight is worth waiting for: the node is online and its scale answers."""
        return (
            self.online
            and self.weight is not None
            and self.weight.status not in (WeightStatus.NO_SCALE, WeightStatus.ZERO_ERROR)
        )
