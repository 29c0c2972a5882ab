"""The motion gate on real photos: frames go out while an item moves, almost none while the
counter is still, and a flickering light is not an item."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np

from camera_node.gate import Gate, GateSettings
from testbench.scenes import footage

FPS = 15
SETTLE = 7
"""As the classifier says at its default `stable_frames` (2)."""


def settled(**settings) -> GateSettings:
    return GateSettings(settle_frames=SETTLE, **settings)


def published_per_phase(frames, settings: GateSettings | None = None) -> Counter[str]:
    gate = Gate(settings or settled())
    published: Counter[str] = Counter()
    for i, (phase, frame) in enumerate(frames):
        if gate.check(frame, now=i / FPS).publish:
            published[phase] += 1
    return published


def test_moving_items_are_published_and_a_still_scene_is_not():
    frames = footage()
    published = published_per_phase(frames)
    total = dict(Counter(phase for phase, _ in frames))
    assert published["entering"] >= total["entering"] - 2
    assert published["leaving"] >= total["leaving"] - 2
    # A resting item: the settle frames for the classifier to decide, then nothing.
    assert published["resting"] <= SETTLE + 1
    # Two empty stretches of 20 and 30 frames: the first frame and its settle frames, settle
    # frames after the item left, no heartbeat yet (10 s).
    assert published["empty"] <= 2 * (SETTLE + 1)
    assert sum(published.values()) < 0.6 * len(frames)


def test_a_placed_item_is_published_in_the_frame_it_appears():
    frames = footage()
    empty = [f for phase, f in frames if phase == "empty"][:15]
    resting = [f for phase, f in frames if phase == "resting"][:5]
    gate = Gate(settled())
    decisions = [gate.check(frame, now=i / FPS).publish for i, frame in enumerate(empty + resting)]
    assert decisions[len(empty)], "the first frame with the item was held back"
    assert not any(decisions[SETTLE + 1 : len(empty)])  # while the counter was still, nothing


def test_lighting_flicker_is_not_news():
    still = footage()[0][1]
    gate = Gate(settled())
    flicker = [
        np.clip(still.astype(np.float32) * f, 0, 255).astype(np.uint8)
        for f in (1.0, 1.12, 0.9) * 20
    ]
    decisions = [gate.check(frame, now=i / FPS).publish for i, frame in enumerate(flicker)]
    assert sum(decisions[SETTLE + 1 :]) == 0  # after the first frame and its settle frames


def test_heartbeat_on_a_still_counter():
    still = footage()[0][1]
    gate = Gate(settled(heartbeat_s=10))
    published = sum(gate.check(still, now=i / FPS).publish for i in range(60 * FPS))
    # The first frame and its settle frames, then one every 10 s: at 10.3 s, 20.3 s … 50.3 s.
    assert published == 1 + SETTLE + 5


def test_changes_outside_the_scan_area_are_ignored():
    frames = footage()
    # The item moves through the middle of the frame.
    outside = published_per_phase(frames, settled(roi=(0.0, 0.0, 1.0, 0.1)))  # top strip
    assert outside["entering"] == 0
    assert outside["leaving"] == 0
    inside = published_per_phase(frames, settled(roi=(0.0, 0.4, 1.0, 0.2)))  # middle band
    assert inside["entering"] >= 10
    left_half = published_per_phase(frames, settled(roi=(0.0, 0.0, 0.3, 1.0)))
    assert left_half["entering"] == 0  # it comes in from the right and rests in the centre
    assert left_half["leaving"] >= 3


def test_a_weight_change_wakes_a_still_gate_for_settle_frames():
    gate = Gate(GateSettings(settle_frames=3, heartbeat_s=1000))
    still = np.full((120, 160, 3), 90, np.uint8)
    sent = [gate.check(still, t).publish for t in range(12)]
    assert sent[4:] == [False] * 8, "a still scene kept being sent"
    gate.wake()
    assert [gate.check(still, t).publish for t in range(12, 16)] == [True, True, True, False]


def test_until_the_classifier_says_what_it_needs_every_frame_goes_out():
    still = footage()[0][1]
    gate = Gate(GateSettings())
    assert all(gate.check(still, now=i / FPS).publish for i in range(30))


def test_the_scene_in_view_is_settled_once_the_classifier_says_what_it_needs():
    still = footage()[0][1]
    gate = Gate(GateSettings(heartbeat_s=1000))
    assert gate.check(still, now=0).publish  # before the classifier has said: sent
    gate.settle_on(3)
    sent = [gate.check(still, now=i / FPS).publish for i in range(1, 8)]
    assert sent == [True, True, True, False, False, False, False]


def test_a_scene_the_classifier_has_decided_on_gets_no_more_settle_frames():
    still = np.full((120, 160, 3), 90, np.uint8)
    item = still.copy()
    item[30:90, 40:120] = 200
    gate = Gate(GateSettings(settle_frames=7, heartbeat_s=1000))
    first = gate.check(still, 0)
    gate.settled(first.sequence)
    changed = gate.check(item, 1)
    assert changed.publish, "a change of scene after a settled one was held back"
    assert gate.check(item, 2).publish  # not yet decided: settle frames go on
    gate.settled(changed.sequence)  # news about an older frame: the scene may be newer
    decided = gate.check(item, 3)
    assert decided.publish
    gate.settled(decided.sequence)
    assert [gate.check(item, t).publish for t in range(4, 10)] == [False] * 6


def test_something_as_bright_as_the_counter_but_of_another_colour_wakes_the_gate():
    """A red item on a grey counter of its brightness, or a hand on one of a skin's brightness:
    in grey they are the counter; in colour they are not."""
    for counter_grey, bgr in ((128, (128, 101, 180)), (182, (140, 170, 220))):
        counter = np.full((480, 640, 3), counter_grey, np.uint8)
        placed = counter.copy()
        placed[160:320, 240:400] = bgr
        grey = cv2.cvtColor(placed, cv2.COLOR_BGR2GRAY).astype(int)
        assert np.abs(grey - counter_grey).max() <= 1, "the scene must be as bright as the counter"
        gate = Gate(GateSettings(settle_frames=1, heartbeat_s=1000))
        sent = [gate.check(counter, t).publish for t in range(5)]
        assert sent == [True, True, False, False, False]
        assert gate.check(placed, 5).publish, f"{bgr} on grey {counter_grey} was not seen"
