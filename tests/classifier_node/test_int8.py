"""The int8 produce model answers like the fp32 one, photo by photo, on every target CPU.

The int8 model (`script/quantize_produce.py`) is quantised so that its integer maths cannot
saturate: dense convolutions are U8U8 (widened to int16, summed in int32 on AVX2), depthwise ones
run in MLAS's depthwise kernel, which sums in int32. AVX2 without VNNI, AVX512-VNNI and ARM64 then
compute the same integers, so what separates int8 from fp32 is quantisation error alone, and that
is what this test bounds: the bounds below are about twice the worst error measured on these
photos (EfficientNet-Lite0/1/2 int8 against fp32, onnxruntime 1.32, 2 threads):

    worst |p_int8 - p_fp32| per photo: 0.17 / 0.15 / 0.09  -> PROBABILITY_TOLERANCE 0.3
    lowest features cosine per photo:  0.947 / 0.948 / 0.958 -> FEATURES_COSINE 0.89 (2x 1-cos)
    top label: the same wherever fp32's top-1 leads its runner-up by TOP_MARGIN (0.2) or more
    (21-26 of the 67 photos; no disagreement measured on any of them)

A model quantised with full-range u8s8 weights (the old scheme) saturates `vpmaddubsw` on a CPU
with AVX2 but no VNNI, and fails here on that CPU: its probabilities move by up to 0.64, its
features' cosine drops to 0.56 and its top label changes on 4 clear photos (lite0).

"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from classifier_node.model import Model
from scantalk.scene import TUXPAINT_FOOD, photo_frame
from scantalk.settings import BUILT_IN_MODELS

FP32, INT8 = BUILT_IN_MODELS / "produce", BUILT_IN_MODELS / "produce-int8"

PROBABILITY_TOLERANCE = 0.3
FEATURES_COSINE = 0.89
TOP_MARGIN = 0.2


@cache
def food_frames() -> tuple[tuple[str, np.ndarray], ...]:
    photos = sorted(TUXPAINT_FOOD.rglob("*.png"))
    assert len(photos) >= 50, f"expected tuxpaint's food photos in {TUXPAINT_FOOD}"
    return tuple((str(p.relative_to(TUXPAINT_FOOD)), photo_frame(p)) for p in photos)


def differences(fp32: Path, int8: Path) -> list[dict]:
    """Per photo: the largest probability difference, the features' cosine, and whether the top
    labels agree where fp32's top-1 is clear (None where it is not)."""
    reference, quantised = Model(fp32), Model(int8)
    assert reference.can_learn, "fp32 needs a features output"
    assert quantised.can_learn, "int8 needs a features output"
    rows = []
    for photo, frame in food_frames():
        tensor = reference.preprocess(frame)
        p32, f32 = reference.run(tensor)
        p8, f8 = quantised.run(tensor)
        assert f32 is not None
        assert f8 is not None
        first, second = np.sort(p32)[::-1][:2]
        rows.append(
            dict(
                photo=photo,
                probability=float(np.abs(p8 - p32).max()),
                cosine=float(f32 @ f8 / np.linalg.norm(f32) / np.linalg.norm(f8)),
                agrees=bool(p8.argmax() == p32.argmax()) if first - second >= TOP_MARGIN else None,
            )
        )
    return rows


def failures(rows: list[dict]) -> list[str]:
    found = []
    for row in rows:
        if row["probability"] > PROBABILITY_TOLERANCE:
            found.append(f"{row['photo']}: probabilities differ by {row['probability']:.3f}")
        if row["cosine"] < FEATURES_COSINE:
            found.append(f"{row['photo']}: features cosine {row['cosine']:.3f}")
        if row["agrees"] is False:
            found.append(f"{row['photo']}: top label differs where fp32 is clear")
    return found


def test_int8_answers_like_fp32_on_every_food_photo():
    rows = differences(FP32, INT8)
    assert sum(row["agrees"] is not None for row in rows) >= 10, "too few clear photos to judge"
    found = failures(rows)
    assert not found, f"{len(found)} int8 differences beyond tolerance:\n" + "\n".join(found)
