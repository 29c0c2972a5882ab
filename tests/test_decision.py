"""One announcement per placement of an item."""

from __future__ import annotations

from classifier_node.decision import ScanDecider
from scantalk.contract import Guess

BANANA, LEMON, EMPTY = Guess("banana", 0.9), Guess("lemon", 0.8), None
DOUBT = Guess("banana", 0.3)


def scans(frames):
    decider = ScanDecider(threshold=0.6, stable_frames=3)
    return [g.label for g in map(decider.observe, frames) if g]


def test_an_item_held_still_is_one_scan():
    assert scans([BANANA] * 50) == ["banana"]


def test_an_item_needs_stable_frames_before_it_is_announced():
    assert scans([BANANA, BANANA]) == []
    assert scans([BANANA, BANANA, LEMON, BANANA, BANANA]) == []


def test_low_confidence_is_never_a_scan():
    assert scans([DOUBT] * 20) == []


def test_same_item_again_after_the_counter_empties():
    assert scans([BANANA] * 5 + [EMPTY] * 3 + [BANANA] * 5) == ["banana", "banana"]


def test_a_flicker_of_empty_is_not_a_new_placement():
    assert scans([BANANA] * 5 + [EMPTY] + [BANANA] * 5) == ["banana"]


def test_another_item_is_announced_at_once():
    assert scans([BANANA] * 5 + [LEMON] * 5) == ["banana", "lemon"]
