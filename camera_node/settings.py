"""The camera's settings: the shared ones, and its source, rate and motion gate."""

from __future__ import annotations

from dataclasses import dataclass

from scantalk.contract import CameraConfig
from scantalk.settings import NON_EMPTY, ROI, YES_NO, Number, Settings, setting


@dataclass(frozen=True)
class CameraSettings(Settings):
    camera_source: str = setting(
        "demo", NON_EMPTY, "demo, a device index or path, a video file, an RTSP URL, or a folder"
    )
    camera_fps: float = setting(
        5.0, Number(float, *CameraConfig.bounds("fps")), "frames published per second, at most"
    )
    camera_dwell: float = setting(4.0, Number(float, 0.1), "seconds each folder/demo image shows")
    camera_gap: float = setting(2.0, Number(float, 0), "seconds of empty scene between images")
    camera_width: int = setting(640, Number(int, 16, 4096), "capture width asked of a device")
    camera_height: int = setting(480, Number(int, 16, 4096), "capture height asked of a device")
    camera_quality: int = setting(85, Number(int, 10, 100), "JPEG quality of published frames")
    camera_gate: bool = setting(True, YES_NO, "publish only frames that show something new")
    camera_roi: tuple[float, float, float, float] = setting(
        (0.0, 0.0, 1.0, 1.0), ROI, "the scan area the gate watches: x,y,width,height shares"
    )
    camera_min_change: float = setting(
        0.01, Number(float, 0.0001, 1), "share of the scan area that must change to publish"
    )
    camera_heartbeat: float = setting(
        10.0, Number(float, 0.1), "seconds between frames while nothing changes"
    )
