"""One announcement per placement of a known item; nothing, unsure, or two claims are never a
scan; an unsure placement whose evidence a few candidates hold gets one question among them,
one with faint evidence one "not sure"."""

from __future__ import annotations

import dataclasses

import numpy as np

from classifier_node.decision import (
    NEW_ITEM,
    SWAP_FRAMES,
    UNSURE_PROMPT,
    Ask,
    Reading,
    ScanDecider,
    Thresholds,
)
from scantalk.contract import Guess

LABELS = ("banana", "lemon", "orange")
THRESHOLDS = Thresholds(
    threshold=0.9, presence=0.5, similarity=0.6, stable_frames=2, empty_below=0.05
)


def reading(share: tuple[float, float, float], presence: float, potato: float = 0.2) -> Reading:
    """A frame: shares of the built-in labels, presence, and similarity to a taught potato."""
    return Reading(LABELS, np.array(share), presence, ("potato",), np.array([potato]), [], [])


BANANA = reading((0.97, 0.02, 0.01), 0.8)
LEMON = reading((0.02, 0.95, 0.03), 0.7)
EMPTY = reading((0.3, 0.4, 0.3), 0.01)
UNSURE = reading((0.5, 0.3, 0.2), 0.4)  # produce, but which?
FAINT_BANANA = reading((0.97, 0.02, 0.01), 0.2)  # unknown produce the model finds banana-ish
FAINT = reading((0.5, 0.3, 0.2), 0.2)  # something, hardly produce the model knows
CITRUS = reading((0.05, 0.55, 0.40), 0.6)  # lemon or orange: ambiguous
POTATO = reading((0.3, 0.4, 0.3), 0.02, potato=0.8)  # unknown to the model, taught on the lane
POTATO_LIKE_LEMON = reading((0.02, 0.95, 0.03), 0.7, potato=0.8)


def looking(frame: Reading, *features: float) -> Reading:
    """The frame with the model's features of it."""
    return dataclasses.replace(frame, features=np.array(features, np.float32))


BARE = looking(EMPTY, 1, 0, 0, 0)  # nothing the model knows: the bare counter
MUG = looking(EMPTY, 0.3, 1, 0, 0)  # nothing the model knows, unlike the counter: a mushroom
BARE_AT_NIGHT = looking(EMPTY, 0.2, 0, 1, 0)  # the same counter under another light
NAMED_BANANA = looking(BANANA, 0, 0, 0.2, 1)


def verdicts(frames, thresholds=THRESHOLDS):
    decider = ScanDecider(thresholds)
    return [v for v in (decider.observe(frame) for frame in frames) if v]


def scans(frames, thresholds=THRESHOLDS):
    said = verdicts(frames, thresholds)
    return [v.label for v in said if isinstance(v, Guess) and v not in (UNSURE_PROMPT, NEW_ITEM)]


def prompts(frames):
    return sum(v is UNSURE_PROMPT for v in verdicts(frames))


def asks(frames):
    return [[g.label for g in v.candidates] for v in verdicts(frames) if isinstance(v, Ask)]


def test_an_item_held_still_is_one_scan():
    assert scans([BANANA] * 50) == ["banana"]


def test_the_decision_is_settled_once_named_asked_or_unsure_and_on_an_empty_counter():
    """The camera sends a scene's frames until then, and no more (`Prediction.settled`)."""
    for frames, deciding in (
        ([BANANA, BANANA], 2),  # named
        ([UNSURE] * 6, 6),  # asked, or "not sure"
        ([EMPTY], 1),
    ):
        decider = ScanDecider(THRESHOLDS)
        settled = []
        for frame in frames:
            decider.observe(frame)
            settled.append(decider.settled)
        assert settled.index(True) + 1 == deciding, frames
    decider = ScanDecider(THRESHOLDS)
    for frame in (BANANA, BANANA, EMPTY):
        decider.observe(frame)
    assert not decider.settled, "one empty frame does not end a placement: more are needed"
    decider.observe(EMPTY)
    assert decider.settled
    decider = ScanDecider(THRESHOLDS)
    for frame in (BANANA, BANANA, LEMON):
        decider.observe(frame)
    assert not decider.settled, "another item in view of the one named: more frames needed"


def test_an_item_swapped_with_no_empty_counter_between_is_named_on_its_second_frame():
    decider = ScanDecider(THRESHOLDS)
    said = [decider.observe(f) for f in [BANANA] * 6 + [LEMON, LEMON, LEMON]]
    assert [v.label if v else None for v in said] == [
        None, "banana", None, None, None, None, None, "lemon", None
    ]  # fmt: skip
    assert decider.settled


def test_a_clear_item_is_announced_on_its_second_frame():
    decider = ScanDecider(THRESHOLDS)
    assert decider.observe(BANANA) is None
    verdict = decider.observe(BANANA)
    assert verdict
    assert verdict.label == "banana"
    assert verdict.confidence >= 0.9


def test_evidence_is_gathered_over_the_placement():
    # One confident frame among unsure ones is not enough; a run of confident frames is.
    assert scans([UNSURE, BANANA, UNSURE, UNSURE]) == []
    assert scans([UNSURE] + [BANANA] * 8) == ["banana"]


def test_unsure_ambiguous_faint_or_empty_is_never_a_scan():
    assert scans([UNSURE] * 20 + [CITRUS] * 20 + [FAINT_BANANA] * 20 + [EMPTY] * 20) == []


def test_same_item_again_after_the_counter_empties():
    assert scans([BANANA] * 5 + [EMPTY] * 2 + [BANANA] * 5) == ["banana", "banana"]


def test_a_flicker_of_empty_or_an_unsure_wobble_is_not_a_new_placement():
    assert scans([BANANA] * 5 + [EMPTY] + [BANANA] * 5) == ["banana"]
    assert scans([BANANA] * 5 + [UNSURE] * 10 + [BANANA] * 5) == ["banana"]


def test_another_item_replacing_it_is_announced():
    assert scans([BANANA] * 5 + [LEMON] * 8) == ["banana", "lemon"]


def test_something_faint_for_a_while_gets_one_prompt_per_placement():
    assert prompts([FAINT] * (THRESHOLDS.unsure_after - 1)) == 0
    assert prompts([FAINT] * 50) == 1
    assert prompts([FAINT] * 10 + [EMPTY] * 2 + [FAINT] * 10) == 2
    assert asks([FAINT] * 50 + [FAINT_BANANA] * 50) == []


def test_an_unsure_placement_that_few_candidates_explain_is_one_question():
    assert asks([UNSURE] * (THRESHOLDS.unsure_after - 1)) == []
    assert asks([UNSURE] * 50) == [["banana", "lemon"]]  # 0.5 + 0.3 hold most of it
    assert asks([CITRUS] * 50) == [["lemon", "orange"]]
    assert asks([UNSURE] * 10 + [EMPTY] * 2 + [CITRUS] * 10) == [
        ["banana", "lemon"],
        ["lemon", "orange"],
    ]
    assert prompts([UNSURE] * 50) == 0


def test_a_question_carries_the_placements_features_to_learn_from():
    features = np.array([3.0, 4.0])
    framed = Reading(LABELS, np.array((0.05, 0.55, 0.40)), 0.6, (), np.array([]), [], [], features)
    decider = ScanDecider(THRESHOLDS)
    ask = next(v for v in (decider.observe(framed) for _ in range(20)) if v)
    assert isinstance(ask, Ask)
    np.testing.assert_allclose(ask.features, [0.6, 0.8], rtol=1e-5)


def test_a_choice_is_not_announced_again_in_its_placement():
    decider = ScanDecider(THRESHOLDS)
    assert [v for v in (decider.observe(CITRUS) for _ in range(20)) if v]
    decider.chosen("lemon")
    assert [decider.observe(LEMON) for _ in range(5)] == [None] * 5


def test_another_item_replacing_the_one_asked_about_makes_the_question_moot():
    asked = [CITRUS] * 20
    assert verdicts(asked + [BANANA] * 8)[1:] == [NEW_ITEM, Guess("banana", 0.97)]
    assert scans(asked + [BANANA] * 8) == ["banana"]
    # A passing hand or a turn of the item: fewer frames than a swap, or the offered labels
    # still there, leave the question open.
    assert NEW_ITEM not in verdicts(asked + [BANANA] * (SWAP_FRAMES - 1) + [CITRUS] * 5)
    assert NEW_ITEM not in verdicts(asked + [reading((0.5, 0.3, 0.2), 0.6)] * 10)
    # An item asked about, replaced by another the lane is unsure of: asked about afresh.
    pale_banana = reading((0.85, 0.1, 0.05), 0.4)  # below the presence an announcement needs
    assert asks(asked + [pale_banana] * 20) == [["lemon", "orange"], ["banana"]]


def test_prototypes_of_a_built_in_label_claim_it_only_where_the_model_agrees():
    """Learned from answers: a banana's prototypes must not name a lemon, nor faint produce."""

    def learned_banana(share: tuple[float, float, float], presence: float) -> Reading:
        return Reading(LABELS, np.array(share), presence, ("banana",), np.array([0.9]), [], [])

    assert scans([learned_banana((0.6, 0.3, 0.1), 0.4)] * 5) == ["banana"]
    assert scans([learned_banana((0.3, 0.6, 0.1), 0.4)] * 5) == []  # the model says lemon
    assert scans([learned_banana((0.6, 0.3, 0.1), 0.2)] * 5) == []  # hardly produce it knows
    # An empty counter close to what was learned (features carry some of the counter) is empty:
    # no placement, so no "not sure" and no question on it.
    empty_like = learned_banana((0.4, 0.3, 0.3), 0.01)
    assert verdicts([empty_like] * 30) == []


def test_no_prompt_or_question_once_the_item_was_announced():
    assert prompts([BANANA] * 5 + [FAINT] * 20) == 0
    assert asks([BANANA] * 5 + [UNSURE] * 20) == []


def test_a_taught_item_is_announced_though_the_model_does_not_know_it():
    assert scans([EMPTY] * 3 + [POTATO] * 5 + [EMPTY] * 3) == ["potato"]


def test_two_confident_claims_are_not_sure_rather_than_a_guess():
    assert scans([POTATO_LIKE_LEMON] * 20) == []
    assert len(verdicts([POTATO_LIKE_LEMON] * 20)) == 1


def test_thresholds_decide():
    strict = Thresholds(
        threshold=0.99, presence=0.5, similarity=0.9, stable_frames=2, empty_below=0.05
    )
    assert scans([BANANA] * 10 + [EMPTY] * 3 + [POTATO] * 10, strict) == []


def test_a_weighed_placement_is_never_empty_and_says_not_sure_instead_of_silence():
    decider = ScanDecider(THRESHOLDS)
    decider.weighed = True  # something lies on the scale, and the camera sees nothing it knows
    assert decider.placing
    said = [decider.observe(EMPTY) for _ in range(THRESHOLDS.unsure_after)]
    assert said[-1] is UNSURE_PROMPT
    assert decider.placing


def test_a_scale_that_weighs_nothing_ends_the_placement_and_keeps_a_hand_from_starting_one():
    decider = ScanDecider(THRESHOLDS)
    assert [decider.observe(BANANA) for _ in range(2)][-1] == Guess("banana", 0.97)
    decider.weighed = False  # the banana was lifted off: the scale is back at zero
    assert not decider.placing
    assert not any(decider.observe(BANANA) for _ in range(5))  # seen, but not on the scale
    decider.weighed = None  # moving again: the camera decides
    assert [decider.observe(BANANA) for _ in range(2)][-1] == Guess("banana", 0.97)


def test_something_at_rest_the_model_does_not_know_is_not_sure_never_silence():
    """A mushroom the model takes for a maraca holds as little produce probability as the bare
    counter: it looks unlike the counter, so it is something, and the shopper hears so."""
    decider = ScanDecider(THRESHOLDS)
    said = [decider.observe(f) for f in [BARE] * 3 + [MUG] * THRESHOLDS.unsure_after]
    assert said == [None] * (3 + THRESHOLDS.unsure_after - 1) + [UNSURE_PROMPT]
    assert decider.settled, "the camera need not send more of it"
    assert [decider.observe(BARE) for _ in range(THRESHOLDS.stable_frames)] == [None] * 2
    assert not decider.placing, "lifting it ends its placement"
    assert prompts([BARE] * 3 + [MUG] * 20 + [BARE] * 3 + [MUG] * 20) == 2


def test_a_hand_passing_over_the_counter_is_no_placement():
    decider = ScanDecider(THRESHOLDS)
    for frame in [BARE] * 3 + [MUG] * 30:
        assert decider.observe(frame, moving=True) is None
        assert not decider.placing


def test_a_model_without_features_cannot_see_the_unknown_and_stays_silent_on_it():
    assert verdicts([EMPTY] * 30) == []


def test_the_counter_under_a_new_light_is_learned_when_a_named_item_is_lifted():
    decider = ScanDecider(THRESHOLDS)
    for frame in [BARE] * 3:
        decider.observe(frame)
    # The light changes: the lane cannot tell the new look from something unknown ...
    first_night = [decider.observe(f) for f in [BARE_AT_NIGHT] * 20]
    assert first_night.count(UNSURE_PROMPT) == 1
    # ... until an item is named and lifted (the hand taking it: the scene moving): what it
    # leaves at rest is the counter, by either light.
    named = [decider.observe(f) for f in [NAMED_BANANA] * 3]
    named += [decider.observe(BARE_AT_NIGHT, moving=True) for _ in range(2)]
    assert [v.label for v in named if v] == ["banana"]
    assert not decider.placing
    assert [decider.observe(f) for f in [BARE_AT_NIGHT] * 20 + [BARE] * 20] == [None] * 40
    assert not decider.placing


def test_a_light_changed_under_an_item_is_learned_when_the_item_is_lifted():
    """The camera's gate sends no frame for a change of light alone: the new look first shows
    under an item, and what the item leaves at rest is the counter."""
    decider = ScanDecider(THRESHOLDS)
    said = [decider.observe(f) for f in [BARE] * 3 + [NAMED_BANANA] * 3]
    said.append(decider.observe(BARE_AT_NIGHT, moving=True))
    said += [decider.observe(BARE_AT_NIGHT) for _ in range(20)]
    assert [v.label for v in said if v] == ["banana"]
    assert not decider.placing
    assert decider.settled


def test_a_scene_still_moving_is_not_settled():
    """The camera keeps sending it, so what comes to rest is judged."""
    decider = ScanDecider(THRESHOLDS)
    for frame in [BARE] * 3:
        decider.observe(frame)
    decider.observe(MUG, moving=True)
    assert not decider.placing
    assert not decider.settled
    decider.observe(BARE)
    assert decider.settled


def test_an_ambiguous_item_after_something_unknown_is_asked_about():
    frames = [BARE] * 3 + [MUG] * (THRESHOLDS.unsure_after + 2) + [CITRUS] * 20
    assert prompts(frames) == 1
    assert asks(frames) == [["lemon", "orange"]]


def test_another_model_learns_the_counter_anew():
    decider = ScanDecider(THRESHOLDS)
    decider.observe(BARE)
    decider.new_model()  # its features are 3 wide, not 4
    assert [decider.observe(looking(EMPTY, 0, 1, 0)) for _ in range(20)] == [None] * 20
    assert not decider.placing


def test_a_known_item_after_something_unknown_is_named_on_its_own_frames():
    """A counter under a light not yet learned, then a banana: the banana's evidence is not
    diluted by the frames before it, and its placement gets no second earcon."""
    decider = ScanDecider(THRESHOLDS)
    for frame in [BARE] * 3 + [MUG] * (THRESHOLDS.unsure_after - 2):
        assert decider.observe(frame) is None
    assert decider.placing
    said = [decider.observe(f) for f in [NAMED_BANANA] * THRESHOLDS.stable_frames]
    assert said[-1] == Guess("banana", 0.97)
