"""`scantalk model info` and `scantalk model eval`: composed placements through the lane's own
decision, on the shipped model; and your own labelled photos."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from scantalk.scene import TUXPAINT_STAMPS
from scantalk.settings import BUILT_IN_MODELS
from testbench.custom_vision import AUTOML, build


def scantalk(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "scantalk", *args], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def result():
    """One test staging per photo keeps this quick; the README's table uses six."""
    return json.loads(scantalk("model", "eval", "--taught", "--stagings", "1", "--json"))


def test_info_shows_inputs_outputs_preprocessing_and_labels(tmp_path):
    info = json.loads(scantalk("model", "info", str(build(tmp_path / "cv", layout="classic"))))
    assert info["kind"] == "custom-vision-map"
    assert [i["name"] for i in info["inputs"]] == ["data"]
    assert {o["name"] for o in info["outputs"]} == {"classLabel", "loss"}
    assert info["preprocessing"].startswith("BGR, NominalRange_0_255")
    assert info["labels"] == ["blue", "green", "red"]
    assert info["can_learn"] is False


def test_the_default_model_can_learn():
    info = json.loads(scantalk("model", "info", str(BUILT_IN_MODELS / "produce")))
    assert {o["name"] for o in info["outputs"]} == {"probabilities", "features"}
    assert info["can_learn"] is True


def test_eval_never_names_a_wrong_item_nor_anything_that_is_not_produce(result):
    assert result["wrong_names"] == 0
    assert result["nothing_announced"] == 0
    assert result["repeated"] == 0
    assert result["unknown_announced"] <= 0.2


def test_eval_reports_placements_per_class_confusion_and_latency(result):
    assert result["placements"] == 60
    assert result["per_class"]["broccoli"] == {
        "role": "known", "placements": 1, "correct": 1, "accuracy": 1.0, "chosen": 0
    }  # fmt: skip
    assert result["per_class"]["potato"]["role"] == "taught"
    assert result["known"] >= 0.25
    assert result["taught"] >= 0.5
    rows = result["confusion"]["rows"]
    assert sum(map(sum, rows.values())) == result["placements"]
    assert {"unknown", "other", "empty"} <= rows.keys()
    assert result["latency_ms"]["median"] > 0
    assert result["frames_to_scan"]["median"] >= 1


def test_eval_of_your_own_labelled_photos(tmp_path):
    for label, photo in [("banana", "food/fruit/banana.png"), ("nothing", "household/kettle.png")]:
        (tmp_path / label).mkdir()
        (tmp_path / label / "a.png").symlink_to(TUXPAINT_STAMPS / photo)
    text = scantalk("model", "eval", "--photos", str(tmp_path))
    assert "known items ending in the right item: 100.0% (announced: 100.0%" in text
    assert "empty counter and non-produce stated as fact: 0; asked about: 0" in text


@pytest.mark.parametrize("layout", ["classic", "automl"])
def test_eval_of_labelled_photos_works_on_a_store_model_of_either_export(tmp_path, layout):
    nothing = "Negative" if layout == "classic" else "background"
    folder = build(tmp_path / "model", layout=layout, labels=["cat", "dog", nothing])
    (folder / "catalog.csv").write_text(f"label,plu,announce\n{nothing},,empty\n")
    cat = (0, 0, 255) if layout != AUTOML else (255, 0, 0)  # channel 0: BGR's blue, RGB's red
    for label, colour in [("cat", cat), ("nothing", (200, 200, 200))]:
        (tmp_path / "photos" / label).mkdir(parents=True)
        Image.new("RGB", (64, 48), colour).save(tmp_path / "photos" / label / "a.png")
    text = scantalk("model", "eval", str(folder), "--photos", str(tmp_path / "photos"))
    assert "known items ending in the right item: 100.0% (announced: 100.0%" in text
    assert "empty counter and non-produce stated as fact: 0; asked about: 0" in text
