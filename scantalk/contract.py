"""The topic contract (v1): topic names and the typed payloads that travel on them.

Every JSON payload is a dataclass here with one way onto the wire (`to_json`) and one way off it
(`from_json`, which checks the `schema` tag, required fields and field types), so no node builds
or picks apart JSON by hand. Frames are plain JPEG bytes; their metadata rides in MQTT v5 user
properties (`FrameInfo`), so `mosquitto_pub -f photo.jpg` is a valid camera.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Self

from scantalk import channels as ch
from scantalk.channels import FRAME_EXPIRY_S as FRAME_EXPIRY_S  # the contract's, too
from scantalk.channels import ROOT


class NodeName(StrEnum):
    """The nodes of a lane: each has `…/<node>/status` and `…/<node>/stats`."""

    CAMERA = "camera"
    CLASSIFIER = "classifier"
    VOICE = "voice"
    BRIDGE = "bridge"
    SCALE = "scale"
    """Only where a produce scale is configured (`SCANTALK_SCALE_PORT`)."""


ONLINE = b"online"
OFFLINE = b"offline"
MAX_TEXT = 1000
"""Characters in any text field: names and ids are short; anything longer is not ours."""
MAX_ITEMS = 20
"""Entries in any list field (alternatives, top labels)."""
MAX_KG = 1000.0
"""Beyond any checkout scale: a bigger number is not a weight."""


class ContractError(ValueError):
    """A payload or topic that does not follow the contract."""


class Unit(StrEnum):
    """How an item is sold (the catalog's `unit` column)."""

    EACH = "each"
    """By the piece."""
    KG = "kg"
    """By weight, from the produce scale."""


def now_rfc3339(after_s: float = 0) -> str:
    """The current UTC time (or `after_s` from now) as RFC 3339 with milliseconds, e.g.
    `2026-11-25T09:53:00.123Z`."""
    when = datetime.now(UTC) + timedelta(seconds=after_s)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


STATION_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
"""A station id: it is a topic level, so no `/`, `+` or `#`, and short."""
_STATION = re.compile(STATION_PATTERN.replace("$", r"\Z"))  # `$` would let "lane-1\n" through


@dataclass(frozen=True)
class Topics:
    """Topic names of one station (`+` for all stations, to follow a whole store)."""

    station: str

    def __post_init__(self) -> None:
        if self.station != "+" and not _STATION.match(self.station):
            raise ContractError(
                f"station id {self.station!r} is not usable in a topic: "
                "use 1-64 letters, digits, '.', '_' or '-'"
            )

    def _t(self, channel: ch.Channel, **levels: str) -> str:
        return channel.topic(station=self.station, **levels)

    @property
    def frame(self) -> str:
        return self._t(ch.FRAME)

    @property
    def snapshot(self) -> str:
        return self._t(ch.SNAPSHOT)

    @property
    def prediction(self) -> str:
        return self._t(ch.PREDICTION)

    @property
    def scan(self) -> str:
        return self._t(ch.SCAN)

    @property
    def classifier_config(self) -> str:
        return self._t(ch.CLASSIFIER_CONFIG)

    @property
    def classifier_config_state(self) -> str:
        return self._t(ch.CLASSIFIER_CONFIG_STATE)

    @property
    def taught(self) -> str:
        return self._t(ch.TAUGHT)

    @property
    def model(self) -> str:
        return self._t(ch.MODEL)

    @property
    def rollout(self) -> str:
        return self._t(ch.ROLLOUT)

    @property
    def voice_config(self) -> str:
        return self._t(ch.VOICE_CONFIG)

    @property
    def voice_config_state(self) -> str:
        return self._t(ch.VOICE_CONFIG_STATE)

    @property
    def camera_config(self) -> str:
        return self._t(ch.CAMERA_CONFIG)

    @property
    def camera_config_state(self) -> str:
        return self._t(ch.CAMERA_CONFIG_STATE)

    @property
    def say(self) -> str:
        return self._t(ch.SAY)

    @property
    def spoken(self) -> str:
        return self._t(ch.SPOKEN)

    @property
    def repeat(self) -> str:
        """Any payload: say the last item announcement (or "not sure") again, now (a button,
        Home Assistant)."""
        return self._t(ch.REPEAT)

    @property
    def question(self) -> str:
        return self._t(ch.QUESTION)

    @property
    def answer(self) -> str:
        return self._t(ch.ANSWER)

    @property
    def weight(self) -> str:
        return self._t(ch.WEIGHT)

    @property
    def inventory_ack(self) -> str:
        return self._t(ch.INVENTORY_ACK)

    def status(self, node: NodeName) -> str:
        return self._t(ch.STATUS, node=_node(node))

    @property
    def statuses(self) -> str:
        """Every node's status: a subscription filter."""
        return self._t(ch.STATUS, node="+")

    def stats(self, node: NodeName) -> str:
        return self._t(ch.STATS, node=_node(node))

    @staticmethod
    def station_of(topic: str) -> str:
        """The station a topic belongs to: `scantalk/lane-1/scan` -> `lane-1`."""
        root, _, rest = topic.partition("/")
        station = rest.partition("/")[0]
        if root != ROOT or not _STATION.match(station):
            raise ContractError(f"topic {topic[:200]!r} is not under {ROOT}/<station>/")
        return station


def _node(name: str) -> NodeName:
    try:
        return NodeName(name)
    except ValueError:
        nodes = ", ".join(NodeName)
        raise ContractError(f"unknown node {name!r}; nodes are {nodes}") from None


CONTROL_CHARACTERS = r"[\u0000-\u001f\u007f-\u009f]"
"""No text of the contract holds a control character (NUL, escape, newline …): the voice would
say or choke on it, and logs and terminals would be garbled or driven by it. As a JSON Schema
(ECMA-262) pattern; `CONTROL` is the same for Python."""
CONTROL = re.compile(CONTROL_CHARACTERS)


def printable(text: str) -> str:
    """Text for a terminal or a log: each control character shown as U+FFFD, so text from the
    bus or from an older store can neither garble nor drive the screen."""
    return CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)


def limits(means: str | None = None, **keywords: Any) -> dict[str, Any]:
    """A field's limits beyond its type, as JSON Schema keywords (`minLength`, `maxLength`,
    `pattern`, `minimum`, `maximum`, `exclusiveMinimum`, `minItems`, `maxItems`), for
    `field(metadata=…)`: the one statement of them, which `from_dict` checks and the AsyncAPI
    document and the record schema print. `means`: what a value matching `pattern` is."""
    return {"limits": keywords, "means": means}


def stamped() -> Any:
    """A payload's own time: now when made in code, and required on the wire, where every
    publisher of that payload writes it (only the outside users' answers may leave it out)."""
    return field(default_factory=now_rfc3339, metadata={"required": True})


def required(f: dataclasses.Field) -> bool:
    """Whether a payload on the wire must carry the field: the parser and the schemas ask here."""
    no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    return no_default or f.metadata.get("required", False)


ID = limits(minLength=1, maxLength=128)
"""An id or a name: short, not empty."""
STATION = limits("a station id", pattern=STATION_PATTERN)
PLU_PATTERN = r"^[0-9]{4,5}$"
PLU = limits("an IFPS price look-up code (4 or 5 digits)", pattern=PLU_PATTERN)
LANGUAGES = ("en", "de")
"""The languages ScanTalk has phrases in (`scantalk.phrases` holds them)."""
LANGUAGE = limits(
    f"a language ScanTalk has phrases in ({', '.join(LANGUAGES)}), as a BCP 47 tag",
    # Tags are case-insensitive: `de-AT`, `DE`; JSON Schema's patterns have no flag for it.
    pattern="^("
    + "|".join("".join(f"[{c}{c.upper()}]" for c in language) for language in LANGUAGES)
    + ")(-[A-Za-z0-9]{1,8}){0,4}$",
)


def _check_limits(value: Any, f: dataclasses.Field, where: str) -> None:
    keywords = f.metadata.get("limits")
    if not keywords or value is None:
        return
    if isinstance(value, str):
        low, high = keywords.get("minLength", 0), keywords.get("maxLength", MAX_TEXT)
        if not low <= len(value) <= high:
            raise ContractError(f"{where} must be {low}-{high} characters")
        pattern = keywords.get("pattern")
        if pattern and not re.search(pattern.replace("$", r"\Z"), value):
            raise ContractError(f"{where} {value[:80]!r} is not {f.metadata['means'] or pattern}")
    elif isinstance(value, list):
        low, high = keywords.get("minItems", 0), keywords.get("maxItems", MAX_ITEMS)
        if not low <= len(value) <= high:
            raise ContractError(f"{where}: {low}-{high} items, not {len(value)}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        low = keywords.get("minimum", keywords.get("exclusiveMinimum", -math.inf))
        high = keywords.get("maximum", math.inf)
        above = value > low if "exclusiveMinimum" in keywords else value >= low
        if not (above and value <= high):
            opening = "(" if "exclusiveMinimum" in keywords else "["
            raise ContractError(f"{where} {value} is not in {opening}{low:g}, {high:g}]")


class Payload:
    """Base of every JSON payload: subclasses are dataclasses with a `SCHEMA` tag."""

    SCHEMA: ClassVar[str]
    CORRELATES: ClassVar[str | None] = None
    """The field that ties it to what it answers or belongs to (a scan's `scan_id`, a
    question's `question_id`, a change's `request_id`): the AsyncAPI `correlationId`."""

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.SCHEMA, **dataclasses.asdict(self)}  # type: ignore[call-overload]

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        return cls.from_dict(_loads(data, cls.SCHEMA))

    @classmethod
    def from_dict(cls, obj: Any) -> Self:
        if not isinstance(obj, dict):
            raise ContractError(f"{cls.SCHEMA}: expected a JSON object, got {type(obj).__name__}")
        if obj.get("schema") != cls.SCHEMA:
            raise ContractError(f"expected schema {cls.SCHEMA!r}, got {obj.get('schema')!r}")
        payload = _build(cls, obj, cls.SCHEMA)
        payload.validate()
        return payload

    def validate(self) -> None:
        """Checks of values beyond their types; subclasses add theirs."""

    @classmethod
    def bounds(cls, name: str) -> tuple[float, float]:
        """A numeric field's range: what the node's settings accept, its state shows and the
        schema says."""
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        (keywords,) = (f.metadata["limits"] for f in fields if f.name == name)
        return keywords["minimum"], keywords["maximum"]

    @classmethod
    def text_of(cls, data: bytes, key: str) -> str:
        """The text under `key` of a payload that may be invalid, if it is a usable id (so a
        refusal can still name what it refuses); empty otherwise."""
        try:
            obj = _loads(data, cls.SCHEMA)
        except ContractError:
            return ""
        value = obj.get(key) if isinstance(obj, dict) else None
        if not isinstance(value, str) or len(value) > 128:
            return ""
        return value.encode("utf-8", "replace").decode()


def _loads(data: bytes | str, schema: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # also too deep, or a 5000-digit number
        raise ContractError(f"{schema}: not JSON ({str(exc)[:200]})") from exc


def _build(cls: type, obj: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in obj:
            values[f.name] = _convert(obj[f.name], hints[f.name], f"{where}.{f.name}")
            _check_limits(values[f.name], f, f"{where}: {f.name}")
        elif required(f):
            raise ContractError(f"{where}: missing field {f.name!r}")
    return cls(**values)


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is types.UnionType:  # `X | None`
        if value is None and type(None) in typing.get_args(hint):
            return None
        (inner,) = (a for a in typing.get_args(hint) if a is not type(None))
        return _convert(value, inner, where)
    if origin is list:
        if not isinstance(value, list) or len(value) > MAX_ITEMS:
            raise ContractError(f"{where}: expected a list of at most {MAX_ITEMS}")
        (inner,) = typing.get_args(hint)
        return [_convert(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ContractError(f"{where}: expected an object")
        return _build(hint, value, where)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(str(member.value) for member in hint)
            raise ContractError(f"{where}: expected one of {allowed}, got {value!r}") from None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # a 400-digit integer is JSON, but no float
            raise ContractError(f"{where}: number too large") from None
    if hint is dict and isinstance(value, dict):
        return value
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ContractError(f"{where}: expected {hint.__name__}, got {str(value)[:80]!r}")
    if hint is str:
        if len(value) > MAX_TEXT:
            raise ContractError(f"{where}: longer than {MAX_TEXT} characters")
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            raise ContractError(f"{where}: not valid Unicode text") from exc
        if control := CONTROL.search(value):
            raise ContractError(
                f"{where}: control character U+{ord(control[0]):04X} in text "
                "(it would garble speech, logs and terminals)"
            )
    return value


@dataclass(frozen=True)
class Guess:
    """One label the model considers, with its probability."""

    label: str
    """Model label, as in the model's `labels.txt`."""
    confidence: float
    """Probability in [0, 1]."""


@dataclass(frozen=True)
class Prediction(Payload):
    """What the classifier saw in one frame (`…/classifier/prediction`, QoS 0)."""

    SCHEMA: ClassVar[str] = "scantalk.prediction/1"
    station: str
    frame_id: str
    """The camera's frame id, or empty when the frame carried none."""
    model: str
    inference_ms: float
    """Decode, preprocessing and inference time for this frame."""
    top: list[Guess]
    """The most likely labels, best first."""
    presence: float = 1.0
    """Total probability of announced labels: low when nothing (known) is in the scan area."""
    settled: bool = False
    """With this frame the decision needs no more frames of the scene: the counter is empty, or
    its item was named, asked about or called unsure. The camera then stops sending the rest
    of its settle frames until the scene changes again."""
    time: str = stamped()


@dataclass(frozen=True)
class ClassifierConfig(Payload):
    """Scan decision settings, changeable at run time.

    Publish to `…/classifier/config` with the fields to change, live (a retained change is
    refused). The classifier keeps the values in force in its data directory over restarts,
    and answers on `…/classifier/config/state` (retained) with them, and `error` naming what it
    refused.
    """

    SCHEMA: ClassVar[str] = "scantalk.classifier-config/1"
    CORRELATES: ClassVar[str] = "request_id"
    LIVE_MINIMUM: ClassVar[dict[str, float]] = {
        # Below half, a label need not hold most of the announced labels' probability: two can
        # pass at once, and the share no longer says "this one rather than the others".
        "threshold": 0.5,
        # One frame of evidence makes a passing hand or one misread frame an announcement, and
        # one empty frame ends a placement (a flicker announces the same item again).
        "stable_frames": 2,
        # At 0 no frame is ever empty: a placement never ends, and a second item of the same
        # kind is never announced.
        "empty_below": 0.001,
    }
    """Floors of a live change (anyone on the bus may send one, retained across restarts),
    above a setting's range where the range would let a change turn a safety off."""
    threshold: float | None = field(default=None, metadata=limits(minimum=0.5, maximum=1))
    """Share among the model's announced labels a built-in label needs."""
    presence: float | None = field(default=None, metadata=limits(minimum=0.01, maximum=1))
    """Total probability of the model's announced labels a built-in label's scan needs."""
    similarity: float | None = field(default=None, metadata=limits(minimum=0.3, maximum=1))
    """Cosine similarity to a taught item's closest prototype it needs."""
    stable_frames: int | None = field(default=None, metadata=limits(minimum=1, maximum=100))
    """Frames of evidence before a scan, and empty frames that end a placement."""
    empty_below: float | None = field(default=None, metadata=limits(minimum=0.001, maximum=1))
    """Presence below which a frame shows nothing."""
    language: str | None = field(default=None, metadata=LANGUAGE)
    """Language of announcements (BCP 47: `en`, `de`): names and phrases from then on."""
    answer_timeout: float | None = field(default=None, metadata=limits(minimum=2, maximum=60))
    """Seconds a question waits for the shopper's answer."""
    weighed_min_kg: float | None = field(default=None, metadata=limits(minimum=0.001, maximum=5))
    """Stable weight from which something lies on the produce scale."""
    weigh_wait: float | None = field(default=None, metadata=limits(minimum=0, maximum=10))
    """Seconds an item sold by weight waits for a stable weight before it is announced
    without one."""
    MAX_SETTLE_FRAMES: ClassVar[int] = 1000
    """What a camera will send in one burst at most (a minute at 15 fps): a bound on what it is
    told, well above what any decision needs, not a copy of how the classifier counts."""
    settle_frames: int | None = field(
        default=None, metadata=limits(minimum=1, maximum=MAX_SETTLE_FRAMES)
    )
    """State only: frames the decision needs of one placement; the camera sends that many after
    each change of scene. Ignored in a change."""
    error: str | None = None
    request_id: str | None = field(default=None, metadata=ID)
    """A change's own id, which the state that answers it echoes (`error` null: applied whole;
    else refused whole). A change that is no JSON object has none to echo."""

    @classmethod
    def live_bounds(cls, name: str) -> tuple[float, float]:
        """The range of a live change: the setting's, raised to its `LIVE_MINIMUM`."""
        low, high = cls.bounds(name)
        return max(low, cls.LIVE_MINIMUM.get(name, low)), high


class TaughtAction(StrEnum):
    TAUGHT = "taught"
    FORGOTTEN = "forgotten"


@dataclass(frozen=True)
class TaughtChange(Payload):
    """An item was taught on the lane or forgotten (`…/classifier/taught`, QoS 1).

    `scantalk teach` and `scantalk forget` write the lane's taught items, then publish this; a
    running classifier reads them again at once, without a restart.
    """

    SCHEMA: ClassVar[str] = "scantalk.taught/1"
    station: str
    label: str
    action: TaughtAction
    model: str
    """The model the item was taught on (taught items belong to one model's features)."""
    photos: int = 0
    """Photos it was taught from (0 when forgotten)."""
    time: str = stamped()


class DecidedBy(StrEnum):
    """Who named a scan's item."""

    LANE = "lane"
    """The lane was sure of it and announced it."""
    SHOPPER = "shopper"
    """The shopper chose it, answering the lane's question."""


def _check_time(schema: str, name: str, value: str) -> None:
    try:  # a real UTC time: its age decides what is still worth doing
        if datetime.fromisoformat(value).tzinfo is None:
            raise ValueError(value)
    except ValueError as exc:
        raise ContractError(f"{schema}: {name} {value[:80]!r} is not RFC 3339") from exc


@dataclass(frozen=True)
class Scan(Payload):
    """An item was recognised and stayed in view (`…/scan`, QoS 1): the product's event."""

    SCHEMA: ClassVar[str] = "scantalk.scan/1"
    CORRELATES: ClassVar[str] = "scan_id"
    MAX_REVISION: ClassVar[int] = 1000
    scan_id: str = field(metadata=ID)
    """Unique id of this scan, opaque text (the lane writes a UUID 4); also the IoT Hub message
    id of its inventory record. A subscriber may see a scan again: drop a `scan_id` it has."""
    station: str = field(metadata=STATION)
    label: str = field(metadata=ID)
    display_name: str = field(metadata=ID)
    """Name for people, from the catalog."""
    plu: str | None = field(metadata=PLU)
    """Price look-up code where the catalog has one."""
    confidence: float = field(metadata=limits(minimum=0, maximum=1))
    model: str = field(metadata=ID)
    frame_id: str = field(metadata=limits(maxLength=128))
    alternatives: list[Guess]
    """The next most likely labels."""
    time: str = stamped()
    decided_by: DecidedBy = DecidedBy.LANE
    question_id: str | None = field(default=None, metadata=ID)
    """The question the shopper answered, when `decided_by` is `shopper`."""
    unit: Unit = Unit.EACH
    """How the item is sold, from the catalog."""
    weight_kg: float | None = field(
        default=None, metadata=limits(exclusiveMinimum=0, maximum=MAX_KG)
    )
    """For an item sold by weight: the scale's stable weight; null for an item sold by the
    piece, and on a lane without a scale (the checkout weighs it)."""
    revision: int = field(default=1, metadata=limits(minimum=1, maximum=MAX_REVISION))
    """1 for the scan. While the same item stays on the scale, each new stable weight (a second
    banana added) publishes the scan again: the same `scan_id`, the next revision and the new
    weight. It is not a new scan and is not announced again; only its weight is said. Keep the
    highest revision of each `scan_id`."""
    seq: int | None = field(default=None, metadata=limits(minimum=1))
    """The station's sequence number of this scan, 1, 2, 3 … across restarts of the lane (a
    revision keeps its scan's). A scan may arrive again, or late (the classifier publishes a
    scan again until the bridge has it): a number never seen before that skips one means a
    scan not received yet. Null from a classifier older than this field."""

    def validate(self) -> None:
        if self.weight_kg is not None and self.unit != Unit.KG:
            raise ContractError(f"{self.SCHEMA}: weight_kg is for an item sold by weight")
        _check_time(self.SCHEMA, "time", self.time)  # its record's `scannedAt`

    @classmethod
    def id_of(cls, data: bytes) -> str:
        """The scan id of a payload that is not a valid scan, if it has a usable one, so a
        rejection can still name it; empty otherwise."""
        return cls.text_of(data, "scan_id")

    @classmethod
    def revision_of(cls, data: bytes) -> int:
        """The revision of a payload that is not a valid scan, where it has a usable one."""
        try:
            value = _loads(data, cls.SCHEMA).get("revision", 1)
        except (ContractError, AttributeError):
            return 1
        usable = isinstance(value, int) and not isinstance(value, bool)
        return value if usable and 1 <= value <= cls.MAX_REVISION else 1


@dataclass(frozen=True)
class Candidate:
    """One item a question offers, with the key that chooses it."""

    label: str
    display_name: str
    plu: str | None = field(metadata=PLU)
    key: int = field(metadata=limits(minimum=1, maximum=3))
    """1, 2 or 3: the first candidate is the likeliest."""


@dataclass(frozen=True)
class Question(Payload):
    """The lane is not sure, and asks the shopper (`…/classifier/question`, QoS 1).

    At most three candidates, best first. Answer on `…/shopper/answer` before `expires_at`.
    A question closes when it is answered, when it expires, and when its item is taken away or
    another one placed: an answer after that is refused.
    """

    SCHEMA: ClassVar[str] = "scantalk.question/1"
    CORRELATES: ClassVar[str] = "question_id"
    MAX_CANDIDATES: ClassVar[int] = 3
    question_id: str = field(metadata=ID)
    station: str = field(metadata=STATION)
    candidates: list[Candidate] = field(metadata=limits(minItems=1, maxItems=MAX_CANDIDATES))
    expires_at: str
    """When the lane stops waiting for an answer."""
    time: str = stamped()

    def validate(self) -> None:
        if [c.key for c in self.candidates] != list(range(1, len(self.candidates) + 1)):
            raise ContractError(f"{self.SCHEMA}: candidates' keys must be 1, 2, 3 in order")
        if len({c.label for c in self.candidates}) != len(self.candidates):
            raise ContractError(f"{self.SCHEMA}: a label is offered twice")
        for name in ("time", "expires_at"):
            _check_time(self.SCHEMA, name, getattr(self, name))


@dataclass(frozen=True)
class Answer(Payload):
    """The shopper's answer to a question (`…/shopper/answer`, QoS 1): from the checkout
    system, a keypad reader or Home Assistant.

    A chosen item becomes one scan, `decided_by` `shopper`. An answer to a closed or unknown
    question, with a label that was not offered, or for another station is refused.
    """

    SCHEMA: ClassVar[str] = "scantalk.answer/1"
    CORRELATES: ClassVar[str] = "question_id"
    question_id: str = field(metadata=ID)
    station: str
    choice: str | None = field(metadata=ID)
    """One of the offered labels, or null for "none of these"."""
    source: str = field(metadata=limits(minLength=1, maxLength=64))
    """Who answered: `keypad`, `checkout`, `homeassistant`, or a name of your own."""
    time: str = field(default_factory=now_rfc3339)


class WeightStatus(StrEnum):
    """What the scale says of its weight."""

    OK = "ok"
    """A valid weight that has settled: the only status with `stable` true."""
    MOTION = "motion"
    """The weight is still moving (an item being placed or taken)."""
    UNDER_ZERO = "under_zero"
    OVER_CAPACITY = "over_capacity"
    ZERO_ERROR = "zero_error"
    """The scale cannot find its zero or failed its self-check: it needs staff."""
    NO_SCALE = "no_scale"
    """The scale is unplugged, silent or sends nothing usable; the lane runs on the camera."""


@dataclass(frozen=True)
class Weight(Payload):
    """What the produce scale weighs now (`…/scale/weight`, QoS 1, retained: a late
    subscriber knows the current state). Published on each change of a stable weight or of the
    status, and at most every `MOTION_EVERY_S` while the weight moves."""

    SCHEMA: ClassVar[str] = "scantalk.weight/1"
    MAX_KG: ClassVar[float] = MAX_KG
    MOTION_EVERY_S: ClassVar[float] = ch.WEIGHT_MOTION_EVERY_S
    station: str = field(metadata=STATION)
    weight_kg: float | None = field(metadata=limits(minimum=-MAX_KG, maximum=MAX_KG))
    """Kilograms on the scale (in motion: the moving reading); null when the scale gives none
    (over capacity, no scale)."""
    stable: bool
    """The weight has settled: only a stable weight starts a placement or goes on a record."""
    status: WeightStatus
    time: str = stamped()

    def validate(self) -> None:
        if self.stable and self.status is not WeightStatus.OK:
            raise ContractError(f"{self.SCHEMA}: only an ok weight is stable")
        _check_time(self.SCHEMA, "time", self.time)


class SayKind(StrEnum):
    """How a speech request meets what is being said."""

    ITEM = "item"
    """An item announcement: a newer one interrupts an older one."""
    PROMPT = "prompt"
    """A prompt to the shopper ("not sure"): waits for what is being said."""
    NOTICE = "notice"
    """A notice ("ready"): waits, too."""
    QUESTION = "question"
    """A question to the shopper: the `question` earcon, then the words; waits like a prompt."""
    EARCON = "earcon"
    """A short sound, not words: `text` names it (an `Earcon`)."""


class Earcon(StrEnum):
    """The lane's sounds that are not words."""

    DETECTED = "detected"
    """Something is on the scale: before its name is known."""
    QUESTION = "question"
    """A question follows."""


@dataclass(frozen=True)
class SayRequest(Payload):
    """Something to say out loud (`…/voice/say`, QoS 1)."""

    SCHEMA: ClassVar[str] = "scantalk.say/1"
    CORRELATES: ClassVar[str] = "scan_id"
    MAX_TEXT: ClassVar[int] = 200
    """An announcement is a product name or a short prompt, not an essay."""
    station: str
    text: str = field(metadata=limits("words", minLength=1, maxLength=MAX_TEXT, pattern=r"\S"))
    language: str
    """BCP 47 language tag, e.g. `en` or `de`."""
    scan_id: str | None = None
    """The scan this announces, if any."""
    kind: SayKind = SayKind.ITEM
    time: str = stamped()

    MAX_AGE_S: ClassVar[int] = 10
    """A request made longer ago than this is about an item long gone: not said."""
    CLOCK_SKEW_S: ClassVar[int] = 60
    """A request dated up to this far in the future is taken as made now: the publisher's clock
    runs ahead of the voice's (another device, NTP not yet synced). Further ahead, the clocks
    are too far apart to judge its age at all: not said. Behind, no allowance: the age limit
    itself is the point (an old request must not be said), so a lane's devices must keep their
    clocks within a few seconds (containers on one host share one clock)."""
    REPEAT_WINDOW_S: ClassVar[int] = 60
    """A voice may skip words it was asked to say within this many seconds of the same words
    (its cooldown is at most this)."""

    def validate(self) -> None:
        if self.kind is SayKind.EARCON and self.text not in set(Earcon):
            raise ContractError(f"say: an earcon is one of {', '.join(Earcon)}")
        # Its age decides whether it is still worth saying: it must be a real UTC time.
        _check_time("say", "time", self.time)

    def age_s(self) -> float:
        """Seconds since its own `time`, by this machine's clock (negative: dated ahead)."""
        return (datetime.now(UTC) - datetime.fromisoformat(self.time)).total_seconds()

    def unsaid_because(self, waited_s: float) -> str | None:
        """Why a voice does not say this request now, `waited_s` after it arrived: `say_future`
        (dated over `CLOCK_SKEW_S` ahead), `stale` (made, or waiting, over `MAX_AGE_S` ago);
        None when it is said. The voice decides by it, and the bridge's speech watch expects
        speech by it."""
        age = self.age_s()
        if age < -self.CLOCK_SKEW_S:
            return "say_future"
        if max(age, waited_s) > self.MAX_AGE_S:
            return "stale"
        return None


@dataclass(frozen=True)
class VoiceConfig(Payload):
    """The voice's settings, changeable at run time (`…/voice/config`, a command): the lane's
    twin sets them. The voice applies a change whole or refuses it whole, and answers on
    `…/voice/config/state` (retained) with the values in force and `error`."""

    SCHEMA: ClassVar[str] = "scantalk.voice-config/1"
    CORRELATES: ClassVar[str] = "request_id"
    rate: float | None = field(default=None, metadata=limits(minimum=0.5, maximum=2))
    """Speaking rate, 1.0 is normal (`SCANTALK_SPEECH_RATE`)."""
    volume: int | None = field(default=None, metadata=limits(minimum=1, maximum=100))
    """Speaking volume, percent (`SCANTALK_SPEECH_VOLUME`)."""
    cooldown: float | None = field(
        default=None, metadata=limits(minimum=0, maximum=SayRequest.REPEAT_WINDOW_S)
    )
    """Seconds in which the same words are not said twice in a row (`SCANTALK_VOICE_COOLDOWN`)."""
    error: str | None = None
    request_id: str | None = field(default=None, metadata=ID)
    """A change's own id, which the state that answers it echoes."""


@dataclass(frozen=True)
class CameraConfig(Payload):
    """The camera's settings, changeable at run time (`…/camera/config`, a command): the lane's
    twin sets them. The camera answers on `…/camera/config/state` (retained) with the values in
    force and `error`."""

    SCHEMA: ClassVar[str] = "scantalk.camera-config/1"
    CORRELATES: ClassVar[str] = "request_id"
    fps: float | None = field(default=None, metadata=limits(minimum=0.1, maximum=60))
    """Frames published per second, at most (`SCANTALK_CAMERA_FPS`)."""
    roi: list[float] | None = field(default=None, metadata=limits(minItems=4, maxItems=4))
    """The scan area the motion gate watches: x, y, width, height as shares of the frame
    (`SCANTALK_CAMERA_ROI`)."""
    error: str | None = None
    request_id: str | None = field(default=None, metadata=ID)
    """A change's own id, which the state that answers it echoes."""


@dataclass(frozen=True)
class Spoken(Payload):
    """What the voice node said (`…/voice/spoken`, QoS 0)."""

    SCHEMA: ClassVar[str] = "scantalk.spoken/1"
    CORRELATES: ClassVar[str] = "scan_id"
    station: str
    text: str
    engine: str
    cache_hit: bool
    latency_ms: float
    """From receiving the request to its first audio going out."""
    duration_ms: float = 0.0
    """How long it played (0 from a voice older than this field)."""
    scan_id: str | None = None
    interrupted: bool = False
    """A newer announcement cut this one short."""
    time: str = stamped()


class AckStatus(StrEnum):
    """Where the bridge is with one scan."""

    QUEUED = "queued"
    """Stored in the outbox: it will not be lost."""
    DELIVERED = "delivered"
    """Its destination confirmed it."""
    REJECTED = "rejected"
    """Malformed or against the contract; `reason` says why. Never forwarded."""


@dataclass(frozen=True)
class InventoryAck(Payload):
    """The bridge's delivery state of one scan (`…/inventory/ack`, QoS 1)."""

    SCHEMA: ClassVar[str] = "scantalk.inventory-ack/1"
    CORRELATES: ClassVar[str] = "scan_id"
    station: str
    scan_id: str
    status: AckStatus
    destination: str = ""
    """`local` (SQLite store) or `iothub`; empty from a bridge older than this field."""
    reason: str | None = None
    time: str = stamped()
    revision: int = field(default=1, metadata=limits(minimum=1, maximum=Scan.MAX_REVISION))
    """The revision of the scan it is for."""


@dataclass(frozen=True)
class ModelInfo(Payload):
    """The model a classifier runs (`…/classifier/model`, QoS 1, retained): what a chain asks of
    each lane (IoT Hub's reported properties carry it)."""

    SCHEMA: ClassVar[str] = "scantalk.model/1"
    station: str = field(metadata=STATION)
    name: str = field(metadata=ID)
    """The model folder's name, as scans name it."""
    kind: str = field(metadata=ID)
    """How its output is read, as `scantalk model info` says (`probabilities`,
    `custom-vision-map`, `automl`)."""
    sha256: str = field(metadata=limits("a SHA-256 in hex", pattern=r"^[0-9a-f]{64}$"))
    """Of its `model.onnx`: the same file on every lane that runs it."""
    labels: int = field(metadata=limits(minimum=1, maximum=100_000))
    """How many labels it knows."""
    taught: int = field(default=0, metadata=limits(minimum=0))
    """Items taught on this lane, beside the model's own labels."""
    loaded_at: str = stamped()
    """When the classifier loaded it."""
    version: str | None = field(default=None, metadata=ID)
    """The rolled-out version it is (`…/classifier/rollout`); null for the model the lane was
    deployed with."""
    rollout_version: str | None = field(default=None, metadata=ID)
    """The last rollout asked for, when it failed."""
    rollout_error: str | None = None
    """Why that rollout failed: the model above runs on."""


@dataclass(frozen=True)
class ModelRollout(Payload):
    """Roll out a model (`…/classifier/rollout`, QoS 1, a command): the bridge relays the lane
    twin's desired `model`. The classifier fetches it over HTTPS (resumable), checks its
    SHA-256, loads and smoke-checks it beside the running model, and swaps between two frames;
    any failure keeps the running model, and `…/classifier/model` says why."""

    SCHEMA: ClassVar[str] = "scantalk.rollout/1"
    CORRELATES: ClassVar[str] = "version"
    station: str = field(metadata=STATION)
    url: str = field(metadata=limits("an https:// URL", pattern=r"^https://\S+$"))
    """A zip of the model folder (`model.onnx`, `labels.txt`, optionally `catalog.csv`)."""
    sha256: str = field(metadata=limits("a SHA-256 in hex", pattern=r"^[0-9a-f]{64}$"))
    """Of the zip."""
    version: str = field(metadata=limits("a version", pattern=r"^[A-Za-z0-9._-]{1,64}$"))
    """Names the model on the lane; an earlier version again goes back to it."""
    time: str = stamped()


@dataclass(frozen=True)
class Stats(Payload):
    """Periodic health of one node (`…/<node>/stats`, QoS 0)."""

    SCHEMA: ClassVar[str] = "scantalk.stats/1"
    station: str
    node: NodeName
    counters: dict
    """Counts since start, e.g. `frames`, `scans`, `errors`."""
    time: str = stamped()


class UserProperties:
    """Base of metadata carried as MQTT v5 user properties beside binary payloads (frames,
    snapshots), so the payload stays a plain JPEG any tool can send or show. Subclasses are
    dataclasses of `str`, `int` and `float` fields, each with a default."""

    CORRELATES: ClassVar[str | None] = None
    """The property that ties it to what it belongs to, as `Payload.CORRELATES`."""

    def to_properties(self) -> list[tuple[str, str]]:
        return [(f.name, str(getattr(self, f.name))) for f in dataclasses.fields(self)]  # type: ignore[arg-type]

    @classmethod
    def from_properties(cls, props: dict[str, str]) -> Self:
        """Reads what is there; a payload without metadata (plain `mosquitto_pub -f`) is fine."""
        hints = typing.get_type_hints(cls)
        values = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in props:
                try:
                    values[f.name] = hints[f.name](props[f.name][:MAX_TEXT])
                except ValueError as exc:
                    raise ContractError(f"{cls.__name__} {f.name}: {exc}") from exc
        return cls(**values)


class FrameCause(StrEnum):
    """Why the camera sent a frame: whether the scene was still moving."""

    CHANGE = "change"
    """The scene was changing (its motion reached the gate's share): an item or a hand on
    its way, not yet at rest."""
    SETTLE = "settle"
    """One of the frames after a change, the scene at rest, sent until the classifier has
    decided on it."""
    HEARTBEAT = "heartbeat"
    """Nothing changed for a while: the lane is alive."""
    UNSAID = ""
    """A camera that does not say (no gate, or not ours): taken as at rest."""

    @classmethod
    def _missing_(cls, value: object) -> FrameCause:
        """A cause this contract does not know (a newer camera's) is read as unsaid: its frame
        is still a frame."""
        return cls.UNSAID


@dataclass(frozen=True)
class FrameInfo(UserProperties):
    """Frame metadata (`…/camera/frame`)."""

    frame_id: str = ""
    captured_at: str = ""
    width: int = 0
    height: int = 0
    motion: float = 0.0
    """Share of the scan area that changed since the previous published frame."""
    presence: float = 0.0
    """Share of the scan area that differs from the camera's background model."""
    cause: FrameCause = FrameCause.UNSAID
    """Why it was sent: `change`, `settle`, `heartbeat`, or nothing."""


@dataclass(frozen=True)
class SnapshotInfo(UserProperties):
    """Snapshot metadata (`…/camera/snapshot`): which scan the JPEG shows."""

    CORRELATES: ClassVar[str] = "scan_id"
    scan_id: str = ""
    label: str = ""
    frame_id: str = ""


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class RecordType(StrEnum):
    """What an inventory record records."""

    SCAN = "scan"
    """An item scanned at a lane."""


@dataclass(frozen=True)
class InventoryRecord(Payload):
    """One scan as an inventory record: the body the bridge sends to IoT Hub (camelCase keys)."""

    SCHEMA: ClassVar[str] = "scantalk.inventory-record/1"
    NEWER: ClassVar[tuple[str, ...]] = ("decided_by", "question_id", "revision", "seq")
    """Fields that records made before them lack: not required of a record."""
    scan_id: str = field(metadata=ID)
    """Unique id of the scan; also the IoT Hub message id, so the hub side can drop a repeated
    one."""
    station_id: str = field(metadata=STATION)
    """The checkout lane."""
    device_id: str
    """The IoT Hub device (or host name when local)."""
    item: str = field(metadata=ID)
    """The model's label."""
    display_name: str
    """The item's name for people, from the catalog."""
    plu: str | None = field(metadata=PLU)
    """IFPS price look-up code, where the catalog has one."""
    confidence: float = field(metadata=limits(minimum=0, maximum=1))
    scanned_at: str
    model: str
    """The model directory's name."""
    store_id: str | None = None
    """The store (SCANTALK_STORE), if set."""
    sku: str | None = None
    """The retailer's own article number, where it has one."""
    quantity: float | None = field(default=1, metadata=limits(exclusiveMinimum=0))
    """Pieces (1) of an item sold `each`; kilograms of one sold by weight, or null when it was
    not weighed (no scale, or no stable weight): the checkout must weigh it."""
    unit: Unit = Unit.EACH
    record_type: RecordType = RecordType.SCAN
    decided_by: DecidedBy = DecidedBy.LANE
    """`lane` (announced) or `shopper` (chosen, answering `question_id`)."""
    question_id: str | None = field(default=None, metadata=ID)
    revision: int = field(default=1, metadata=limits(minimum=1, maximum=Scan.MAX_REVISION))
    """The scan's revision: a later one (a new weight) replaces an earlier one of its
    `scan_id`."""
    seq: int | None = field(default=None, metadata=limits(minimum=1))
    """The station's sequence number of the scan: the hub side sees a gap as a missing one."""

    def validate(self) -> None:
        if self.unit == Unit.EACH and self.quantity != 1:
            raise ContractError(f"{self.SCHEMA}: an item sold each is 1 piece, not {self.quantity}")
        _check_time(self.SCHEMA, "scanned_at", self.scanned_at)

    @property
    def message_id(self) -> str:
        """Its IoT Hub message id: the scan id, and `<scan id>.<revision>` for a later revision,
        so the hub side drops redelivered copies but not a new weight."""
        return self.scan_id if self.revision == 1 else f"{self.scan_id}.{self.revision}"

    @classmethod
    def from_scan(cls, scan: Scan, device_id: str, store_id: str | None = None) -> InventoryRecord:
        return cls(
            quantity=scan.weight_kg if scan.unit == Unit.KG else 1,
            unit=scan.unit,
            revision=scan.revision,
            decided_by=scan.decided_by,
            question_id=scan.question_id,
            store_id=store_id,
            scan_id=scan.scan_id,
            station_id=scan.station,
            device_id=device_id,
            item=scan.label,
            display_name=scan.display_name,
            plu=scan.plu,
            confidence=scan.confidence,
            scanned_at=scan.time,
            model=scan.model,
            seq=scan.seq,
        )

    def to_dict(self) -> dict[str, Any]:
        body = {camel_case(k): v for k, v in super().to_dict().items()}
        if self.unit == Unit.EACH and self.quantity is not None:
            body["quantity"] = int(self.quantity)  # pieces are counted, not measured
        return body

    @classmethod
    def from_dict(cls, obj: Any) -> Self:
        if isinstance(obj, dict):
            obj = {_snake(k): v for k, v in obj.items()}
        return super().from_dict(obj)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
