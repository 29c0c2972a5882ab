"""One announcement per placement of an item; nothing there, or unsure, is never a scan."""

from __future__ import annotations

from classifier_node.decision import UNSURE_PROMPT, Reading, ScanDecider, Thresholds
from scantalk.contract import Guess


def reading(label: str, confidence: float, presence: float) -> Reading:
    best = Guess(label, confidence)
    return Reading(best, presence, [best])


BANANA, LEMON = reading("banana", 0.9, 0.92), reading("lemon", 0.8, 0.85)
EMPTY = reading("banana", 0.01, 0.02)
UNSURE = reading("banana", 0.4, 0.5)


def verdicts(frames):
    decider = ScanDecider(Thresholds(threshold=0.6, stable_frames=3, empty_below=0.1))
    return [v for v in (decider.observe(frame) for frame in frames) if v]


def scans(frames):
    return [v.label for v in verdicts(frames) if v is not UNSURE_PROMPT]


def prompts(frames):
    return sum(v is UNSURE_PROMPT for v in verdicts(frames))


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


def test_something_unrecognised_for_a_while_gets_one_prompt_per_placement():
    assert prompts([UNSURE] * 5) == 0
    assert prompts([UNSURE] * 50) == 1
    assert prompts([UNSURE] * 10 + [EMPTY] * 3 + [UNSURE] * 10) == 2


def test_no_prompt_once_the_item_was_announced():
    assert prompts([BANANA] * 5 + [UNSURE] * 20) == 0
