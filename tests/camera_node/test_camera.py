"""The camera node on real files: a video, a folder, a stream that drops and comes back."""

from __future__ import annotations

import http.server
import itertools
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from scantalk.commands.broker import free_port
from scantalk.contract import ClassifierConfig, NodeName, Topics, Weight, WeightStatus
from testbench.bus import wait_online
from testbench.scenes import footage, write_video

T = Topics("lane-1")
STATS = T.stats(NodeName.CAMERA)


def classifier_needs(bus, settle_frames: int = 7) -> None:
    """The classifier's retained state, as it publishes it at start: how many frames of a scene
    it needs (7 at its default `stable_frames`)."""
    state = ClassifierConfig(settle_frames=settle_frames).to_json()
    bus.publish(T.classifier_config_state, state, retain=True)


def counters(bus, where):
    (stats,) = bus.wait_for(STATS, lambda h: where(h.json()["counters"]))
    return stats.json()["counters"]


def test_video_through_the_gate_publishes_motion_not_stillness(bus, node_env, start_node, tmp_path):
    frames = footage()
    video = write_video(tmp_path / "lane.avi", frames)
    classifier_needs(bus)
    start_node("camera", node_env, SCANTALK_CAMERA_SOURCE=str(video), SCANTALK_CAMERA_FPS="40")
    seen = counters(bus, lambda c: c.get("frames", 0) + c.get("frames_gated", 0) >= len(frames))
    read = seen["frames"] + seen.get("frames_gated", 0)
    assert seen["frames"] < 0.6 * read, f"the gate let {seen['frames']} of {read} frames through"
    assert seen["frames"] >= 32  # the item moving in and out (16 + 16 frames)

    presence = [float(f.properties["presence"]) for f in bus.matching(T.frame)]
    assert max(presence) > 0.02, "no frame said an item was there"
    first = bus.matching(T.frame)[0]
    assert set(first.properties) == {
        "frame_id",
        "captured_at",
        "width",
        "height",
        "motion",
        "presence",
        "cause",
    }
    causes = [f.properties["cause"] for f in bus.matching(T.frame)]
    # The item moving is "change"; the frames after it, while the classifier decides, "settle".
    assert causes.count("change") >= 16
    assert "settle" in causes
    assert (first.properties["width"], first.properties["height"]) == ("640", "480")
    assert first.expiry is not None
    assert first.expiry <= 2  # stale frames are dropped by the broker
    image = cv2.imdecode(np.frombuffer(first.payload, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (480, 640, 3)


def test_folder_source_shows_each_photo_then_an_empty_counter(bus, node_env, start_node, photo_dir):
    folder = photo_dir("fruit/banana.png", "fruit/lemon.png")
    start_node(
        "camera", node_env, SCANTALK_CAMERA_SOURCE=str(folder), SCANTALK_CAMERA_FPS="20",
        SCANTALK_CAMERA_DWELL="0.5", SCANTALK_CAMERA_GAP="0.5", SCANTALK_CAMERA_GATE="no",
    )  # fmt: skip
    frames = bus.wait_for(T.frame, count=45)
    means = [
        cv2.imdecode(np.frombuffer(f.payload, np.uint8), cv2.IMREAD_GRAYSCALE).std() for f in frames
    ]
    # 10 frames of a photo (much contrast), 10 of the plain counter (none), and round again.
    shown = [m > 10 for m in means]
    assert shown[:10] == [True] * 10
    assert shown[10:20] == [False] * 10
    assert shown[20:30] == [True] * 10
    assert shown[40:45] == [True] * 5  # the folder loops


class MjpegStream:
    """A network camera: an MJPEG stream over HTTP that can be unplugged and plugged in again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.jpeg = cv2.imencode(".jpg", footage()[30][1])[1].tobytes()
        self.server: http.server.ThreadingHTTPServer | None = None
        self.running = threading.Event()

    def start(self) -> None:
        stream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                while stream.running.is_set():
                    part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                    try:
                        self.wfile.write(part % len(stream.jpeg) + stream.jpeg + b"\r\n")
                    except OSError:
                        return
                    stream.running.wait(0.05)

            def log_message(self, *_args: object) -> None:
                pass

        self.running.set()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.running.clear()
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def test_a_stream_that_drops_is_retried_and_picked_up_again(bus, node_env, start_node):
    stream = MjpegStream(free_port())
    stream.start()
    try:
        start_node(
            "camera", node_env, SCANTALK_CAMERA_SOURCE=f"http://127.0.0.1:{stream.port}/video.mjpg",
            SCANTALK_CAMERA_GATE="no", SCANTALK_CAMERA_FPS="10",
        )  # fmt: skip
        bus.wait_for(T.frame, count=5)
        stream.stop()
        counters(bus, lambda c: c.get("source_up") == 0 and c.get("read_errors", 0) >= 3)
        before = len(bus.matching(T.frame))
        stream.start()
        bus.wait_for(T.frame, count=before + 5)
        assert counters(bus, lambda c: c.get("reconnects", 0) >= 1)["source_up"] == 1
    finally:
        stream.stop()


def test_a_file_that_is_not_a_video_stops_the_camera_at_start(tmp_path, node_env):
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is not a video")
    env = {**node_env, "SCANTALK_CAMERA_SOURCE": str(fake)}
    command = [sys.executable, "-m", "scantalk", "node", "camera"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"SCANTALK_CAMERA_SOURCE='{fake}'" in result.stderr


def test_the_frame_of_each_scan_is_kept_as_a_snapshot(bus, node_env, start_node, photo_dir):
    start_node("classifier", node_env)
    wait_online(bus, "classifier")
    start_node("camera", node_env, SCANTALK_CAMERA_SOURCE=str(photo_dir("fruit/banana.png")),
               SCANTALK_CAMERA_FPS="20")  # fmt: skip
    (scan,) = bus.wait_for(T.scan)
    (snapshot,) = bus.wait_for(T.snapshot)
    assert snapshot.properties["scan_id"] == scan.json()["scan_id"]
    assert snapshot.properties["frame_id"] == scan.json()["frame_id"]
    (frame,) = bus.matching(
        T.frame, lambda h: h.properties.get("frame_id") == scan.json()["frame_id"]
    )
    assert snapshot.payload == frame.payload
    files = list((Path(node_env["SCANTALK_DATA_DIR"]) / "snapshots").glob("*.jpg"))
    assert [f.name.endswith(f"_{scan.json()['scan_id']}.jpg") for f in files] == [True]


def test_the_camera_sends_a_scene_until_the_classifier_has_decided_on_it(
    bus, node_env, start_node, photo_dir
):
    """A live `stable_frames` change reaches the camera through the classifier's state: after
    each change of scene it sends frames until the classifier's prediction says it is settled
    on the scene (the item named, or the counter empty again), never more than its
    `settle_frames`, and never before the decision had its `stable_frames`."""
    start_node("classifier", node_env)
    wait_online(bus, "classifier")
    bus.publish(T.classifier_config, ClassifierConfig(stable_frames=8).to_json())
    state = T.classifier_config_state
    bus.wait_for(state, lambda h: h.json()["settle_frames"] == 25)  # 3 * 8 + 1

    folder = photo_dir("fruit/banana.png")
    start_node(
        "camera", node_env, SCANTALK_CAMERA_SOURCE=str(folder), SCANTALK_CAMERA_FPS="20",
        SCANTALK_CAMERA_DWELL="2.5", SCANTALK_CAMERA_GAP="2.5",
    )  # fmt: skip

    def bursts() -> list[list[str]]:
        """Frame ids in bursts: frames 50 ms apart; bursts are a scene (50 frames) apart."""
        frames = bus.matching(T.frame)
        times = [datetime.fromisoformat(f.properties["captured_at"]) for f in frames]
        out = [[frames[0].properties["frame_id"]]] if frames else []
        for (before, after), frame in zip(itertools.pairwise(times), frames[1:], strict=True):
            if (after - before).total_seconds() > 0.8:
                out.append([])
            out[-1].append(frame.properties["frame_id"])
        return out

    bus.wait_until(lambda: len(bursts()) >= 4, "four bursts of frames")
    settled = {h.json()["frame_id"] for h in bus.matching(T.prediction) if h.json()["settled"]}
    for burst in bursts()[1:3]:  # photo, empty counter: each a change, then settle frames
        first_settled = next(i for i, frame_id in enumerate(burst) if frame_id in settled)
        assert 8 <= len(burst) <= 25, burst
        # The frame after the settled one may have gone out before the prediction came back.
        assert len(burst) - 1 - first_settled <= 1, (burst, first_settled)


def test_a_weight_change_wakes_the_camera_where_it_sees_no_change(
    bus, node_env, start_node, photo_dir
):
    """A dark item on a dark counter may not move the gate: the scale's weight does."""
    classifier_needs(bus)
    start_node(
        "camera", node_env, SCANTALK_CAMERA_SOURCE=str(photo_dir("fruit/banana.png")),
        SCANTALK_CAMERA_FPS="20", SCANTALK_CAMERA_DWELL="600", SCANTALK_CAMERA_HEARTBEAT="600",
    )  # fmt: skip
    still = counters(bus, lambda c: c.get("frames_gated", 0) >= 20)["frames"]  # gated
    weight = Weight("lane-1", 0.9, True, WeightStatus.OK)
    bus.publish(T.weight, weight.to_json())
    counters(bus, lambda c: c.get("frames") == still + 7 and c.get("woken") == 1)  # 7 settle
