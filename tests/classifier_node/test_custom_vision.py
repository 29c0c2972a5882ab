"""Azure Custom Vision ONNX exports load unchanged, in every output layout real exports have,
read as their metadata says; their `Negative` tag means nothing is there."""

from __future__ import annotations

import numpy as np
import pytest

from classifier_node.decision import ScanDecider
from classifier_node.model import Model
from classifier_node.settings import ClassifierSettings
from scantalk.settings import SettingError
from testbench.custom_vision import LAYOUTS, build

RED = np.zeros((48, 64, 3), np.uint8) + np.array([255, 0, 0], np.uint8)  # RGB
BLUE = RED[:, :, ::-1].copy()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bgr_model_fed_pure_red_says_red(tmp_path, layout):
    model = Model(build(tmp_path / "m", layout=layout, pixel_format="Bgr8"))
    assert model.kind == ("custom-vision-map" if layout == "classic" else "probabilities")
    assert model.preprocessing.bgr
    assert model.ranked(model.classify(RED))[0].label == "red"
    assert model.ranked(model.classify(BLUE))[0].label == "blue"


def test_rgb_model_with_unit_range_reads_channels_in_its_order(tmp_path):
    # The same graph declared Rgb8: its channel 0 is now red, which it calls "blue".
    model = Model(
        build(tmp_path / "m", layout="single", pixel_format="Rgb8", pixel_range="Normalized_0_1")
    )
    assert not model.preprocessing.bgr
    assert model.ranked(model.classify(RED))[0].label == "blue"
    assert model.preprocess(RED).max() == pytest.approx(1.0)


def test_input_size_comes_from_the_model_and_the_crop_is_central(tmp_path):
    model = Model(build(tmp_path / "m", layout="single", size=40))
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, 100:200] = 255  # a white centre square between black side bands
    tensor = model.preprocess(image)
    assert tensor.shape == (1, 3, 40, 40)
    assert tensor.min() == 255  # the shorter side was resized and the centre kept


def test_classic_probabilities_follow_labels_txt(tmp_path):
    model = Model(build(tmp_path / "m", layout="classic"))
    probabilities = model.classify(RED)
    assert probabilities.shape == (3,)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert probabilities.argmax() == 2


def test_labels_that_do_not_match_the_model_are_refused(tmp_path):
    folder = build(tmp_path / "m", layout="label-and-probabilities")
    (folder / "labels.txt").write_text("only\ntwo\n")
    with pytest.raises(SettingError, match=r"an output of 2 values as labels\.txt has \(loss"):
        Model(folder)


def test_a_file_that_is_not_onnx_is_refused_naming_the_setting(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"not a model")
    (folder / "labels.txt").write_text("a\n")
    with pytest.raises(SettingError, match="SCANTALK_MODEL_DIR"):
        Model(folder)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_custom_visions_negative_tag_is_never_a_scan(tmp_path, layout):
    """`Negative` is Custom Vision's "none of my tags": an empty counter, with no catalog."""
    model = Model(build(tmp_path / "m", layout=layout, labels=["cat", "dog", "Negative"]))
    decider = ScanDecider(ClassifierSettings().thresholds)
    # Channel 2 of a BGR tensor is red: a red frame is all `Negative`.
    assert model.ranked(model.classify(RED))[0].label == "Negative"
    assert [decider.observe(model.read(RED)) for _ in range(20)] == [None] * 20
    assert model.read(RED).presence < 0.05
    assert [decider.observe(model.read(BLUE)) for _ in range(2)][-1].label == "cat"


def test_a_label_the_catalog_does_not_list_speaks_as_itself_tidied(tmp_path):
    model = Model(
        build(tmp_path / "m", layout="single", labels=["fuji_apple", "Blood-orange", "x"])
    )
    names = [p.name("en") for p in model.folder.products]
    assert names == ["Fuji apple", "Blood orange", "X"]
