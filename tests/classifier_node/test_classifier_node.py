"""The classifier node at run time: conflated frames, live thresholds, the /image API."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from scantalk.commands.broker import free_port, port_open
from scantalk.contract import ClassifierConfig, NodeName, Topics
from testbench.bus import wait_online
from testbench.scenes import photo_jpeg

T = Topics("lane-1")


def test_a_burst_of_frames_is_conflated_to_the_newest(bus, node_env, start_node):
    start_node("classifier", node_env)
    wait_online(bus, "classifier")
    banana = photo_jpeg("fruit/banana.png")
    for i in range(40):
        bus.send_frame(banana, f"burst-{i}")
    bus.wait_for(T.prediction, lambda h: h.json()["frame_id"] == "burst-39")
    handled = len(bus.matching(T.prediction))
    assert handled < 40, "every frame was classified: older frames were not dropped"
    bus.wait_for(
        T.stats(NodeName.CLASSIFIER),
        lambda h: h.json()["counters"].get("dropped", 0) + h.json()["counters"]["frames"] == 40,
    )


def test_thresholds_change_live_and_a_wrong_value_is_refused(bus, node_env, start_node):
    start_node("classifier", node_env)
    wait_online(bus, "classifier")
    state = T.classifier_config_state
    bus.wait_for(state, lambda h: h.json()["threshold"] == 0.8)

    bus.publish(T.classifier_config, ClassifierConfig(threshold=1.0).to_json())
    bus.wait_for(state, lambda h: h.json()["threshold"] == 1.0 and h.json()["error"] is None)
    banana = photo_jpeg("fruit/banana.png")  # a clear banana, but never a share of exactly 1
    for i in range(8):
        bus.send_frame(banana, f"high-{i}")
        bus.wait_for(
            T.prediction,
            lambda h, i=i: h.json()["frame_id"] == f"high-{i}",
        )
    assert not bus.matching(T.scan)

    for bad, says in [
        ({"threshold": "abc", "stable_frames": 3}, "threshold: expected float, got 'abc'"),
        ({"threshold": 1.5, "stable_frames": 3}, "threshold 1.5 is not in [0.5, 1]"),
        ({"similarity": 0.1}, "similarity 0.1 is not in [0.3, 1]"),
        ({"language": "xx", "threshold": 0.9}, "language 'xx' is not a language ScanTalk has"),
    ]:
        bad_config = json.dumps({"schema": ClassifierConfig.SCHEMA, **bad, "request_id": says})
        bus.publish(T.classifier_config, bad_config.encode())
        (refused,) = bus.wait_for(state, lambda h, says=says: h.json()["request_id"] == says)
        assert says in refused.json()["error"]
        assert (refused.json()["threshold"], refused.json()["stable_frames"]) == (1.0, 2)

    # As Home Assistant's select does; the state that answers names the change.
    change = ClassifierConfig(threshold=0.85, language="de", request_id="ha-1")
    bus.publish(T.classifier_config, change.to_json())
    (applied,) = bus.wait_for(state, lambda h: h.json()["request_id"] == "ha-1")
    assert (applied.json()["threshold"], applied.json()["language"]) == (0.85, "de")
    assert applied.json()["error"] is None
    for i in range(3):
        bus.send_frame(banana, f"low-{i}")
        bus.wait_for(
            T.prediction,
            lambda h, i=i: h.json()["frame_id"] == f"low-{i}",
        )
    (scan,) = bus.wait_for(T.scan)
    assert (scan.json()["label"], scan.json()["display_name"]) == ("banana", "Banane")
    scan_id = scan.json()["scan_id"]
    (say,) = bus.wait_for(T.say, lambda h: h.json()["scan_id"] == scan_id)
    assert (say.json()["text"], say.json()["language"]) == ("Banane", "de")


@pytest.mark.parametrize(
    "photo",
    ["../household/kettle.png", "../household/dishes/mug.png", "../symbols/shapes/hand.png",
     "nuts/walnut.png", "../household/tools/hammer.png"],
)  # fmt: skip
def test_a_hand_or_a_thing_that_is_not_produce_never_scans(bus, node_env, start_node, photo):
    start_node("classifier", node_env)
    wait_online(bus, "classifier")
    data = photo_jpeg(photo)
    for i in range(6):
        bus.send_frame(data, f"f{i}")
        (prediction,) = bus.wait_for(T.prediction, lambda h, i=i: h.json()["frame_id"] == f"f{i}")
    assert prediction.json()["presence"] < 0.5
    assert not bus.matching(T.scan)
    assert not bus.matching(T.say, lambda h: h.json()["kind"] != "earcon")


def test_image_api_answers_like_custom_vision(bus, node_env, start_node):
    port = free_port()
    start_node("classifier", node_env, SCANTALK_HTTP_PORT=str(port))
    wait_online(bus, "classifier")
    assert port_open("127.0.0.1", port)
    banana = photo_jpeg("fruit/banana.png")

    raw = urllib.request.Request(
        f"http://127.0.0.1:{port}/image", data=banana,
        headers={"Content-Type": "application/octet-stream"},
    )  # fmt: skip
    with urllib.request.urlopen(raw, timeout=30) as response:
        answer = json.load(response)
    assert {"id", "project", "iteration", "created", "predictions"} <= answer.keys()
    best = answer["predictions"][0]
    assert best["tagName"] == "banana"
    assert best["probability"] > 0.6
    assert {"tagId", "boundingBox"} <= best.keys()
    assert len(answer["predictions"]) == 23

    boundary = uuid.uuid4().hex
    form = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="imageData"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + banana
        + f"\r\n--{boundary}--\r\n".encode()
    )
    posted = urllib.request.Request(
        f"http://127.0.0.1:{port}/image", data=form,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )  # fmt: skip
    with urllib.request.urlopen(posted, timeout=30) as response:
        assert json.load(response)["predictions"][0]["tagName"] == "banana"

    broken = urllib.request.Request(f"http://127.0.0.1:{port}/image", data=b"not an image")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(broken, timeout=30)
    assert error.value.code == 400
    assert "not a decodable image" in json.load(error.value)["error"]


def threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Threads:\s+(\d+)", status, re.M)[1])  # type: ignore[index]


def test_image_api_holds_idle_uploads_without_threads_and_takes_curls_data_binary(
    bus, node_env, start_node, tmp_path
):
    port = free_port()
    classifier = start_node("classifier", node_env, SCANTALK_HTTP_PORT=str(port))
    wait_online(bus, "classifier")
    photo = tmp_path / "banana.jpg"
    photo.write_bytes(photo_jpeg("fruit/banana.png"))
    url = f"http://127.0.0.1:{port}/image"
    # curl's --data-binary calls any body a urlencoded form: the raw body is still the image.
    curl = subprocess.run(["curl", "-sS", "--data-binary", f"@{photo}", url],
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert json.loads(curl.stdout)["predictions"][0]["tagName"] == "banana"

    before = threads(classifier.pid)
    half_sent = []
    try:
        for _ in range(300):  # uploads that stop after their first bytes, and stay open
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /image HTTP/1.1\r\nHost: lane\r\nContent-Length: 99999\r\n\r\nxx")
            half_sent.append(sock)
        answer = urllib.request.urlopen(
            urllib.request.Request(url, data=photo.read_bytes()), timeout=30
        )
        assert json.load(answer)["predictions"][0]["tagName"] == "banana"
        assert threads(classifier.pid) <= before, "idle connections took threads"
    finally:
        for sock in half_sent:
            sock.close()
