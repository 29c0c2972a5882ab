"""Hostile frames and scans: no frame makes the classifier use unbounded memory or time, and no
scan makes the camera's snapshot ring drop real evidence or write outside its folder."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from PIL import Image

from camera_node.snapshots import Snapshots
from classifier_node.model import Model
from classifier_node.settings import FRAME_MAX_BYTES, ClassifierSettings
from scantalk.contract import OFFLINE, ContractError, FrameInfo, NodeName, Topics
from scantalk.settings import DEFAULT_MODEL_DIR, SettingError
from testbench.bus import wait_online
from testbench.scenes import photo_jpeg

T = Topics("lane-1")
BOMB_SIDE = 13_000
"""The reported bomb: 13000x13000 pixels (507 MB as RGB) in a PNG of about 20 KB."""
HEADROOM_MB = 100
"""Peak memory a refused bomb may add, at most."""


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A solid 1-bit PNG: 21 MB to build here, about 20 KB as a file."""
    out = io.BytesIO()
    Image.new("1", (BOMB_SIDE, BOMB_SIDE), 1).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def banana() -> bytes:
    return photo_jpeg("fruit/banana.png")


def vm_hwm_mb(pid: int | str = "self") -> float:
    """A process's peak resident memory so far (Linux), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


MEASURE = """
import json, sys, time
from pathlib import Path
from classifier_node.model import Model
from scantalk.contract import ContractError
from scantalk.settings import DEFAULT_MODEL_DIR

def peak_mb():
    text = Path("/proc/self/status").read_text()
    return int(text.split("VmHWM:")[1].split()[0]) / 1024

model = Model(DEFAULT_MODEL_DIR, 2, Path(sys.argv[1]))
model.read(model.decode(Path(sys.argv[2]).read_bytes()))  # warm: a real frame, classified
baseline = peak_mb()
bomb = Path(sys.argv[3]).read_bytes()
started = time.perf_counter()
try:
    model.read(model.decode(bomb))
    refused = ""
except ContractError as exc:
    refused = str(exc)
elapsed = time.perf_counter() - started
print(json.dumps({"baseline_mb": baseline, "peak_mb": peak_mb(), "s": elapsed, "refused": refused}))
"""


def test_a_decompression_bomb_is_refused_from_its_header_without_memory(
    bomb: bytes, banana: bytes, tmp_path: Path
):
    """In a process of its own, so its peak memory is the classifier's alone."""
    assert len(bomb) < 100_000
    (tmp_path / "bomb.png").write_bytes(bomb)
    (tmp_path / "banana.jpg").write_bytes(banana)
    command = [sys.executable, "-c", MEASURE, str(tmp_path / "data"), str(tmp_path / "banana.jpg")]
    result = subprocess.run(
        [*command, str(tmp_path / "bomb.png")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    assert "13000x13000" in measured["refused"], measured
    assert "SCANTALK_FRAME_MAX_SIDE=4096" in measured["refused"]
    assert measured["peak_mb"] - measured["baseline_mb"] < HEADROOM_MB, measured
    # Refused from its header: far under the minutes a 13000x13000 decode would take on a small
    # device (a generous bound every CPU meets; bench/ measures time).
    assert measured["s"] < 10, measured


def test_the_side_limit_is_a_setting_and_a_frame_within_it_decodes(banana: bytes):
    settings = ClassifierSettings.load({"SCANTALK_FRAME_MAX_SIDE": "256"})
    assert settings.frame_max_side == 256
    with pytest.raises(SettingError, match="SCANTALK_FRAME_MAX_SIDE"):
        ClassifierSettings.load({"SCANTALK_FRAME_MAX_SIDE": "huge"})
    model = Model(DEFAULT_MODEL_DIR, max_side=settings.frame_max_side)
    with pytest.raises(ContractError, match=r"SCANTALK_FRAME_MAX_SIDE=256"):
        model.decode(banana)  # 640x480: larger than 256 a side
    assert Model(DEFAULT_MODEL_DIR).decode(banana).shape[2] == 3


def test_an_oversized_payload_is_refused_before_decoding(banana: bytes):
    """A valid JPEG with trailing bytes decodes as itself: only its size can refuse it."""
    model = Model(DEFAULT_MODEL_DIR)
    padded = banana + bytes(FRAME_MAX_BYTES + 1 - len(banana))
    started = time.perf_counter()
    with pytest.raises(ContractError, match=rf"SCANTALK_FRAME_MAX_BYTES={FRAME_MAX_BYTES}"):
        model.decode(padded)
    assert time.perf_counter() - started < 5  # by its size alone: generous on any CPU
    assert model.decode(padded[:FRAME_MAX_BYTES]).shape[2] == 3  # at the limit: accepted
    small = Model(DEFAULT_MODEL_DIR, max_bytes=len(banana) - 1)
    with pytest.raises(ContractError, match="SCANTALK_FRAME_MAX_BYTES"):
        small.decode(banana)


def send_frame(bus, data: bytes, frame_id: str) -> None:
    properties = Properties(PacketTypes.PUBLISH)
    properties.UserProperty = FrameInfo(frame_id=frame_id).to_properties()
    bus.client.publish(T.frame, data, qos=0, properties=properties)


def test_a_running_classifier_rejects_the_bomb_and_goes_on(
    bus, node_env, start_node, tmp_path, bomb: bytes, banana: bytes
):
    node = start_node("classifier", node_env)
    wait_online(bus, "classifier")
    send_frame(bus, banana, "before")
    bus.wait_for(T.prediction, lambda h: h.json()["frame_id"] == "before")
    baseline = vm_hwm_mb(node.pid)

    send_frame(bus, bomb, "bomb")
    bus.wait_for(
        T.stats(NodeName.CLASSIFIER),
        lambda h: h.json()["counters"].get("rejected") == 1,
        timeout=30,
    )
    assert vm_hwm_mb(node.pid) - baseline < HEADROOM_MB
    assert "SCANTALK_FRAME_MAX_SIDE" in (tmp_path / "classifier.log").read_text()
    assert node.poll() is None
    assert not bus.matching(T.prediction, lambda h: h.json()["frame_id"] == "bomb")

    send_frame(bus, banana, "after")
    (after,) = bus.wait_for(T.prediction, lambda h: h.json()["frame_id"] == "after")
    assert after.json()["top"][0]["label"] == "banana"
    assert not bus.matching(T.status(NodeName.CLASSIFIER), lambda h: h.payload == OFFLINE)


def test_forged_future_scans_cannot_evict_the_real_snapshot(tmp_path: Path):
    """Forged scans (dated 9999 in the incident) each take one slot of the ring: the ring never
    reads a scan's time, only the order frames arrived in."""
    ring = Snapshots(tmp_path / "snapshots", keep=5)
    ring.remember("real-frame", b"seen by the camera")
    for i in range(5):
        assert ring.keep_for(f"forged-{i}", "real-frame") is not None
    ring.remember("scanned-frame", b"the real scan's frame")
    ring.keep_for("real-scan", "scanned-frame")

    files = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert len(files) == 5
    (real,) = [name for name in files if name.endswith("_real-scan.jpg")]
    assert (tmp_path / "snapshots" / real).read_bytes() == b"the real scan's frame"
    assert not any("forged-0" in name for name in files)  # the oldest arrival left first
    assert not any("9999" in name for name in files)  # a scan's time names nothing

    # After a restart the count goes on from the files: the next real scan is still newest.
    again = Snapshots(tmp_path / "snapshots", keep=5)
    again.remember("next-frame", b"next")
    again.keep_for("next-scan", "next-frame")
    kept = sorted((tmp_path / "snapshots").iterdir())
    assert [p.name.split("_", 1)[1] for p in kept] == [
        "forged-2.jpg", "forged-3.jpg", "forged-4.jpg", "real-scan.jpg", "next-scan.jpg",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "scan_id", ["../../escape", "x/../../../escape", "..", "/tmp/escape", "a\\b c\x00d"]
)
def test_a_scan_id_cannot_steer_where_a_snapshot_goes(tmp_path: Path, scan_id: str):
    folder = tmp_path / "data" / "snapshots"
    ring = Snapshots(folder, keep=5)
    ring.remember("frame-1", b"jpeg")
    assert ring.keep_for(scan_id, "frame-1") == b"jpeg"
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.parent for p in written] == [folder]
    assert re.fullmatch(r"\d{6}(_[A-Za-z0-9-]{1,64})?\.jpg", written[0].name)
