"""Settings: one typed object, parsed once from `SCANTALK_*` variables and overridden by flags.

Every node and `scantalk up` read the same names, so one `.env` configures a whole lane. A bad
value raises `SettingError`, which names the variable and the value, and the node stops at start.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scantalk.contract import ContractError, Topics

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = REPO / "models" / "produce"


class SettingError(ValueError):
    """A setting with a value we cannot use: says which, what was given and what is expected."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        self.name = name
        super().__init__(f"{name}={value!r} is not usable: {expected}")


@dataclass(frozen=True)
class Number:
    """A numeric setting with optional bounds; parsed as a number, never kept as a string."""

    kind: type[int] | type[float]
    low: float | None = None
    high: float | None = None

    def __call__(self, text: str) -> int | float:
        value = self.kind(text)
        if (
            not math.isfinite(value)
            or (self.low is not None and value < self.low)
            or (self.high is not None and value > self.high)
        ):
            raise ValueError(text)
        return value

    @property
    def expected(self) -> str:
        what = "a whole number" if self.kind is int else "a number"
        if self.high is not None:
            return f"{what} from {self.low} to {self.high}"
        return f"{what} of at least {self.low}" if self.low is not None else what


@dataclass(frozen=True)
class Text:
    """A text setting, checked by `check` (which raises ValueError or ContractError)."""

    check: Callable[[str], object]
    expected: str

    def __call__(self, text: str) -> Any:
        return self.check(text)


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError(text)
    return text


NON_EMPTY = Text(_non_empty, "a non-empty value")
STATION = Text(lambda text: Topics(text).station, "1-64 letters, digits, '.', '_' or '-'")


def _stations(text: str) -> str:
    if text != "+":
        STATION(text)
    return text


STATIONS = Text(_stations, "a station id, or + for every station")


def _group(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", text):
        raise ValueError(text)
    return text


GROUP = Text(_group, "1-64 letters, digits, '.', '_' or '-'")
PATH = Text(Path, "a path")
OPTIONAL = Text(lambda text: text or None, "text")
YES, NO = ("yes", "true", "1", "on"), ("no", "false", "0", "off")


def _yes_no(text: str) -> bool:
    if text.lower() not in YES + NO:
        raise ValueError(text)
    return text.lower() in YES


YES_NO = Text(_yes_no, "yes or no")


def _roi(text: str) -> tuple[float, ...]:
    x, y, w, h = (float(part) for part in text.split(","))
    if not (0 <= x < 1 and 0 <= y < 1 and 0.02 <= w <= 1 - x and 0.02 <= h <= 1 - y):
        raise ValueError(text)
    return (x, y, w, h)


ROI = Text(_roi, "x,y,width,height as shares of the frame (sizes 0.02 to 1), e.g. 0.1,0.1,0.8,0.8")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise ValueError(text)
    return text.upper()


LOG_LEVEL = Text(_log_level, ", ".join(LOG_LEVELS))


def _setting(default: Any, parse: Number | Text, help: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"parse": parse, "help": help, "secret": secret})


@dataclass(frozen=True)
class Settings:
    """Everything a lane can be told. Each field `x` is `SCANTALK_X` and `--x` (dashes)."""

    mqtt_host: str = _setting("127.0.0.1", NON_EMPTY, "broker host")
    mqtt_port: int = _setting(1883, Number(int, 1, 65535), "broker port")
    station: str = _setting("lane-1", STATION, "this lane's id, the topic segment after scantalk/")
    camera_source: str = _setting(
        "demo", NON_EMPTY, "demo, a device index or path, a video file, an RTSP URL, or a folder"
    )
    camera_fps: float = _setting(
        5.0, Number(float, 0.1, 60), "frames published per second, at most"
    )
    camera_dwell: float = _setting(4.0, Number(float, 0.1), "seconds each folder/demo image shows")
    camera_gap: float = _setting(2.0, Number(float, 0), "seconds of empty scene between images")
    camera_width: int = _setting(640, Number(int, 16, 4096), "capture width asked of a device")
    camera_height: int = _setting(480, Number(int, 16, 4096), "capture height asked of a device")
    camera_quality: int = _setting(85, Number(int, 10, 100), "JPEG quality of published frames")
    camera_gate: bool = _setting(True, YES_NO, "publish only frames that show something new")
    camera_roi: tuple = _setting(
        (0.0, 0.0, 1.0, 1.0), ROI, "the scan area the gate watches: x,y,width,height shares"
    )
    camera_min_change: float = _setting(
        0.01, Number(float, 0.0001, 1), "share of the scan area that must change to publish"
    )
    camera_heartbeat: float = _setting(
        10.0, Number(float, 0.1), "seconds between frames while nothing changes"
    )
    threshold: float = _setting(0.6, Number(float, 0.01, 1), "confidence needed for a scan")
    stable_frames: int = _setting(3, Number(int, 1, 100), "frames a label must stay on top")
    empty_below: float = _setting(
        0.1, Number(float, 0, 1), "presence (produce share) below which the scan area is empty"
    )
    model_dir: Path = _setting(DEFAULT_MODEL_DIR, PATH, "model directory (model.onnx, labels.txt)")
    inference_threads: int = _setting(2, Number(int, 1, 64), "onnxruntime threads")
    http_host: str = _setting("127.0.0.1", NON_EMPTY, "address the /image API listens on")
    http_port: int | None = _setting(
        None, Number(int, 1, 65535), "port of the Custom Vision-compatible /image API; unset: off"
    )
    language: str = _setting("en", NON_EMPTY, "language of announcements (BCP 47, e.g. en, de)")
    speech_key: str | None = _setting(
        None, OPTIONAL, "Azure Speech key; unset: offline espeak-ng only", secret=True
    )
    speech_region: str | None = _setting(None, OPTIONAL, "Azure Speech region, e.g. westeurope")
    speech_voice: str | None = _setting(
        None, OPTIONAL, "Azure neural voice, e.g. en-GB-SoniaNeural; unset: the language's default"
    )
    speech_deadline: float = _setting(
        1.5, Number(float, 0.001, 30), "seconds the cloud may take before espeak-ng speaks instead"
    )
    speech_rate: float = _setting(1.0, Number(float, 0.5, 2.0), "speaking rate, 1.0 is normal")
    speech_volume: int = _setting(100, Number(int, 1, 100), "speaking volume, percent")
    voice_cooldown: float = _setting(
        2.0, Number(float, 0, 60), "seconds in which the same words are not said twice in a row"
    )
    audio_cache_mb: float = _setting(50.0, Number(float, 1), "audio cache size bound, MB")
    say_startup: bool = _setting(True, YES_NO, "say a short phrase when the voice is ready")
    data_dir: Path = _setting(Path("data"), PATH, "where the record store and audio cache live")
    store: str | None = _setting(None, OPTIONAL, "the store's id, in each inventory record")
    instance: str | None = _setting(
        None, GROUP, "tells apart two processes of one node and station (client id suffix)"
    )
    bridge_stations: str | None = _setting(
        None, STATIONS, "stations whose scans the bridge forwards: unset for its own, + for all"
    )
    bridge_share_group: str | None = _setting(
        None, GROUP, "MQTT shared-subscription group, so bridges split the scans between them"
    )
    outbox_max: int = _setting(
        100_000, Number(int, 1), "pending records at which the bridge warns loudly"
    )
    iothub_connection_string: str | None = _setting(
        None,
        OPTIONAL,
        "IoT Hub device connection string; none means a local record store",
        secret=True,
    )
    iothub_ca_file: Path | None = _setting(
        None, PATH, "CA certificate (PEM) to trust for IoT Hub, e.g. for a gateway"
    )
    stats_interval: float = _setting(30.0, Number(float, 1), "seconds between stats messages")
    log_level: str = _setting("INFO", LOG_LEVEL, "how much to log")

    @staticmethod
    def env_name(name: str) -> str:
        return f"SCANTALK_{name.upper()}"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        for f in dataclasses.fields(cls):
            parser.add_argument(
                f"--{f.name.replace('_', '-')}",
                dest=f.name,
                metavar=cls.env_name(f.name),
                help=f"{f.metadata['help']} (default: {f.default})",
            )

    @classmethod
    def load(cls, environ: Mapping[str, str] = os.environ, flags: Any = None) -> Settings:
        """Flags win over environment variables, which win over defaults."""
        values = {}
        for f in dataclasses.fields(cls):
            name = cls.env_name(f.name)
            text = getattr(flags, f.name, None)
            if text is None:
                text = environ.get(name)
            if text is None or not text.strip():
                continue  # empty means unset, as an unfilled ${VAR} in a manifest
            values[f.name] = cls._parse(f, text)
        return cls(**values)

    @classmethod
    def parse_value(cls, name: str, value: object) -> Any:
        """Check one value for a field, as at start: for changes made at run time."""
        return cls._parse(next(f for f in dataclasses.fields(cls) if f.name == name), value)

    @classmethod
    def _parse(cls, f: dataclasses.Field, value: object) -> Any:
        parse = f.metadata["parse"]
        shown = "<hidden>" if f.metadata["secret"] else value
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise SettingError(cls.env_name(f.name), shown, parse.expected)
        try:
            return parse(str(value).strip())
        except (ValueError, ContractError) as exc:
            raise SettingError(cls.env_name(f.name), shown, parse.expected) from exc

    def to_environ(self) -> dict[str, str]:
        """The same settings as variables, for child processes (`scantalk up`)."""
        return {
            self.env_name(f.name): ",".join(map(str, value))
            if isinstance(value, tuple)
            else str(value)
            for f in dataclasses.fields(self)
            if (value := getattr(self, f.name)) is not None
        }

    @property
    def topics(self) -> Topics:
        return Topics(self.station)
