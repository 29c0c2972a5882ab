"""The names of the counters and gauges in each node's `…/<node>/stats`: one enum per node, and
one for what the runtime counts in every node.

The nodes count by these (`node.count(CameraCounter.FRAMES)`), and whoever reads stats by name
(`scantalk watch`, the Home Assistant entities) names them here too, so a counter renamed in a
node cannot leave a reader behind. Members are `str`s: the wire names are their values.
"""

from __future__ import annotations

from enum import StrEnum

from scantalk.contract import NodeName


class RuntimeCounter(StrEnum):
    """Counted by the runtime (`scantalk.runtime.Node`) in every node's stats."""

    REJECTED = "rejected"
    """Messages refused (malformed, against the contract, or `Refused` by a handler), in all."""
    REJECTED_CONTRACT = "rejected_contract"
    """Messages refused as malformed or against the contract's types."""
    REJECTED_STATION = "rejected_station"
    """Payloads for another station than the one of the topic they came on."""
    REJECTED_CONFIG = "rejected_config"
    """Live changes the node refused (the classifier's `…/classifier/config`)."""
    REJECTED_RETAINED = "rejected_retained"
    """Commands published retained (a change, a repeat press, an answer, a speech request)."""
    ERRORS = "errors"
    """Handlers that failed other than by refusing a message."""
    DROPPED = "dropped"
    """Messages dropped unhandled for a newer one (only the newest frame matters, or a full
    queue)."""
    HUNG = "hung"
    """Times a handler was stuck past the watchdog's limit (the node showed `offline`)."""
    MEASURE_ERRORS = "measure_errors"
    """Gauges that could not be read when stats went out."""
    CONNECT_FAILURES = "connect_failures"
    """Attempts to reach the broker that failed."""
    DISCONNECTS = "disconnects"
    """Connections to the broker lost while the node was running."""

    @staticmethod
    def rejected(reason: str) -> str:
        """The counter of messages refused for `reason` (`Refused.reason`, or `contract`):
        `rejected_<reason>`. The reasons are a closed set: the runtime's (`REJECTED_CONTRACT`,
        `REJECTED_STATION`, `REJECTED_CONFIG`) and the classifier's answers
        (`ClassifierCounter.REJECTED_CLOSED`, `…_UNKNOWN`, `…_NOT_OFFERED`)."""
        return f"rejected_{reason}"


class CameraCounter(StrEnum):
    """In `…/camera/stats`."""

    FRAMES = "frames"
    """Frames published."""
    FRAMES_UNSENT = "frames_unsent"
    """Frames the client could not publish (not connected, or its queue full)."""
    FRAMES_GATED = "frames_gated"
    """Frames read but held back by the gate (nothing moved, no heartbeat due)."""
    FRAMES_PER_MINUTE = "frames_per_minute"
    """Gauge: frames published in the last minute."""
    READ_ERRORS = "read_errors"
    """Reads from the source that gave no frame."""
    SOURCE_UP = "source_up"
    """Gauge: 1 while the source gives frames, 0 while it does not."""
    RECONNECTS = "reconnects"
    """Times the source gave frames again after failed reads."""
    SNAPSHOTS = "snapshots"
    """Snapshots published: the frame behind a scan."""
    SNAPSHOTS_MISSING = "snapshots_missing"
    """Scans whose frame was no longer kept, so no snapshot went out."""
    WOKEN = "woken"
    """Weights that woke the gate."""


class ClassifierCounter(StrEnum):
    """In `…/classifier/stats`."""

    FRAMES = "frames"
    """Frames classified."""
    INFERENCE_MS = "inference_ms"
    """Gauge: the median inference time over the last minute, in ms (none without frames)."""
    SCANS = "scans"
    """Scans published (first revisions)."""
    REVISIONS = "revisions"
    """Later revisions of a scan published (a new weight of the same item)."""
    SCANS_UNWEIGHED = "scans_unweighed"
    """Items sold by weight announced without a weight (the scale did not settle in time)."""
    SCANS_REPUBLISHED = "scans_republished"
    """Scans published again for want of the bridge's ack."""
    ACKNOWLEDGED = "acknowledged"
    """Scans the bridge acknowledged, leaving the journal."""
    JOURNAL_PENDING = "journal_pending"
    """Gauge: scans in the journal waiting for the bridge's ack."""
    JOURNAL_DROPPED = "journal_dropped"
    """Unacknowledged scans let go from the journal at its bound."""
    JOURNAL_FAILURES = "journal_failures"
    """Scans published without the journal (it could not be written), or rows of it that could
    not be read and were let go."""
    QUESTIONS = "questions"
    """Questions asked to the shopper."""
    UNSURE = "unsure"
    """Placements the lane could neither name nor ask about: "not sure" was said."""
    QUESTIONS_CANCELLED = "questions_cancelled"
    """Questions closed unanswered by a new question or the item going."""
    QUESTIONS_UNANSWERED = "questions_unanswered"
    """Questions that expired without an answer."""
    ANSWERS = "answers"
    """Answers taken to the open question."""
    ANSWERS_NONE = "answers_none"
    """Answers "none of these"."""
    REJECTED_CLOSED = "rejected_closed"
    """Answers refused: their question was closed (answered, expired, its item gone)."""
    REJECTED_UNKNOWN = "rejected_unknown"
    """Answers refused: their question was never asked here (or too long ago)."""
    REJECTED_NOT_OFFERED = "rejected_not_offered"
    """Answers refused: the label chosen was not one the question offered."""
    LEARNED = "learned"
    """Items learned from shoppers' answers."""
    ROLLOUTS = "rollouts"
    """Models rolled out and in force."""
    ROLLOUTS_FAILED = "rollouts_failed"
    """Rollouts that failed (download, hash, load, smoke check): the running model stayed."""
    TAUGHT_RELOADS = "taught_reloads"
    """Times the taught items were read again (`scantalk teach`/`forget`)."""
    CONFIG_REJECTED = "config_rejected"
    """Live config changes refused, the old ones kept (also in `rejected_config`)."""


class VoiceCounter(StrEnum):
    """In `…/voice/stats`."""

    SPOKEN = "spoken"
    """Words said to the end."""
    INTERRUPTED = "interrupted"
    """Words cut short by a newer item."""
    EARCONS = "earcons"
    """Earcons played."""
    REPEATS = "repeats"
    """"Repeat" presses that said the last words again."""
    REPEAT_NOTHING = "repeat_nothing"
    """"Repeat" presses with nothing recent to repeat."""
    SAY_LIMITED = "say_limited"
    """Say requests and "repeat" presses over the rate limit, not said."""
    SAY_FUTURE = "say_future"
    """Say requests dated too far ahead of this clock, not said (`SayRequest.unsaid_because`)."""
    STALE = "stale"
    """Say requests made, or waiting, too long ago, not said (`SayRequest.unsaid_because`)."""
    COOLDOWN = "cooldown"
    """The same words again within the cooldown, not said."""
    SUPERSEDED = "superseded"
    """Words waiting to be said replaced by newer ones."""
    SYNTHESIZED = "synthesized"
    """Audio synthesized (not from the audio cache), by the cloud or offline."""
    CLOUD_FAILURES = "cloud_failures"
    """Cloud speech requests that failed (offline speech said them)."""
    CLOUD_TIMEOUTS = "cloud_timeouts"
    """Cloud speech requests slower than the deadline (offline speech said them)."""
    PLAY_ERRORS = "play_errors"
    """Audio that could not be played."""


class BridgeCounter(StrEnum):
    """In `…/bridge/stats`."""

    ACCEPTED = "accepted"
    """Scans stored in the outbox (first revisions)."""
    REVISIONS = "revisions"
    """Later revisions of a scan stored."""
    DUPLICATES = "duplicates"
    """Scans received again that the outbox already held."""
    DELIVERED = "delivered"
    """Records their destination confirmed."""
    SEND_FAILURES = "send_failures"
    """Attempts to send a record that failed (retried)."""
    OUTBOX_PENDING = "outbox_pending"
    """Gauge: records in the outbox waiting to be sent."""
    SCANS_TODAY = "scans_today"
    """Gauge: scans stored since midnight where the store is (a lane's own bridge)."""
    SPEECH_OVERDUE = "speech_overdue"
    """Speech requests the voice did not speak in time (a lane's own bridge)."""
    ANNOUNCEMENTS_FAILING = "announcements_failing"
    """Gauge: 1 from an overdue speech request until the voice speaks again, else 0."""
    DISCOVERY_PUBLISHED = "discovery_published"
    """Times the Home Assistant discovery configs were published."""
    HOMEASSISTANT_BIRTHS = "homeassistant_births"
    """Home Assistant births (`online` on its status topic) heard."""


class ScaleCounter(StrEnum):
    """In `…/scale/stats`."""

    READINGS = "readings"
    """Valid frames read from the scale."""
    PUBLISHED = "published"
    """Weights published."""
    GARBAGE = "garbage"
    """Frames from the scale that were not valid readings."""
    SCALE_SILENT = "scale_silent"
    """Reads that timed out with nothing from the scale."""
    SCALE_LOST = "scale_lost"
    """Times the scale was lost (the port failed, or no valid reading within the deadline)."""


NodeCounter = CameraCounter | ClassifierCounter | VoiceCounter | BridgeCounter | ScaleCounter
CounterName = RuntimeCounter | NodeCounter
"""Any counter or gauge a node may report."""

COUNTERS: dict[NodeName, type[NodeCounter]] = {
    NodeName.CAMERA: CameraCounter,
    NodeName.CLASSIFIER: ClassifierCounter,
    NodeName.VOICE: VoiceCounter,
    NodeName.BRIDGE: BridgeCounter,
    NodeName.SCALE: ScaleCounter,
}
"""Each node's own counters; its stats carry `RuntimeCounter`'s too."""


def counter_names(node: NodeName) -> frozenset[str]:
    """Every name `node`'s stats may carry: its own and the runtime's."""
    return frozenset({*COUNTERS[node], *RuntimeCounter})
