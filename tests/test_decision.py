"""One announcement per placement of an item; nothing there, or unsure, is never a scan."""

from __future__ import annotations

from classifier_node.decision import ScanDecider, Thresholds
from scantalk.contract import Guess

BANANA, LEMON = (Guess("banana", 0.9), 0.92), (Guess("lemon", 0.8), 0.85)
EMPTY = (Guess("banana", 0.01), 0.02)
UNSURE = (Guess("banana", 0.4), 0.5)


def scans(frames):
    decider = ScanDecider(Thresholds(threshold=0.6, stable_frames=3, empty_below=0.1))
    return [g.label for g in (decider.observe(*frame) for frame in frames) if g]


def test_an_item_held_still_is_one_scan():
    assert scans([BANANA] * 50) == ["banana"]


def test_an_item_needs_stable_frames_before_it_is_announced():
    assert scans([BANANA, BANANA]) == []
    assert scans([BANANA, BANANA, LEMON, BANANA, BANANA]) == []


def test_unsure_or_empty_is_never_a_scan():
    assert scans([UNSURE] * 20 + [EMPTY] * 20) == []


def test_same_item_again_after_the_counter_empties():
    assert scans([BANANA] * 5 + [EMPTY] * 3 + [BANANA] * 5) == ["banana", "banana"]


def test_a_flicker_of_empty_or_an_unsure_wobble_is_not_a_new_placement():
    assert scans([BANANA] * 5 + [EMPTY] + [BANANA] * 5) == ["banana"]
    assert scans([BANANA] * 5 + [UNSURE] * 10 + [BANANA] * 5) == ["banana"]


def test_another_item_is_announced_at_once():
    assert scans([BANANA] * 5 + [LEMON] * 5) == ["banana", "lemon"]
