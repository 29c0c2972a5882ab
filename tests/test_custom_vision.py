"""Azure Custom Vision ONNX exports load unchanged, both kinds, read as their metadata says."""

from __future__ import annotations

import numpy as np
import pytest

from classifier_node.model import Model
from scantalk.settings import SettingError
from testbench.custom_vision import build

RED = np.zeros((48, 64, 3), np.uint8) + np.array([255, 0, 0], np.uint8)  # RGB
BLUE = RED[:, :, ::-1].copy()


@pytest.mark.parametrize("classic", [True, False], ids=["classLabel-loss", "single-output"])
def test_bgr_model_fed_pure_red_says_red(tmp_path, classic):
    model = Model(build(tmp_path / "m", classic=classic, pixel_format="Bgr8"))
    assert model.kind == ("custom-vision-map" if classic else "probabilities")
    assert model.preprocessing.bgr
    assert model.ranked(model.classify(RED))[0].label == "red"
    assert model.ranked(model.classify(BLUE))[0].label == "blue"


def test_rgb_model_with_unit_range_reads_channels_in_its_order(tmp_path):
    # The same graph declared Rgb8: its channel 0 is now red, which it calls "blue".
    model = Model(
        build(tmp_path / "m", classic=False, pixel_format="Rgb8", pixel_range="Normalized_0_1")
    )
    assert not model.preprocessing.bgr
    assert model.ranked(model.classify(RED))[0].label == "blue"
    assert model.preprocess(RED).max() == pytest.approx(1.0)


def test_input_size_comes_from_the_model_and_the_crop_is_central(tmp_path):
    model = Model(build(tmp_path / "m", classic=False, size=40))
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, 100:200] = 255  # a white centre square between black side bands
    tensor = model.preprocess(image)
    assert tensor.shape == (1, 3, 40, 40)
    assert tensor.min() == 255  # the shorter side was resized and the centre kept


def test_classic_probabilities_follow_labels_txt(tmp_path):
    model = Model(build(tmp_path / "m", classic=True))
    probabilities = model.classify(RED)
    assert probabilities.shape == (3,)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert probabilities.argmax() == 2


def test_labels_that_do_not_match_the_model_are_refused(tmp_path):
    folder = build(tmp_path / "m", classic=False)
    (folder / "labels.txt").write_text("only\ntwo\n")
    with pytest.raises(SettingError, match=r"labels\.txt has 2 labels but the model outputs 3"):
        Model(folder)


def test_a_file_that_is_not_onnx_is_refused_naming_the_setting(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"not a model")
    (folder / "labels.txt").write_text("a\n")
    with pytest.raises(SettingError, match="SCANTALK_MODEL_DIR"):
        Model(folder)
