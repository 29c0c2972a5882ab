"""A whole lane on a real broker: a banana is shown, spoken, and recorded, once."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from array import array
from pathlib import Path

from scantalk.contract import Topics
from testbench.bus import wait_online
from testbench.scenes import place

T = Topics("lane-1")
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_banana_is_scanned_spoken_and_recorded_once(bus, node_env, start_node, photo_dir, tmp_path):
    camera = {
        "SCANTALK_CAMERA_SOURCE": str(photo_dir("fruit/banana.png")),
        "SCANTALK_CAMERA_FPS": "20",
        "SCANTALK_CAMERA_DWELL": "600",  # the banana stays on the scanner for the whole test
        "SCANTALK_CAMERA_GATE": "no",  # every frame, so many frames of the same banana
    }
    for name in ("bridge", "voice", "classifier"):
        start_node(name, node_env)
    wait_online(bus, "bridge", "voice", "classifier")
    start_node("camera", node_env, **camera)

    (scan_msg,) = bus.wait_for(T.scan)
    scan = scan_msg.json()
    assert scan["schema"] == "scantalk.scan/1"
    assert (scan["label"], scan["display_name"], scan["plu"]) == ("banana", "Banana", "4011")
    assert scan["confidence"] >= 0.6
    assert scan["station"] == "lane-1"
    assert RFC3339_UTC.match(scan["time"])
    assert scan["frame_id"]
    scan_id = scan["scan_id"]

    (say,) = bus.wait_for(T.say, lambda h: h.json()["scan_id"] == scan_id)
    assert say.json()["text"] == "Banana"

    (spoken,) = bus.wait_for(T.spoken, lambda h: h.json()["scan_id"] == scan_id)
    assert spoken.json()["engine"] == "espeak-ng"
    samples = array("h", Path(node_env["SDL_DISKAUDIOFILE"]).read_bytes())
    assert len(samples) > 22050 * 0.3, "less than 0.3 s of audio reached the speaker"
    assert max(abs(s) for s in samples) > 3000, "the audio that reached the speaker is silent"

    bus.wait_for(
        T.inventory_ack,
        lambda h: h.json()["scan_id"] == scan_id and h.json()["status"] == "delivered",
    )
    listing = subprocess.run(
        [sys.executable, "-m", "scantalk", "records", "--json"],
        env=node_env,
        capture_output=True,
        text=True,
        check=True,
    )
    records = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [(r["scanId"], r["item"], r["plu"], r["destination"]) for r in records] == [
        (scan_id, "banana", "4011", "local")
    ]

    # The banana stays in view: many more frames of it, and still exactly one scan.
    first_later = len(bus.matching(T.prediction))
    bus.wait_for(
        T.prediction,
        lambda h: h.json()["top"][0]["label"] == "banana",
        count=first_later + 30,
    )
    assert len(bus.matching(T.scan)) == 1


def test_a_weighed_banana_is_one_record_in_kilograms_and_the_voice_says_its_weight(
    bus, node_env, start_node, photo_dir, scale
):
    scale.kg, scale.motion = 1.234, True  # landing on the scale
    for name in ("bridge", "voice", "classifier"):
        start_node(name, node_env)
    start_node("scale", node_env, SCANTALK_SCALE_PORT=str(scale.link))
    wait_online(bus, "bridge", "voice", "classifier", "scale")
    start_node(
        "camera", node_env, SCANTALK_CAMERA_SOURCE=str(photo_dir("fruit/banana.png")),
        SCANTALK_CAMERA_FPS="20", SCANTALK_CAMERA_DWELL="600",
    )  # fmt: skip
    bus.wait_for(T.prediction, lambda h: h.json()["top"])
    scale.motion = False  # settled

    (scan,) = bus.wait_for(T.scan)
    scan_id = scan.json()["scan_id"]
    assert (scan.json()["label"], scan.json()["weight_kg"]) == ("banana", 1.234)
    (spoken,) = bus.wait_for(T.spoken, lambda h: h.json()["scan_id"] == scan_id)
    assert spoken.json()["text"] == "Banana, 1.2 kilos"
    samples = array("h", Path(node_env["SDL_DISKAUDIOFILE"]).read_bytes())
    assert spoken.json()["duration_ms"] > 1000, "too short for a name and a weight"
    assert max(abs(s) for s in samples) > 3000, "the audio that reached the speaker is silent"

    scale.kg = 1.456  # a second banana

    def of_scan(h):
        return h.json()["scan_id"] == scan_id

    bus.wait_for(T.spoken, of_scan, count=2)
    bus.wait_for(
        T.inventory_ack,
        lambda h: h.json()["scan_id"] == scan_id and h.json()["status"] == "delivered",
        count=2,
    )
    listing = subprocess.run(
        [sys.executable, "-m", "scantalk", "records", "--json"],
        env=node_env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    records = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [(r["scanId"], r["item"], r["quantity"], r["unit"], r["revision"]) for r in records] == [
        (scan_id, "banana", 1.456, "kg", 2)
    ]
    texts = [h.json()["text"] for h in bus.matching(T.spoken, of_scan)]
    assert texts == ["Banana, 1.2 kilos", "Banana, now 1.5 kilos"]


def test_the_same_item_placed_again_at_once_is_heard_each_time(bus, node_env, start_node):
    """Bananas put down one by one, each as soon as the last was heard (well within the voice's
    2 s cooldown): every scan is spoken, and each one after the first says "again", so a
    shopper counting by ear hears three."""
    for name in ("voice", "classifier"):
        start_node(name, node_env)
    wait_online(bus, "voice", "classifier")
    for n in range(1, 4):
        place(bus, "fruit/banana.png")
        scan = bus.wait_for(T.scan, count=n)[n - 1]
        bus.wait_for(T.spoken, lambda h, s=scan: h.json()["scan_id"] == s.json()["scan_id"])
    scans = [h.json()["scan_id"] for h in bus.matching(T.scan)]
    said = {
        h.json()["scan_id"]: h.json()["text"] for h in bus.matching(T.say) if h.json()["scan_id"]
    }
    assert [said[s] for s in scans] == ["Banana", "Banana, again", "Banana, again"]
    spoken = [h.json() for h in bus.matching(T.spoken) if h.json()["scan_id"] in scans]
    assert sorted(e["scan_id"] for e in spoken) == sorted(scans), "a recorded scan went unspoken"
    assert all(e["duration_ms"] > 200 and not e["interrupted"] for e in spoken)
