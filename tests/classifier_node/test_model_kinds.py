"""Every kind of model a store brings works lane-long: Custom Vision's export layouts with their
`Negative` tag, AutoML's image classifiers (`labels.json`, logits) with a `background` class,
and AutoML's layout on a real recogniser (`script/export_automl.py`). On each, the same item
placed twice is announced twice, an empty counter ends the placement, and no "nothing there"
class is ever a scan or an alternative."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from PIL import Image

from classifier_node.decision import ScanDecider
from classifier_node.evaluation import evaluate_photos, rows
from classifier_node.model import IMAGENET_MEAN, Kind, Model
from classifier_node.settings import ClassifierSettings, InputHints
from scantalk.contract import FrameInfo, Topics
from scantalk.scene import TUXPAINT_FOOD, TUXPAINT_STAMPS, empty_scene, photo_frame
from scantalk.settings import SettingError
from testbench import CHECKOUT
from testbench.bus import wait_online
from testbench.custom_vision import AUTOML, LAYOUTS, build

T = Topics("lane-1")
EXPORT_AUTOML = CHECKOUT / "script" / "export_automl.py"
GREY = np.full((48, 64, 3), 128, np.uint8)
"""The empty counter of the stand-ins: no colour stands out."""
BLUE, RED = np.zeros((48, 64, 3), np.uint8), np.zeros((48, 64, 3), np.uint8)
BLUE[:, :, 2], RED[:, :, 0] = 255, 255  # RGB


def stand_in(folder: Path, layout: str) -> tuple[Path, np.ndarray, str, str]:
    """A stand-in of `layout` with its "nothing there" class: (folder, an item's frame, its
    label, the nothing label). Custom Vision's is `Negative`; an AutoML store names its own
    `background`, which its catalog marks."""
    if layout == AUTOML:  # RGB: channel 0, red, scores `cat`
        build(folder, layout=layout, labels=["cat", "dog", "background"])
        (folder / "catalog.csv").write_text("label,plu,announce\nbackground,,empty\n")
        return folder, RED, "cat", "background"
    build(folder, layout=layout, labels=["cat", "dog", "Negative"])  # BGR: blue scores `cat`
    return folder, BLUE, "cat", "Negative"


def exported(folder: Path, *flags: str) -> Path:
    subprocess.run([sys.executable, str(EXPORT_AUTOML), str(folder), *flags], check=True)
    return folder


def send_frame(bus, data: bytes, frame_id: str) -> None:
    properties = Properties(PacketTypes.PUBLISH)
    properties.UserProperty = FrameInfo(frame_id=frame_id).to_properties()
    bus.client.publish(T.frame, data, qos=0, properties=properties)


def jpeg(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=95)
    return out.getvalue()


@pytest.mark.parametrize("layout", [*LAYOUTS, AUTOML])
def test_a_nothing_class_that_leads_is_an_empty_counter_whatever_crumbs_items_get(tmp_path, layout):
    folder, item, label, nothing = stand_in(tmp_path / "m", layout)
    model = Model(folder)
    probabilities = model.classify(GREY)
    assert model.ranked(probabilities)[0].label == nothing
    assert 0.03 < 1 - probabilities.max() < 0.05  # the crumbs that kept a placement open
    assert model.read(GREY).presence == 0
    assert model.sees_empty_counter
    assert json.loads(json.dumps(model.describe()))["empty_labels"] == [nothing]
    decider = ScanDecider(ClassifierSettings().thresholds)
    said = [decider.observe(model.read(frame)) for frame in [item] * 4 + [GREY] * 4 + [item] * 4]
    assert [g.label for g in said if g] == [label, label]
    assert nothing not in {g.label for g in model.read(item).candidates}


def test_without_a_catalog_mark_an_automl_background_is_an_item_so_the_lane_says_so(tmp_path):
    build(tmp_path / "m", layout=AUTOML, labels=["cat", "dog", "background"])
    model = Model(tmp_path / "m")
    assert not model.sees_empty_counter
    assert model.empty_counter.startswith("by no rule")
    assert "announce=empty" in model.empty_counter


def test_a_model_with_no_nothing_class_is_told_apart_from_one_that_reads_presence(tmp_path):
    tagless = Model(build(tmp_path / "m", layout="single"))
    assert not tagless.sees_empty_counter
    info = json.loads(
        subprocess.run(
            [sys.executable, "-m", "scantalk", "model", "info", str(tmp_path / "m")],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    assert info["empty_labels"] == []
    assert "Negative tag" in info["empty_counter"]
    produce = Model(ClassifierSettings().model_dir)
    assert produce.sees_empty_counter
    assert produce.blank_presence < 0.1


def test_automl_folders_are_read_as_microsoft_documents_them(tmp_path):
    model = Model(exported(tmp_path / "automl"))
    assert (model.kind, model.folder.labels_file) == (Kind.AUTOML, "labels.json")
    assert (model.input_name, model.output) == ("input1", "output1")
    p = model.preprocessing
    assert (p.height, p.width, p.bgr, p.crop) == (224, 224, False, 224 / 256)
    assert not model.can_learn
    assert "other" in model.labels
    assert "other" not in {p.label for p in model.folder.items}
    # A labels.txt added by hand, as users did before, changes nothing.
    (tmp_path / "automl" / "labels.txt").write_text("\n".join(reversed(model.labels)))
    assert Model(tmp_path / "automl").labels == model.labels


def test_automl_preprocessing_is_the_documented_resize_then_centre_crop(tmp_path):
    """Microsoft's PyTorch recipe, `Resize(256)`, `CenterCrop(224)`, ImageNet mean/std, done
    here with Pillow: ours matches it, and cropping the whole shorter side does not."""
    model = Model(build(tmp_path / "m", layout=AUTOML))
    frame = photo_frame(TUXPAINT_FOOD / "fruit/banana.png")  # 640x480
    image = Image.fromarray(frame)
    w, h = image.size
    resized = image.resize((round(w * 256 / h), 256), Image.Resampling.BILINEAR)
    left, top = (resized.width - 224) // 2, (256 - 224) // 2
    crop = np.asarray(resized.crop((left, top, left + 224, top + 224)), np.float32) / 255
    reference = ((crop - IMAGENET_MEAN) / (0.229, 0.224, 0.225)).transpose(2, 0, 1)[None]
    ours = model.preprocess(frame)
    model.preprocessing = dataclasses.replace(model.preprocessing, crop=1.0)
    whole = model.preprocess(frame)
    assert np.abs(ours - reference).mean() < 0.05
    assert np.abs(whole - reference).mean() > 3 * np.abs(ours - reference).mean()


def test_what_an_automl_file_cannot_say_is_a_setting_never_a_guess(tmp_path):
    folder = build(tmp_path / "m", layout=AUTOML, size=256)
    with pytest.raises(SettingError, match=r"SCANTALK_MODEL_RESIZE.*its crop is 256"):
        Model(folder)
    with pytest.raises(SettingError, match=r"SCANTALK_MODEL_RESIZE=200.*at least the model's crop"):
        Model(folder, hints=InputHints(resize=200))
    assert Model(folder, hints=InputHints(resize=292)).preprocessing.crop == 256 / 292
    normalised = Model(
        build(tmp_path / "n", layout=AUTOML, onnx_normalization=True),
        hints=InputHints(onnx_normalization=True),
    )
    assert normalised.preprocess(np.full((8, 8, 3), 200, np.uint8)).max() == 200
    # RGB input: red is channel 0, which scores the first label.
    assert normalised.ranked(normalised.classify(RED))[0].label == "blue"
    (tmp_path / "m" / "labels.json").write_text('{"0": "cat"}')
    with pytest.raises(SettingError, match=r"labels\.json holding a list"):
        Model(folder)


@pytest.fixture(scope="module")
def known_photos(tmp_path_factory) -> Path:
    """The evaluation's known produce and non-produce, one folder per label."""
    folder = tmp_path_factory.mktemp("photos")
    for row in rows():
        if row["role"] in ("known", "other"):
            label = row["label"] if row["role"] == "known" else "nothing"
            (folder / label).mkdir(exist_ok=True)
            (folder / label / Path(row["photo"]).name).symlink_to(TUXPAINT_STAMPS / row["photo"])
    return folder


@pytest.mark.parametrize(("crop", "resize"), [(224, None), (256, 292)])
def test_each_wrong_handling_of_an_automl_model_scores_worse(tmp_path, known_photos, crop, resize):
    """`scantalk model eval --photos` on AutoML's layout of the default recogniser: read right,
    it names the most; BGR and logits taken as probabilities are far worse, and no std no
    better. Cropping the whole shorter side is checked by the tensor above: on these centred
    photos it scores the same."""
    thresholds = ClassifierSettings().thresholds
    folder = exported(tmp_path / "automl", "--crop", str(crop))
    hints = InputHints(resize=resize)

    def score(**change) -> dict:
        model = Model(folder, hints=hints)
        if change.pop("logits_as_probabilities", False):
            model.kind = Kind.PROBABILITIES
        model.preprocessing = dataclasses.replace(model.preprocessing, **change)
        return evaluate_photos(model, known_photos, thresholds)

    right = score()
    bgr = score(bgr=True)
    no_std = score(scale=(1 / 255,) * 3, offset=tuple(-m for m in IMAGENET_MEAN))
    logits = score(logits_as_probabilities=True)
    assert right["known"] >= 0.5
    assert right["wrong_names"] == 0
    assert right["nothing_announced"] == 0
    assert bgr["known"] <= right["known"] - 0.25
    assert logits["known"] <= right["known"] - 0.25
    assert no_std["known"] <= right["known"]


LANE = [("item", 4), ("empty", 4), ("item", 4), ("empty", 4)]
"""Two placements of the same item, each followed by the empty counter."""


@pytest.mark.parametrize("kind", [*LAYOUTS, AUTOML, "automl-produce"])
def test_the_same_item_placed_twice_is_announced_twice_on_every_model_kind(
    tmp_path, bus, node_env, start_node, kind
):
    if kind == "automl-produce":
        folder, label, nothing = exported(tmp_path / "m"), "banana", "other"
        item = photo_frame(TUXPAINT_FOOD / "fruit/banana.png")
        empty = empty_scene()
    else:
        folder, item, label, nothing = stand_in(tmp_path / "m", kind)
        empty = GREY
    start_node("classifier", node_env, SCANTALK_MODEL_DIR=str(folder))
    wait_online(bus, "classifier")
    frames = {"item": jpeg(item), "empty": jpeg(empty)}
    n = 0
    for scene, count in LANE:
        for _ in range(count):
            send_frame(bus, frames[scene], f"f-{n}")
            bus.wait_for(
                T.prediction,
                lambda h, n=n: h.json()["frame_id"] == f"f-{n}",
            )
            n += 1
    scans = [h.json() for h in bus.matching(T.scan)]
    assert [s["label"] for s in scans] == [label, label]
    assert nothing not in {a["label"] for s in scans for a in s["alternatives"]}
    said = bus.matching(T.say, lambda h: h.json()["kind"] != "earcon")
    assert all(h.json()["scan_id"] for h in said)  # no "not sure", no question
