"""The camera node: reads a source, gates it, and publishes JPEG frames at a capped rate."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from camera_node.gate import Gate, GateSettings, Verdict
from camera_node.settings import CameraSettings
from camera_node.snapshots import Snapshots
from camera_node.sources import Source, open_source
from scantalk.contract import (
    CameraConfig,
    ClassifierConfig,
    ContractError,
    FrameInfo,
    NodeName,
    Prediction,
    Scan,
    SnapshotInfo,
    Weight,
    now_rfc3339,
)
from scantalk.counters import CameraCounter
from scantalk.latency import Window
from scantalk.runtime import Message, Node, Refused
from scantalk.settings import SettingError

MAX_BACKOFF_S = 5
"""A lost camera is retried at least this often, and never in a busy loop."""
SNAPSHOTS_KEPT = 200


class Camera:
    def __init__(self, node: Node, settings: CameraSettings) -> None:
        self.node, self.settings = node, settings
        self.source: Source = open_source(settings)
        self.gate = Gate(
            GateSettings(
                min_change=settings.camera_min_change,
                heartbeat_s=settings.camera_heartbeat,
                roi=settings.camera_roi,
            )
        )
        self.snapshots = Snapshots(settings.data_dir / "snapshots", SNAPSHOTS_KEPT)
        self.run_id = f"{int(time.time()):x}"
        self.sent = Window(60)
        node.measure(CameraCounter.FRAMES_PER_MINUTE, self.sent.count)
        node.add_worker(self.capture)
        node.subscribe(node.topics.scan, self.on_scan)
        node.subscribe(node.topics.classifier_config_state, self.on_classifier_config)
        node.subscribe(node.topics.prediction, self.on_prediction)
        # A weight change is news even where the camera sees none (a dark item, a dark counter).
        node.subscribe(node.topics.weight, self.on_weight)
        self.last_snapshot: tuple[bytes, SnapshotInfo] | None = None
        # The broker saves its store now and then, not per message: after its crash it may
        # hold an older snapshot, or none.
        node.on_online(self.publish_snapshot)
        self.fps = settings.camera_fps
        node.subscribe(node.topics.camera_config, self.on_config)
        node.on_online(self.publish_config)
        gate = self.gate.settings if settings.camera_gate else "off"
        node.log.info(
            "source %s at up to %.1f fps; gate %s",
            settings.camera_source,
            settings.camera_fps,
            gate,
        )

    def capture(self, stop: threading.Event) -> None:
        sequence, next_tick, failures = 0, time.monotonic(), 0
        while not stop.is_set():
            frame = self.source.read()
            if frame is None:
                failures += 1
                self.node.count(CameraCounter.READ_ERRORS)
                self.node.gauge(CameraCounter.SOURCE_UP, 0)
                if failures == 1:
                    self.node.log.warning(
                        "source %s gives no frames; retrying", self.settings.camera_source
                    )
                # Back off so a dead device never spins a core.
                stop.wait(min(MAX_BACKOFF_S, 2 ** min(failures, 10) / self.fps))
                continue
            if failures:
                self.node.log.info("source back after %d failed reads", failures)
                self.node.count(CameraCounter.RECONNECTS)
                failures = 0
            self.node.gauge(CameraCounter.SOURCE_UP, 1)
            now = time.monotonic()
            verdict = (
                self.gate.check(frame, now)
                if self.settings.camera_gate
                else Verdict(True, 1.0, 0.0)
            )
            if verdict.publish:
                sequence += 1
                self.publish(frame, f"{self.run_id}-{sequence}", verdict)
            else:
                self.node.count(CameraCounter.FRAMES_GATED)
            next_tick = max(next_tick + 1 / self.fps, time.monotonic())  # fps may change live
            stop.wait(next_tick - time.monotonic())
        self.source.close()

    def publish(self, frame: np.ndarray, frame_id: str, verdict: Verdict) -> None:
        quality = [cv2.IMWRITE_JPEG_QUALITY, self.settings.camera_quality]
        jpeg = cv2.imencode(".jpg", frame, quality)[1].tobytes()
        info = FrameInfo(
            frame_id,
            now_rfc3339(),
            frame.shape[1],
            frame.shape[0],
            verdict.motion,
            verdict.presence,
            verdict.cause,
        )
        sent = self.node.publish(
            self.node.topics.frame,
            jpeg,
            user_properties=info.to_properties(),
        )
        self.snapshots.remember(frame_id, jpeg)
        self.node.count(CameraCounter.FRAMES if sent.rc == 0 else CameraCounter.FRAMES_UNSENT)
        if sent.rc == 0:
            self.sent.add()

    def on_config(self, message: Message) -> None:
        """Frame rate and scan area, changed live (the lane's twin): whole or not at all."""
        try:
            change = CameraConfig.from_json(message.payload)
            parse = CameraSettings.parse_value
            fps = self.fps if change.fps is None else parse("camera_fps", change.fps)
            roi = self.gate.settings.roi if change.roi is None else parse(
                "camera_roi", ",".join(f"{v:g}" for v in change.roi))  # fmt: skip
        except (ContractError, SettingError) as exc:
            request_id = CameraConfig.text_of(message.payload, "request_id") or None
            self.publish_config(error=str(exc), request_id=request_id)
            raise Refused(f"camera config refused: {exc}", Refused.CONFIG) from exc
        self.fps = fps
        if roi != self.gate.settings.roi:
            self.gate.watch(roi)
        self.node.log.info("up to %s fps; scan area %s", fps, roi)
        self.publish_config(request_id=change.request_id)

    def publish_config(self, error: str | None = None, request_id: str | None = None) -> None:
        state = CameraConfig(self.fps, list(self.gate.settings.roi), error, request_id)
        self.node.publish(self.node.topics.camera_config_state, state)

    def on_scan(self, message: Message) -> None:
        scan = Scan.from_json(message.payload)
        # Another station's scan would keep (and publish as ours) a snapshot of our frame.
        Refused.check_station(scan.station, message.topic, "scan")
        if scan.revision > 1:
            return  # a new weight of a scan whose snapshot is already out
        jpeg = self.snapshots.keep_for(scan.scan_id, scan.frame_id)
        if jpeg is None:
            self.node.count(CameraCounter.SNAPSHOTS_MISSING)
            return
        self.last_snapshot = jpeg, SnapshotInfo(scan.scan_id, scan.label, scan.frame_id)
        self.publish_snapshot()
        self.node.count(CameraCounter.SNAPSHOTS)

    def publish_snapshot(self) -> None:
        if self.last_snapshot:
            jpeg, info = self.last_snapshot
            self.node.publish(self.node.topics.snapshot, jpeg, user_properties=info.to_properties())

    def on_weight(self, message: Message) -> None:
        if message.payload and not message.retain:
            Weight.from_json(message.payload)  # only a weight wakes the camera
            self.gate.wake()
            self.node.count(CameraCounter.WOKEN)

    def on_prediction(self, message: Message) -> None:
        """The classifier decided on a scene: its remaining settle frames are not needed."""
        prediction = Prediction.from_json(message.payload)
        run_id, _, sequence = prediction.frame_id.rpartition("-")
        if prediction.settled and run_id == self.run_id and sequence.isdigit():
            self.gate.settled(int(sequence))

    def on_classifier_config(self, message: Message) -> None:
        """Send as many settle frames as the classifier's decision needs, as it says now."""
        if not message.payload:
            return  # the retained state was cleared
        settle = ClassifierConfig.from_json(message.payload).settle_frames
        if settle and settle != self.gate.settings.settle_frames:
            self.gate.settle_on(settle)
            self.node.log.info("classifier needs %d frames of a scene: settle frames now", settle)


def main(settings: CameraSettings) -> None:
    # OpenCV's pool of a thread per core, woken for each small frame, doubled the CPU the gate
    # and the JPEG encoding cost at a still counter (1.4 against 0.7 ms a frame at 15 fps).
    cv2.setNumThreads(1)
    node = Node(NodeName.CAMERA, settings)
    Camera(node, settings)
    node.run()
