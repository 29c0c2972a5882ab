"""`scantalk model info` and `scantalk model eval`, on the shipped models and tuxpaint photos."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scantalk.settings import BUILT_IN_MODELS
from testbench.custom_vision import build
from testbench.eval_set import make as make_eval_set


def scantalk(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "scantalk", *args], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def eval_set(tmp_path_factory):
    return make_eval_set(tmp_path_factory.mktemp("tuxpaint-eval"))


@pytest.fixture(scope="module")
def results(eval_set):
    return {
        name: json.loads(
            scantalk("model", "eval", str(BUILT_IN_MODELS / name), str(eval_set), "--json")
        )
        for name in ("produce", "produce-int8")
    }


def test_info_shows_inputs_outputs_preprocessing_and_labels(tmp_path):
    info = json.loads(scantalk("model", "info", str(build(tmp_path / "cv", classic=True))))
    assert info["kind"] == "custom-vision-map"
    assert [i["name"] for i in info["inputs"]] == ["data"]
    assert {o["name"] for o in info["outputs"]} == {"classLabel", "loss"}
    assert info["preprocessing"].startswith("BGR, NominalRange_0_255")
    assert info["labels"] == ["blue", "green", "red"]


def test_eval_reports_per_class_accuracy_confusion_and_latency(results):
    result = results["produce"]
    assert result["per_class"]["banana"] == {"images": 1, "correct": 1, "accuracy": 1.0}
    assert result["per_class"]["nothing"]["images"] >= 30
    labels = result["confusion"]["labels"]
    assert labels[-1] == "nothing"
    assert sum(map(sum, result["confusion"]["rows"].values())) == result["images"]
    assert result["latency_ms"]["median"] > 0


def test_default_model_knows_produce_and_rarely_scans_what_is_not(results):
    assert results["produce"]["produce_accuracy"] >= 0.65
    assert results["produce"]["false_scans"] <= 3


def test_int8_model_is_within_one_photo_of_fp32(results):
    """int8 kernels differ between CPUs (AVX2 without VNNI saturates u8s8 products): on the 17
    produce photos, one photo either way is what every target CPU meets."""
    fp32, int8 = results["produce"], results["produce-int8"]
    photos = sum(row["images"] for label, row in fp32["per_class"].items() if label != "nothing")
    assert int8["produce_accuracy"] >= fp32["produce_accuracy"] - 1 / photos - 1e-9
    assert int8["false_scans"] <= fp32["false_scans"] + 1


def test_eval_text_report_is_readable(eval_set):
    text = scantalk("model", "eval", str(BUILT_IN_MODELS / "produce"), str(eval_set))
    assert text.startswith("model produce: 52 images")
    assert "confusion (rows: truth, columns: judged)" in text
