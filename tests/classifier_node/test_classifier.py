"""The classifier on real photos, fed the way any program can: `mosquitto_pub -f photo.jpg`."""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from classifier_node.model import Model
from scantalk.contract import NodeName, Topics
from scantalk.scene import TUXPAINT_FOOD, empty_scene, photo_frame
from scantalk.settings import DEFAULT_MODEL_DIR
from testbench.bus import wait_online

T = Topics("lane-1")


def jpeg_of(name: str, folder) -> str:
    path = folder / (name.replace("/", "_") + ".jpg")
    cv2.imwrite(str(path), photo_frame(TUXPAINT_FOOD / name)[:, :, ::-1])
    return str(path)


def mosquitto_pub(port: int, path: str) -> None:
    subprocess.run(["mosquitto_pub", "-p", str(port), "-t", T.frame, "-f", path], check=True)


@pytest.mark.parametrize(
    ("photo", "label"),
    [
        ("fruit/banana.png", "banana"),
        ("fruit/lemon.png", "lemon"),
        ("fruit/apple_granny_smith.png", "granny_smith"),
        ("fruit/strawberry.png", "strawberry"),
        ("fruit/pineapple.png", "pineapple"),
        ("fruit/pomegranate.png", "pomegranate"),
        ("vegetables/broccoli.png", "broccoli"),
        ("vegetables/yellowpepper.png", "bell_pepper"),
        ("fruit/cherimoya.png", "custard_apple"),
    ],
)
def test_default_model_recognises_real_produce_photos(photo, label):
    model = Model(DEFAULT_MODEL_DIR)
    best = model.ranked(model.classify(photo_frame(TUXPAINT_FOOD / photo)))[0]
    assert best.label == label
    assert best.confidence >= 0.6


def test_empty_counter_is_no_produce():
    assert Model(DEFAULT_MODEL_DIR).classify(empty_scene()).sum() < 0.1


def test_corrupt_frame_is_logged_counted_and_skipped(bus, broker, node_env, start_node, tmp_path):
    start_node("classifier", node_env)
    wait_online(bus, "classifier")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a picture")
    mosquitto_pub(broker.port, str(tmp_path / "corrupt.jpg"))
    bus.wait_for(T.stats(NodeName.CLASSIFIER), lambda h: h.json()["counters"].get("rejected") == 1)
    assert "not a decodable image" in (tmp_path / "classifier.log").read_text()

    # The classifier goes on: a plain JPEG with no metadata, held for three frames, is a scan.
    banana = jpeg_of("fruit/banana.png", tmp_path)
    for shown in range(1, 4):
        mosquitto_pub(broker.port, banana)
        bus.wait_for(T.prediction, count=shown)
    (scan,) = bus.wait_for(T.scan)
    assert scan.json()["label"] == "banana"


def test_a_long_thin_image_is_classified_without_blowing_up(tmp_path):
    model = Model(DEFAULT_MODEL_DIR)
    strip = np.full((1, 40_000, 3), 200, np.uint8)
    assert model.preprocess(strip).shape == (1, 3, 224, 224)
    assert model.classify(strip).sum() < 0.5
