"""The camera node: reads a source and publishes JPEG frames at a capped rate."""

from __future__ import annotations

import threading
import time

import cv2

from camera_node.sources import Source, open_source
from scantalk.contract import FRAME_EXPIRY_S, FrameInfo, now_rfc3339
from scantalk.runtime import Node
from scantalk.settings import Settings

JPEG_QUALITY = 85


class Camera:
    def __init__(self, node: Node, settings: Settings) -> None:
        self.node, self.settings = node, settings
        self.source: Source = open_source(settings)
        self.run_id = f"{int(time.time()):x}"
        node.add_worker(self.capture)
        node.log.info("source %s at up to %.1f fps", settings.camera_source, settings.camera_fps)

    def capture(self, stop: threading.Event) -> None:
        interval = 1 / self.settings.camera_fps
        sequence, next_tick, failures = 0, time.monotonic(), 0
        while not stop.is_set():
            frame = self.source.read()
            if frame is None:
                failures += 1
                self.node.count("read_errors")
                # Back off so a dead device never spins a core.
                stop.wait(min(30, interval * 2 ** min(failures, 8)))
                continue
            failures = 0
            _, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            sequence += 1
            info = FrameInfo(
                f"{self.run_id}-{sequence}", now_rfc3339(), frame.shape[1], frame.shape[0]
            )
            sent = self.node.publish(
                self.node.topics.frame,
                jpeg.tobytes(),
                user_properties=info.to_properties(),
                expiry_s=FRAME_EXPIRY_S,
            )
            self.node.count("frames" if sent.rc == 0 else "frames_unsent")
            next_tick = max(next_tick + interval, time.monotonic())
            stop.wait(next_tick - time.monotonic())
        self.source.close()


def main(settings: Settings) -> None:
    node = Node("camera", settings)
    Camera(node, settings)
    node.run()
