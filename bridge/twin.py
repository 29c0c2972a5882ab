"""The lane's twin: with IoT Hub, the bridge module's desired properties set the lane and its
reported properties say what the lane runs, so a chain configures and queries its lanes from
IoT Hub (module twins, layered deployments, `SELECT … FROM devices.modules`).

One twin for the lane, the bridge's: the bridge is the one node with an IoT Hub client, and it
sees the whole lane on the bus. It relays the desired settings to the node that owns them, over
the same topic and through the same validation as a change made on the lane (the classifier's
`…/classifier/config`, `request_id` `twin-<$version>`), and reports what that node answers:
applied whole, or refused whole with the setting named.

- At start and after every reconnect the bridge reads the whole twin (`get_twin`), and applies
  the desired document if its `$version` is not the one applied last (kept in the data dir);
  then patches, by `$version`. The desired document is the truth: a key deleted while the lane
  was away does not come as null, so deleting a key keeps the value in force (set it instead).
- Precedence: the settings' own values (environment) < the twin < a live change on the lane
  (Home Assistant, `mosquitto_pub`). A twin change is relayed when its `$version` is new, not
  at every reconnect, so a later live change on the lane stands until the twin changes again.
  The classifier keeps what was applied last over its restarts; the bridge keeps the version.
- Reported, on change, at most `MAX_REPORTS_PER_HOUR` an hour and never per frame or per scan:
  the settings in force and the last refusal, the model (name, kind, SHA-256, labels, since
  when), the software version, each node's status, and counters (scans today, questions, "not
  sure", records pending).
"""

from __future__ import annotations

import collections
import json
import threading
import time
from typing import Any

import scantalk
from bridge.outbox import Outbox
from bridge.settings import BridgeSettings
from scantalk.contract import (
    CameraConfig,
    ClassifierConfig,
    ContractError,
    ModelInfo,
    ModelRollout,
    NodeName,
    Stats,
    VoiceConfig,
    now_rfc3339,
)
from scantalk.counters import BridgeCounter, ClassifierCounter
from scantalk.durable import write_whole
from scantalk.runtime import Message, Node

CONFIGS: dict[str, type[ClassifierConfig | VoiceConfig | CameraConfig]] = {
    "classifier": ClassifierConfig, "voice": VoiceConfig, "camera": CameraConfig,
}  # fmt: skip
"""The nodes whose settings the twin sets, each through its own live change and state."""
SETTABLE = {"classifier": ("threshold", "presence", "similarity", "stable_frames", "empty_below",
                           "language", "answer_timeout", "weighed_min_kg", "weigh_wait"),
            "voice": ("rate", "volume", "cooldown"),
            "camera": ("fps", "roi"),
            "model": ("url", "sha256", "version")}  # fmt: skip
"""The desired properties a lane takes, by the node that applies them."""
MAX_REPORTS_PER_HOUR = 60
MIN_GAP_S = 2.0
"""Changes within this are reported together."""
COUNTERS_EVERY_S = 300.0
"""A change of counters alone is reported at most this often."""


class LaneTwin:
    def __init__(self, node: Node, settings: BridgeSettings, client: Any, outbox: Outbox) -> None:
        self.node, self.settings, self.client, self.outbox = node, settings, client, outbox
        self._lock = threading.Lock()
        self._saved = settings.data_dir / f"twin-{settings.station}.json"
        self.applied, self.relayed, refusal = self._load()
        """The desired `$version` the lane last took (applied or refused), and the desired
        document it last applied."""
        self._pending: dict[int, dict[str, Any]] = {}
        self.desired: dict[str, Any] = {}
        self.state: dict[str, Any] = {
            "software": {"version": scantalk.__version__},
            "desiredVersion": self.applied,
            "lastRefusal": refusal,
            "nodes": {},
        }
        self._reported: dict[str, Any] = {}
        self._reports: collections.deque[float] = collections.deque()
        self._counters_at = 0.0
        self._reconnected = threading.Event()
        self._changed = threading.Event()
        topics = node.topics
        node.subscribe(topics.classifier_config_state, self.on_config_state)
        node.subscribe(topics.voice_config_state, self.on_voice_state)
        node.subscribe(topics.camera_config_state, self.on_camera_state)
        node.subscribe(topics.model, self.on_model)
        node.subscribe(topics.statuses, self.on_status)
        node.subscribe(topics.stats(NodeName.CLASSIFIER), self.on_classifier_stats)
        node.add_worker(self.run)

    # --- desired ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Listen to the twin once IoT Hub (or edgeHub) answers, however long that takes: the
        lane runs and keeps its records meanwhile."""
        listening = False
        while not stop.is_set():
            if not listening:
                listening = self.listen()
            elif self._reconnected.is_set() and self.client.connected:
                self._reconnected.clear()
                self.fetch()
            if listening:
                self.report()
            stop.wait(0.5 if listening else 10)

    def listen(self) -> bool:
        # The whole twin first, then the patch handler: set before the first GET, the SDK may
        # send that GET before it listens for the answer (see DESIGN: module twins). Setting a
        # handler connects, and raises while the hub cannot be reached.
        try:
            if not self.fetch():
                return False
            self.client.on_twin_desired_properties_patch_received = self.on_patch
            self.client.on_connection_state_change = self._reconnected.set
        except Exception as exc:  # the SDK's own errors
            self.node.log.warning("the twin cannot be reached (%s); trying again", exc)
            return False
        return True

    def fetch(self) -> bool:
        try:
            twin = self.client.get_twin()
        except Exception as exc:  # the SDK's own errors; it reconnects, and we ask again then
            self.node.log.warning("could not read the twin (%s); again on reconnecting", exc)
            self._reconnected.set()
            return False
        self.apply(twin.get("desired", {}))
        return True

    def on_patch(self, patch: dict[str, Any]) -> None:
        with self._lock:
            desired = json.loads(json.dumps(self.desired))
        merge(desired, patch)
        self.apply(desired)

    def apply(self, desired: dict[str, Any]) -> None:
        """Relay a desired document whose `$version` was not applied yet: all of it, or none."""
        version = desired.get("$version")
        with self._lock:
            # The whole twin (worker thread) and a patch (the SDK's) may cross: never go back.
            if version is not None and version < self.desired.get("$version", 0):
                return
            self.desired = desired
            if version is None or version == self.applied:
                return
        try:
            changes = self.changes(desired, version, self.relayed)
            rollout = self.model_rollout(desired)
        except ContractError as exc:
            self.refused(version, str(exc))
            return
        with self._lock:
            self._pending[version] = desired
        # Only what changed since the document applied last: a live change made on the lane
        # to another setting stands. The classifier's answer to its part (always sent) marks
        # the version applied; the others report a refusal of theirs.
        for group, change in changes.items():
            self.node.publish(self.config_topic(group), change)
        if rollout and desired.get("model") != self.relayed.get("model"):
            self.node.publish(self.node.topics.rollout, rollout)
        self.node.log.info("twin $version %s: relayed to %s", version, ", ".join(changes))

    def config_topic(self, group: str) -> str:
        topics = self.node.topics
        return {"classifier": topics.classifier_config, "voice": topics.voice_config,
                "camera": topics.camera_config}[group]  # fmt: skip

    def model_rollout(self, desired: dict[str, Any]) -> ModelRollout | None:
        """The desired `model` as a rollout, if there is one."""
        model = desired.get("model")
        if not model:
            return None
        body = {"schema": ModelRollout.SCHEMA, "station": self.settings.station, **model,
                "time": now_rfc3339()}  # fmt: skip
        return ModelRollout.from_json(json.dumps(body))

    @classmethod
    def changes(
        cls, desired: dict[str, Any], version: int, relayed: dict[str, Any] | None = None
    ) -> dict[str, ClassifierConfig | VoiceConfig | CameraConfig]:
        """The node settings of a desired document, as live changes by node: the values that
        differ from `relayed` (the document applied last); the classifier's always, for its
        answer marks the version applied. A setting the lane does not take, or a value its
        node's contract refuses, refuses the document, naming it."""
        settings = {k: v for k, v in desired.items() if not k.startswith("$")}
        for group, values in settings.items():
            known = SETTABLE.get(group)
            if known is None or not isinstance(values, dict):
                raise ContractError(
                    f"desired {group!r}: not a setting of the lane (it takes "
                    f"{', '.join(f'{g}.{k}' for g, keys in SETTABLE.items() for k in keys)})"
                )
            for key in values:
                if key not in known:
                    raise ContractError(f"desired {group}.{key}: not a setting of the lane")
        found = {}
        for group, config in CONFIGS.items():
            before = (relayed or {}).get(group) or {}
            fields = {k: v for k, v in (settings.get(group) or {}).items() if before.get(k) != v}
            if fields or group == "classifier":
                body = {"schema": config.SCHEMA, **fields, "request_id": f"twin-{version}"}
                found[group] = config.from_json(json.dumps(body))
        return found

    def on_config_state(self, message: Message) -> None:
        """The classifier's settings in force; its answer to a twin change marks it applied."""
        version = self.on_node_state("classifier", ClassifierConfig.from_json(message.payload))
        if version is not None:
            with self._lock:
                desired = self._pending.pop(version, None)
            self._save_applied(version, desired)

    def on_voice_state(self, message: Message) -> None:
        self.on_node_state("voice", VoiceConfig.from_json(message.payload))

    def on_camera_state(self, message: Message) -> None:
        self.on_node_state("camera", CameraConfig.from_json(message.payload))

    def on_node_state(
        self, group: str, state: ClassifierConfig | VoiceConfig | CameraConfig
    ) -> int | None:
        """Report a node's settings in force; the twin version it applied, if it did."""
        version = _twin_version(state.request_id)
        if version is not None and state.error:
            self.refused(version, f"{group}: {state.error}")
        with self._lock:
            self.state.setdefault("settings", {})[group] = {
                k: getattr(state, k) for k in SETTABLE[group]
            }
            if group == "classifier" and version is not None and not state.error:
                self.state["desiredVersion"] = version
        self._changed.set()
        return None if state.error else version

    def refused(self, version: int, error: str) -> None:
        """Refused whole: the old values stay, and the twin says why. Not tried again until
        the desired document changes."""
        self.node.log.warning("twin $version %s refused: %s", version, error)
        with self._lock:
            self.state["lastRefusal"] = {"version": version, "error": error, "at": now_rfc3339()}
        self._save_applied(version)  # the refusal with it: it outlives a restart
        self._changed.set()

    def _load(self) -> tuple[int | None, dict[str, Any], dict[str, Any] | None]:
        """What `_save_applied` kept: the version, the document applied, the last refusal."""
        try:
            saved = json.loads(self._saved.read_text())
            return int(saved["applied"]), dict(saved.get("relayed") or {}), saved.get("lastRefusal")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None, {}, None

    def _save_applied(self, version: int, desired: dict[str, Any] | None = None) -> None:
        """`version` is done with; `desired`, when it was applied, is what the lane now has."""
        with self._lock:
            self.applied = version
            if desired is not None:
                self.relayed = {k: v for k, v in desired.items() if not k.startswith("$")}
            saved = {"applied": version, "relayed": self.relayed,
                     "lastRefusal": self.state.get("lastRefusal")}  # fmt: skip
            write_whole(self._saved, json.dumps(saved))

    # --- reported --------------------------------------------------------------------------

    def on_model(self, message: Message) -> None:
        model = ModelInfo.from_json(message.payload)
        with self._lock:
            self.state["model"] = {
                "name": model.name, "kind": model.kind, "sha256": model.sha256,
                "labels": model.labels, "taught": model.taught, "since": model.loaded_at,
                "version": model.version,
                "rolloutFailed": None if model.rollout_version is None else {
                    "version": model.rollout_version, "error": model.rollout_error},
            }  # fmt: skip
        self._changed.set()

    def on_status(self, message: Message) -> None:
        node = message.topic.split("/")[-2]
        if node not in set(NodeName):
            return
        status = message.payload.decode(errors="replace") or "offline"
        with self._lock:
            self.state["nodes"][node] = status
            pending = self.desired.get("$version") not in (None, self.applied)
        self._changed.set()
        if node == NodeName.CLASSIFIER and status == "online" and pending:
            self.apply(self.desired)  # it was away when the change came
        elif node in ("voice", "camera") and status == "online":
            self.resend(node)

    def resend(self, group: str) -> None:
        """A node back from a restart has its settings' own values: give it the twin's
        again."""
        with self._lock:
            values = self.relayed.get(group) or {}
        if values:
            config = CONFIGS[group]
            change = config.from_json(json.dumps({"schema": config.SCHEMA, **values}))
            self.node.publish(self.config_topic(group), change)

    def on_classifier_stats(self, message: Message) -> None:
        counters = Stats.from_json(message.payload).counters
        with self._lock:
            self.state["classifierCounters"] = {
                "questions": counters.get(ClassifierCounter.QUESTIONS, 0),
                "notSure": counters.get(ClassifierCounter.UNSURE, 0),
            }

    def report(self) -> None:
        """Patch the reported properties with what changed, within the rate."""
        now = time.monotonic()
        while self._reports and now - self._reports[0] > 3600:
            self._reports.popleft()
        if len(self._reports) >= MAX_REPORTS_PER_HOUR or (
            self._reports and now - self._reports[-1] < MIN_GAP_S
        ):
            return
        counters_due = now - self._counters_at >= COUNTERS_EVERY_S
        if not (self._changed.is_set() or counters_due):
            return
        self._changed.clear()
        with self._lock:
            reported = json.loads(json.dumps(self.state))
        classifier = reported.pop("classifierCounters", {})
        reported["counters"] = {
            "scansToday": self.node.counters().get(BridgeCounter.SCANS_TODAY, 0),
            "recordsPending": self.outbox.count(pending_only=True),
            "questions": classifier.get("questions", 0),
            "notSure": classifier.get("notSure", 0),
        }
        if reported == self._reported or (
            not counters_due and _but_counters(reported) == _but_counters(self._reported)
        ):
            return
        try:
            self.client.patch_twin_reported_properties(reported)
        except Exception as exc:  # the SDK's own errors: tried again soon
            self.node.log.warning("could not report to the twin (%s)", exc)
            self._changed.set()
            return
        self._reports.append(now)
        self._counters_at = now
        self._reported = reported


def merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    """A twin patch, as IoT Hub applies it: objects merge, null deletes, anything else
    replaces."""
    for key, value in patch.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = json.loads(json.dumps(value))


def _but_counters(reported: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reported.items() if k != "counters"}


def _twin_version(request_id: str | None) -> int | None:
    if request_id and request_id.startswith("twin-") and request_id[5:].isdigit():
        return int(request_id[5:])
    return None
