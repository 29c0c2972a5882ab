"""The contract's channel table: every topic once, with its payload, QoS, retain flag and
expiry, who publishes it and who reads it.

Everything else follows from it: `Topics` builds the topics, `Node.publish` and
`Node.subscribe` take QoS, retain and expiry from it (and refuse a topic the node has no part
in), the AsyncAPI document's channels and operations are generated from it, and so is the edge
broker's ACL (`scantalk broker acl` writes `mosquitto/acl`; a test holds the file and the
README's topic table to it). Users are the nodes (`{node}`: each node for itself) and the outside
users of the edge broker, `checkout` and `homeassistant`. Only the standard library here: the
contract imports this, and the CLI imports the contract for `--help`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

ROOT = "scantalk"
FRAME_EXPIRY_S = 2
"""Frames older than this are useless to the classifier; the broker drops them."""
BASKET_AGE_S = 120
"""How old a scan (by its `time`) a checkout may still add to the shopper's basket. An older
one reached it late, through a gap in its session: it is for staff to confirm, not to add."""
WEIGHT_MOTION_EVERY_S = 0.25
"""While the weight moves, the scale node publishes at most one reading this often."""
EACH_NODE = "{node}"
"""A publisher or reader that stands for every node, each on its own topic."""
ANY_NODE = "+"
"""As a reader's `node`: it reads every node's topic of a per-node channel."""
OUTSIDE = {
    "checkout": "third parties (the checkout software, `scantalk watch`, a dashboard, a keypad "
    "reader): they read the lane but its camera's live frames (pictures of shoppers' hands; the "
    "frame behind each scan is on `…/camera/snapshot`) and write only the commands the contract "
    "invites",
    "homeassistant": "Home Assistant, which reads the lanes and its discovery configs, and "
    "writes its birth and last will and its entities' commands",
}
"""The edge broker's users that are not nodes. Both read every topic of a lane that is not
`private`."""


@dataclass(frozen=True)
class Use:
    """One user's part in a channel: what it publishes, or what it reads it for."""

    user: str
    """A node's name, `EACH_NODE`, or an `OUTSIDE` user."""
    summary: str
    qos: int | None = None
    """A reader's own QoS where it takes less than the channel's (None: the channel's)."""
    node: str | None = None
    """On a per-node channel (`{node}` in its address), the one node whose topic it reads."""


@dataclass(frozen=True)
class Channel:
    key: str
    """Its name in the AsyncAPI document."""
    address: str
    """The topic, `{station}`, `{node}` and the like standing for one level each."""
    message: str
    """The payload's name: a `Payload` or `UserProperties` class of the contract, or a
    message of its own in the AsyncAPI document (`Status`, `Repeat`, Home Assistant's)."""
    title: str
    description: str
    qos: int
    publishers: tuple[Use, ...]
    readers: tuple[Use, ...] = ()
    retain: bool = False
    expiry_s: int | None = None
    """MQTT v5 message expiry its publishers set, in seconds."""
    private: bool = False
    """Only its listed readers may read it; outside users may not."""
    command: bool = False
    """A request to act now: obeyed when published live, refused (and counted,
    `rejected_retained`) when retained, for a retained command would be obeyed again at every
    start and again when cleared. Its readers subscribe with MQTT 5's retain-as-published, so a
    live publish's retain flag shows."""

    def topic(self, **levels: str) -> str:
        return self.address.format(**levels)

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        """Matches its topics, and subscription filters with `+` where a placeholder is."""
        parts = re.split(r"\{\w+\}", self.address)
        return re.compile("[^/]+".join(re.escape(part) for part in parts) + r"\Z")

    def reader(self, user: str) -> Use | None:
        return _use(self.readers, user)

    def publisher(self, user: str) -> Use | None:
        return _use(self.publishers, user)


def _use(uses: tuple[Use, ...], user: str) -> Use | None:
    """`user`'s part among `uses`: its own, or `EACH_NODE`'s for a node."""
    mine = (user,) if user in OUTSIDE else (user, EACH_NODE)
    return next((u for u in uses if u.user in mine), None)


def _lane(path: str) -> str:
    return f"{ROOT}/{{station}}/{path}"


def _uses(*pairs: tuple[str, str]) -> tuple[Use, ...]:
    return tuple(Use(user, summary) for user, summary in pairs)


FRAME = Channel(
    "cameraFrame", _lane("camera/frame"), "Frame", "Camera frames",
    "JPEG frames at a capped rate, with their metadata as MQTT v5 user properties. Each "
    f"expires after {FRAME_EXPIRY_S} s (MQTT v5 message expiry): a late frame is useless to "
    "the classifier, so the broker drops it.",
    qos=0, expiry_s=FRAME_EXPIRY_S, private=True,
    publishers=_uses(("camera", "The camera publishes a frame.")),
    readers=_uses(("classifier", "The classifier classifies the newest frame; older ones a "
                   "slow inference missed are dropped.")),
)  # fmt: skip
SNAPSHOT = Channel(
    "cameraSnapshot", _lane("camera/snapshot"), "Snapshot", "Scan snapshots",
    "The JPEG of the frame behind the last scan, retained, with which scan it shows.",
    qos=1, retain=True,
    publishers=_uses(("camera", "The camera keeps the last scan's frame.")),
)  # fmt: skip
PREDICTION = Channel(
    "classifierPrediction", _lane("classifier/prediction"), "Prediction", "Predictions",
    "What the classifier saw in each frame.",
    qos=0, publishers=_uses(("classifier", "A prediction per frame.")),
    readers=_uses(("camera", "The camera stops sending a scene's settle frames once the "
                   "decision is `settled` on it.")),
)  # fmt: skip
CLASSIFIER_CONFIG = Channel(
    "classifierConfig", _lane("classifier/config"), "ClassifierConfig",
    "Classifier configuration changes",
    "Fields to change; absent or null fields keep their values. Publish it live: a retained "
    "change is refused (`rejected_retained`). The classifier keeps the values a change set in "
    "its data directory, over its restarts.",
    command=True,
    qos=1,
    publishers=_uses(("homeassistant", "Home Assistant's threshold and language entities (on "
                      "the lane's own broker, an operator's `mosquitto_pub`) change the scan "
                      "decision's settings."),
                     ("bridge", "The bridge relays the lane twin's desired settings (IoT Edge), "
                      "with `request_id` `twin-<$version>`.")),
    readers=_uses(("classifier", "The classifier applies a change whole, or refuses it whole.")),
)  # fmt: skip
CLASSIFIER_CONFIG_STATE = Channel(
    "classifierConfigState", _lane("classifier/config/state"), "ClassifierConfig",
    "Classifier configuration in force",
    "The values in force, retained, with `error` naming a refused change.",
    qos=1, retain=True,
    publishers=_uses(("classifier", "At start and after every change.")),
    readers=_uses(("camera", "The camera sends `settle_frames` frames after each change of "
                   "scene."),
                  ("bridge", "The bridge reports the settings in force, and a refused twin "
                   "change, in the lane's twin (IoT Edge).")),
)  # fmt: skip
MODEL = Channel(
    "classifierModel", _lane("classifier/model"), "ModelInfo", "Model in force",
    "The model the classifier runs: name, kind, SHA-256, labels, since when. Retained.",
    qos=1, retain=True,
    publishers=_uses(("classifier", "At start, and on each reconnect.")),
    readers=_uses(("bridge", "The bridge reports it in the lane's twin (IoT Edge).")),
)  # fmt: skip
ROLLOUT = Channel(
    "classifierRollout", _lane("classifier/rollout"), "ModelRollout", "Model rollouts",
    "A model to roll out, from the lane's twin (IoT Edge).",
    command=True,
    qos=1,
    publishers=_uses(("bridge", "The bridge relays the twin's desired `model`."),),
    readers=_uses(("classifier", "The classifier fetches, checks and swaps it, or keeps the "
                   "running model and says why on `…/classifier/model`.")),
)  # fmt: skip
TAUGHT = Channel(
    "classifierTaught", _lane("classifier/taught"), "TaughtChange", "Taught items",
    "An item was taught on the lane or forgotten.",
    command=True,
    qos=1,
    publishers=_uses(("classifier", "`scantalk teach` or `scantalk forget` (with the "
                      "classifier's settings and user) after writing the lane's taught items.")),
    readers=_uses(("classifier", "The classifier reads its taught items again.")),
)  # fmt: skip
SCAN = Channel(
    "scan", _lane("scan"), "Scan", "Scans",
    "The product's event: one per placement of an item. An item sold by weight that weighs "
    "anew while it stays on the scale (a second banana) publishes its scan again, with the "
    "same `scan_id`, the next `revision` and the new `weight_kg`: keep the highest revision of "
    "each scan.",
    qos=1,
    publishers=_uses(("classifier", "An item was recognised and stayed in view, or the "
                      "shopper chose it.")),
    readers=_uses(
        ("bridge", "The bridge stores the scan, then forwards it (persistent session; `+` for "
         "a whole store, optionally in a `$share` group)."),
        ("camera", "The camera publishes the scan's snapshot."),
        ("checkout", "A checkout system adds the item to the basket: QoS 1 on a persistent "
         "session (clean start off, a session expiry), so no scan is lost while it is away; "
         "drop a `scan_id` already seen, keep the highest `revision`. A scan whose `time` is "
         f"more than {BASKET_AGE_S} s old when it arrives came through a gap in the session: "
         "show it to staff rather than add it to the basket."),
    ),
)  # fmt: skip
QUESTION = Channel(
    "classifierQuestion", _lane("classifier/question"), "Question", "Questions",
    "The lane is not sure, and asks the shopper among at most three candidates, best first, "
    "each with its key. Not retained: a question is about the item on the scale now.",
    qos=1,
    publishers=_uses(("classifier", "When a placement's evidence is held by two or three "
                      "candidates and none is certain.")),
    readers=_uses(("checkout", "A checkout system, a keypad reader or Home Assistant shows the "
                   "candidates and sends the shopper's answer.")),
)  # fmt: skip
ANSWER = Channel(
    "shopperAnswer", _lane("shopper/answer"), "Answer", "Answers",
    "The shopper's answer to the open question: one of the offered labels, or null for none of "
    "these. A chosen item becomes one scan (`decided_by` `shopper`). An answer to a closed or "
    "unknown question, with a label not offered, or for another station is refused and counted "
    "(`rejected_<reason>` in the classifier's stats).",
    command=True,
    qos=1,
    publishers=_uses(("checkout", "The checkout system or a keypad reader."),
                     ("homeassistant", "Home Assistant's answer buttons.")),
    readers=_uses(("classifier", "The classifier takes the first answer to its open question.")),
)  # fmt: skip
WEIGHT = Channel(
    "scaleWeight", _lane("scale/weight"), "Weight", "Scale weight",
    "What the produce scale weighs now, retained, so a late subscriber knows the current "
    "state: on each change of a stable weight or of the status, and at most every "
    f"{WEIGHT_MOTION_EVERY_S:g} s while the weight moves. `no_scale` when the scale is "
    "unplugged, silent or garbled past `SCANTALK_SCALE_DEADLINE`, or its node stopped. Only "
    "where a scale is configured.",
    qos=1, retain=True,
    publishers=_uses(("scale", "The scale node, from the serial scale.")),
    readers=_uses(
        ("classifier", "A stable weight above `SCANTALK_WEIGHED_MIN_KG` is a placement, zero "
         "ends it; an item sold by weight is announced with its stable weight, and a new one "
         "revises its scan."),
        ("camera", "A change of weight wakes the camera: it sends `settle_frames` frames."),
    ),
)  # fmt: skip
SAY = Channel(
    "voiceSay", _lane("voice/say"), "SayRequest", "Speech requests",
    "Something to say out loud.",
    command=True,
    qos=1,
    publishers=_uses(("classifier", "One per scan, earcons, questions, and prompts such as "
                      "\"not sure\".")),
    readers=(
        Use("voice", "The voice says requests in order; one that waited over 10 s is not said."),
        Use("bridge", "The bridge watches that speech follows requests.", qos=0),
    ),
)  # fmt: skip
VOICE_CONFIG = Channel(
    "voiceConfig", _lane("voice/config"), "VoiceConfig", "Voice configuration changes",
    "Fields to change (rate, volume, cooldown); absent or null fields keep their values.",
    command=True,
    qos=1,
    publishers=_uses(("bridge", "The bridge relays the lane twin's desired `voice` (IoT Edge), "
                      "with `request_id` `twin-<$version>`.")),
    readers=_uses(("voice", "The voice applies a change whole, or refuses it whole.")),
)  # fmt: skip
VOICE_CONFIG_STATE = Channel(
    "voiceConfigState", _lane("voice/config/state"), "VoiceConfig",
    "Voice configuration in force",
    "The values in force, retained, with `error` naming a refused change.",
    qos=1, retain=True,
    publishers=_uses(("voice", "At start and after every change.")),
    readers=_uses(("bridge", "The bridge reports them in the lane's twin (IoT Edge).")),
)  # fmt: skip
CAMERA_CONFIG = Channel(
    "cameraConfig", _lane("camera/config"), "CameraConfig", "Camera configuration changes",
    "Fields to change (fps, roi); absent or null fields keep their values.",
    command=True,
    qos=1,
    publishers=_uses(("bridge", "The bridge relays the lane twin's desired `camera` (IoT "
                      "Edge), with `request_id` `twin-<$version>`.")),
    readers=_uses(("camera", "The camera applies a change whole, or refuses it whole.")),
)  # fmt: skip
CAMERA_CONFIG_STATE = Channel(
    "cameraConfigState", _lane("camera/config/state"), "CameraConfig",
    "Camera configuration in force",
    "The values in force, retained, with `error` naming a refused change.",
    qos=1, retain=True,
    publishers=_uses(("camera", "At start and after every change.")),
    readers=_uses(("bridge", "The bridge reports them in the lane's twin (IoT Edge).")),
)  # fmt: skip
SPOKEN = Channel(
    "voiceSpoken", _lane("voice/spoken"), "Spoken", "Speech said",
    "What the voice said, when, and how fast.",
    qos=0,
    publishers=_uses(("voice", "After each announcement played.")),
    readers=_uses(("bridge", "The bridge watches that speech follows requests.")),
)  # fmt: skip
REPEAT = Channel(
    "voiceRepeat", _lane("voice/repeat"), "Repeat", "Repeat requests",
    "Any payload: say the last item announcement (or \"not sure\") again, now, if it was within "
    "a minute; else \"Nothing scanned yet.\" Not retained: a retained press is an old one and "
    "is refused (`rejected_retained`).",
    command=True,
    qos=1,
    publishers=_uses(("checkout", "A checkout's button."),
                     ("homeassistant", "Home Assistant's repeat button.")),
    readers=_uses(("voice", "The voice says the last item again, cooldown or not.")),
)  # fmt: skip
INVENTORY_ACK = Channel(
    "inventoryAck", _lane("inventory/ack"), "InventoryAck", "Inventory acknowledgements",
    "Every scan gets `queued` then `delivered`, or `rejected` with the reason; a scan the "
    "bridge already has gets its state again.",
    qos=1,
    publishers=_uses(("bridge", "The bridge's delivery state of a scan.")),
    readers=_uses(("classifier", "The classifier keeps each scan in its journal until the "
                   "bridge's first ack of it, and publishes it again until then.")),
)  # fmt: skip
STATUS = Channel(
    "nodeStatus", _lane("{node}/status"), "Status", "Node status",
    "`online` once a node has subscribed, `offline` when it stops, hangs or dies (its last "
    "will, which the broker publishes). Retained.",
    qos=1, retain=True,
    publishers=_uses((EACH_NODE, "Every node, and the broker for a node it lost.")),
    readers=(Use("classifier", "The classifier follows the scale node's: while it is offline, "
                 "the camera alone decides what lies there.", node="scale"),
             Use("bridge", "The bridge reports each node's in the lane's twin (IoT Edge).",
                 node=ANY_NODE)),
)  # fmt: skip
STATS = Channel(
    "nodeStats", _lane("{node}/stats"), "Stats", "Node stats",
    "Periodic counters and gauges of each node (`SCANTALK_STATS_INTERVAL`).",
    qos=0, publishers=_uses((EACH_NODE, "Every node, periodically.")),
    readers=(Use("bridge", "The bridge reports the classifier's questions and \"not sure\" in "
                 "the lane's twin (IoT Edge).", node="classifier"),),
)  # fmt: skip

CHANNELS = (
    FRAME, SNAPSHOT, PREDICTION, CLASSIFIER_CONFIG, CLASSIFIER_CONFIG_STATE, MODEL, ROLLOUT,
    TAUGHT, SCAN, QUESTION, ANSWER, WEIGHT, SAY, VOICE_CONFIG, VOICE_CONFIG_STATE, CAMERA_CONFIG,
    CAMERA_CONFIG_STATE, SPOKEN, REPEAT, INVENTORY_ACK, STATUS, STATS,
)  # fmt: skip
"""The lane's channels, in the order the AsyncAPI document lists them."""


def channel_of(topic: str, channels: tuple[Channel, ...] = CHANNELS) -> Channel:
    """The channel of a topic or of a subscription filter (`+` for a level, `$share/<group>/`
    before it); KeyError when it has none."""
    bare = re.sub(r"^\$share/[^/]+/", "", topic)
    for channel in channels:
        if channel.pattern.match(bare):
            return channel
    raise KeyError(f"{topic[:200]!r} is no channel of the contract")
