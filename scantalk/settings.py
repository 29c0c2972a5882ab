"""Settings: typed objects, parsed once from `SCANTALK_*` variables and overridden by flags.

`Settings` holds what every process of a lane shares (broker, station, data, language, model,
logging); each node extends it with its own (`CameraSettings(Settings)` …), so a node's
`--help` lists only what concerns it, while one `.env` still configures the whole lane. A bad
value raises `SettingError`, which names the variable and the value, and the node stops at start.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from scantalk.contract import ContractError, Topics

BUILT_IN_MODELS = Path(__file__).resolve().parent / "models"
"""Models shipped as package data."""
DEFAULT_MODEL_DIR = BUILT_IN_MODELS / "produce"
"""EfficientNet-Lite0 restricted to ImageNet's produce classes (see the README)."""


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
            abs(value) > sys.float_info.max  # a whole number past float's range: no isfinite
            or not math.isfinite(value)
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


def one_of(*choices: str) -> Text:
    """A setting that is one of a few words, given in any case."""

    def check(text: str) -> str:
        if (word := text.strip().lower()) not in choices:
            raise ValueError(text)
        return word

    return Text(check, "one of " + ", ".join(choices))


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError(text)
    return text


NON_EMPTY = Text(_non_empty, "a non-empty value")


def _station(text: str) -> str:
    if text == "+":  # a wildcard follows stations; a node must be one
        raise ValueError(text)
    return Topics(text).station


STATION = Text(_station, "1-64 letters, digits, '.', '_' or '-'")


def _stations(text: str) -> str:
    return text if text == "+" else STATION(text)


STATIONS = Text(_stations, "a station id, or + for every station")


def _group(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", text):
        raise ValueError(text)
    return text


GROUP = Text(_group, "1-64 letters, digits, '.', '_' or '-'")
PATH = Text(Path, "a path")


def _topic_prefix(text: str) -> str:
    if not re.fullmatch(r"[^#+/\s]+(/[^#+/\s]+)*", text) or len(text) > 200:
        raise ValueError(text)
    return text


TOPIC_PREFIX = Text(_topic_prefix, "topic levels without wildcards, e.g. homeassistant")
OPTIONAL = Text(lambda text: text or None, "text")
YES, NO = ("yes", "true", "1", "on"), ("no", "false", "0", "off")


def _yes_no(text: str) -> bool:
    if text.lower() not in YES + NO:
        raise ValueError(text)
    return text.lower() in YES


YES_NO = Text(_yes_no, "yes or no")


def _roi(text: str) -> tuple[float, float, float, float]:
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


class SourceKind(StrEnum):
    """What a camera source names."""

    DEMO = "demo"
    """The built-in demo photos (Debian's tuxpaint stamps)."""
    DEVICE = "device"
    """A capture device: an index as OpenCV takes it (`0`) or a `/dev/…` path."""
    STREAM = "stream"
    """A URL: `rtsp://…`, `http://…`."""
    PATH = "path"
    """A video file or a folder of images."""


@dataclass(frozen=True)
class CameraSource:
    """`SCANTALK_CAMERA_SOURCE` as the camera opens it and the manifest maps it into the image:
    one reading for both."""

    kind: SourceKind
    text: str

    @classmethod
    def parse(cls, text: str) -> CameraSource:
        text = text.strip()
        if text == "demo":
            return cls(SourceKind.DEMO, text)
        if text.isdigit() or text.startswith("/dev/"):
            return cls(SourceKind.DEVICE, text)
        if re.match(r"^[a-z][a-z0-9+.-]*://", text):
            return cls(SourceKind.STREAM, text)
        return cls(SourceKind.PATH, text)

    @property
    def device(self) -> str | None:
        """The device's path (`/dev/video0` for `0`), for a device."""
        if self.kind is not SourceKind.DEVICE:
            return None
        return f"/dev/video{self.text}" if self.text.isdigit() else self.text


def setting(default: Any, parse: Number | Text, help: str, *, secret: bool = False) -> Any:
    """A settings field: its default, its parser, its help, and whether to hide its value."""
    return field(default=default, metadata={"parse": parse, "help": help, "secret": secret})


class Source(StrEnum):
    """Where a setting's value came from, weakest first."""

    DEFAULT = "default"
    DOTENV = ".env"
    ENVIRONMENT = "environment"
    FLAG = "flag"


@dataclass(frozen=True)
class Origin:
    """One setting as `scantalk settings` shows it."""

    variable: str
    shown: str
    """The value in force, or `<hidden>` for a secret that is set."""
    source: Source


@dataclass(frozen=True)
class Settings:
    """What every process of a lane shares. Each field `x` is `SCANTALK_X` and `--x` (dashes)."""

    mqtt_host: str = setting("127.0.0.1", NON_EMPTY, "broker host")
    mqtt_port: int = setting(1883, Number(int, 1, 65535), "broker port")
    mqtt_username: str | None = setting(
        None, OPTIONAL, "broker user; on the edge broker the node's name (see mosquitto/acl)"
    )
    mqtt_password: str | None = setting(None, OPTIONAL, "that user's broker password", secret=True)
    mqtt_tls_ca: Path | None = setting(
        None, PATH, "CA certificate file: connect over TLS, trusting only brokers it signed"
    )
    station: str = setting("lane-1", STATION, "this lane's id, the topic segment after scantalk/")
    data_dir: Path = setting(
        Path("data"), PATH, "where records, the audio cache and broker data live"
    )
    language: str = setting("en", NON_EMPTY, "language of announcements (BCP 47, e.g. en, de)")
    model_dir: Path = setting(
        DEFAULT_MODEL_DIR, PATH, "model directory (model.onnx, labels.txt, catalog.csv)"
    )
    instance: str | None = setting(
        None, GROUP, "tells apart two processes of one node and station (client id suffix)"
    )
    discovery_prefix: str = setting(
        "homeassistant", TOPIC_PREFIX, "Home Assistant's MQTT discovery prefix"
    )
    stats_interval: float = setting(30.0, Number(float, 1), "seconds between stats messages")
    log_level: str = setting("INFO", LOG_LEVEL, "how much to log")

    @staticmethod
    def env_name(name: str) -> str:
        return f"SCANTALK_{name.upper()}"

    @classmethod
    def add_argument(cls, group: argparse._ActionsContainer, f: dataclasses.Field) -> None:
        """The flag of one field: `--mqtt-port SCANTALK_MQTT_PORT`."""
        group.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            metavar=cls.env_name(f.name),
            help=f"{f.metadata['help']} (default: {_text(f.default) or 'unset'})",
        )

    @classmethod
    def _texts(
        cls, environ: Mapping[str, str], flags: Any, dotenv: Mapping[str, str | None]
    ) -> dict[str, tuple[str, Source]]:
        """The text of each field that is set, and where it came from: flags win over the
        environment, which wins over `.env`. Empty means unset, as an unfilled ${VAR}."""
        found = {}
        for f in dataclasses.fields(cls):
            name = cls.env_name(f.name)
            for source, text in (
                (Source.FLAG, getattr(flags, f.name, None)),
                (Source.ENVIRONMENT, environ.get(name)),
                (Source.DOTENV, dotenv.get(name)),
            ):
                if text is not None and text.strip():
                    found[f.name] = (text, source)
                    break
        return found

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] = os.environ,
        flags: Any = None,
        dotenv: Mapping[str, str | None] | None = None,
    ) -> Self:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        texts = cls._texts(environ, flags, dotenv or {})
        return cls(**{name: cls._parse(fields[name], text) for name, (text, _) in texts.items()})

    def origins(
        self,
        environ: Mapping[str, str] = os.environ,
        flags: Any = None,
        dotenv: Mapping[str, str | None] | None = None,
    ) -> list[Origin]:
        """Each setting in force and where it came from, secrets masked."""
        texts = self._texts(environ, flags, dotenv or {})
        origins = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            shown = _text(value)
            if f.metadata["secret"] and value is not None:
                shown = "<hidden>"
            source = texts[f.name][1] if f.name in texts else Source.DEFAULT
            origins.append(Origin(self.env_name(f.name), shown, source))
        return origins

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

    @property
    def topics(self) -> Topics:
        return Topics(self.station)


def _text(value: object) -> str:
    """A value as its variable would spell it."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
