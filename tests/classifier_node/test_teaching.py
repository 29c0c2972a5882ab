"""Teaching on the lane: an item the model does not know is taught from photos, announced on
scenes composed differently, and silenced again by `forget`; until then it is "not sure"."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from scantalk.contract import FrameInfo, NodeName, Topics
from scantalk.scene import TUXPAINT_FOOD, Stage, cutout, placement, stagings
from testbench.bus import wait_online

T = Topics("lane-1")
POTATO = TUXPAINT_FOOD / "vegetables/potato.png"


def teaching_photos(folder: Path, photo: Path, count: int = 10) -> Path:
    """Photos as an operator takes them: plain counters, upright, centred."""
    folder.mkdir()
    item = cutout(photo)
    for i, staging in enumerate(stagings("teaching", count, seed=7)):
        (folder / f"{i:02d}.jpg").write_bytes(Stage(staging, seed=i).frame(item))
    return folder


def place(bus, item_photo: Path, staging_index: int, tag: str) -> None:
    """One placement on a test staging (never a teaching one), frame by frame: the item's size,
    turn, place, hand and JPEG quality change, the lane's counter and light do not."""
    lane, staging = (
        stagings("testing", 4, seed=99)[0],
        stagings("testing", 4, seed=99)[staging_index],
    )
    staging = dataclasses.replace(staging, counter=lane.counter, light=lane.light, tint=lane.tint)
    for i, (_, jpeg) in enumerate(placement(Stage(staging), cutout(item_photo))):
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = FrameInfo(frame_id=f"{tag}-{i}").to_properties()
        bus.client.publish(T.frame, jpeg, qos=0, properties=properties)
        bus.wait_for(
            T.prediction,
            lambda h, i=i: h.json()["frame_id"] == f"{tag}-{i}",
        )


def scantalk(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "scantalk", *args], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def reloads(bus, count: int) -> None:
    """Wait until the classifier has read its taught items `count` times."""
    bus.wait_for(
        T.stats(NodeName.CLASSIFIER),
        lambda h: h.json()["counters"].get("taught_reloads", 0) >= count,
    )


def items_said(bus) -> list[str]:
    said = bus.matching(T.say, lambda h: h.json()["kind"] != "earcon")
    return [h.json()["text"] for h in said]


@pytest.mark.timeout(240)
def test_a_taught_item_is_announced_and_forget_silences_it(bus, node_env, start_node, tmp_path):
    start_node("classifier", node_env)
    wait_online(bus, "classifier")

    place(bus, POTATO, 0, "before")
    assert not bus.matching(T.scan), "a potato was named before it was taught"
    assert items_said(bus) == ["Unsure, use lookup."]

    photos = teaching_photos(tmp_path / "potato-photos", POTATO)
    said = scantalk(node_env, "teach", "potato", str(photos), "--name", "Potato", "--plu", "4072")
    assert "taught potato (Potato) from 10 photos" in said
    (change,) = bus.wait_for(T.taught)
    assert (change.json()["label"], change.json()["action"]) == ("potato", "taught")
    reloads(bus, 1)

    for k in (1, 2, 3):
        place(bus, POTATO, k, f"taught-{k}")
    scans = [h.json() for h in bus.matching(T.scan)]
    assert [(s["label"], s["display_name"], s["plu"]) for s in scans] == [
        ("potato", "Potato", "4072")
    ] * 3, "each placement of the taught potato is one scan"
    # The same item again within seconds: each scan is heard as one more.
    assert items_said(bus)[1:] == ["Potato", "Potato, again", "Potato, again"]

    scantalk(node_env, "forget", "potato")
    reloads(bus, 2)
    place(bus, POTATO, 0, "forgotten")
    assert len(bus.matching(T.scan)) == 3, "a forgotten item was still named"
    assert items_said(bus)[-1] == "Unsure, use lookup."


def test_forgetting_an_item_never_taught_says_so(node_env):
    done = subprocess.run(
        [sys.executable, "-m", "scantalk", "forget", "dragonfruit"], env=node_env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "dragonfruit was neither taught nor learned on this lane" in done.stderr


def test_teaching_a_model_without_features_says_why(node_env, tmp_path):
    from testbench import custom_vision

    folder = custom_vision.build(tmp_path / "cv", layout="single")
    photos = teaching_photos(tmp_path / "photos", POTATO, count=3)
    done = subprocess.run(
        [sys.executable, "-m", "scantalk", "teach", "potato", str(photos)],
        env={**node_env, "SCANTALK_MODEL_DIR": str(folder)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "has no `features` output" in done.stderr


def test_teaching_from_the_running_camera(bus, node_env, start_node, tmp_path):
    photos = teaching_photos(tmp_path / "onion-photos", TUXPAINT_FOOD / "vegetables/onion.png", 3)
    start_node(
        "camera", node_env, SCANTALK_CAMERA_SOURCE=str(photos), SCANTALK_CAMERA_GATE="no",
        SCANTALK_CAMERA_FPS="5", SCANTALK_CAMERA_DWELL="1", SCANTALK_CAMERA_GAP="0",
    )  # fmt: skip
    wait_online(bus, "camera")
    said = scantalk(node_env, "teach", "--from-camera", "onion", "--count", "5", "--plu", "4082")
    assert "taught onion (Onion) from 5 photos" in said
    (change,) = bus.wait_for(T.taught)
    assert change.json()["photos"] == 5
    catalog = (tmp_path / "data" / "taught" / "produce" / "catalog.csv").read_text()
    assert "onion,4082,yes" in catalog
