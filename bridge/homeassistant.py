"""Home Assistant MQTT discovery: one device per station, its entities built on the contract's
topics, so Home Assistant reads what the nodes publish anyway and commands what they listen to.

Per-component discovery topics (`<prefix>/<component>/<station>/<object>/config`, understood
since Home Assistant 2023.8), retained, with documented keys only. Every entity names the status
topics of the nodes it depends on (`availability_mode: all`), so a node that dies, whose last
will says `offline`, turns its entities unavailable. The bridge publishes them (see the README);
`scantalk discovery` does too, and `--remove` clears them.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from scantalk.channels import Channel, Use
from scantalk.contract import OFFLINE, ONLINE, Answer, ClassifierConfig, NodeName, Question, Topics
from scantalk.counters import (
    BridgeCounter,
    CameraCounter,
    ClassifierCounter,
    NodeCounter,
    VoiceCounter,
)
from scantalk.phrases import PHRASES
from scantalk.settings import Settings

EVENT_TYPES = ("scanned", "reweighed")
"""The scan event entity's `event_types`: `scanned` per scan on `…/scan`, `reweighed` per later
revision of one (a new weight of the same item)."""
QUESTION_EVENT_TYPES = ("asked",)
"""The question event entity's: one per question on `…/classifier/question`."""
NOT_OFFERED = "not-offered"
"""What an answer button for a key the open question has no candidate for sends: a label the
classifier refuses (`rejected_not_offered`), never "none of these"."""
THRESHOLD_RANGE = ClassifierConfig.live_bounds("threshold")
"""The threshold slider's ends: what a live change may set, as the contract says."""

Config = dict[str, Any]


def _version() -> str:
    try:
        return version("scantalk")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def node_id(station: str) -> str:
    """The station as a discovery topic segment allows it (`[a-zA-Z0-9_-]`)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", station)


CONFIG_TOPIC = "{prefix}/{component}/{station}/{object}/config"
"""Per-component discovery topics; `station` as `node_id` spells it."""
STATUS_TOPIC = "{prefix}/status"
"""Where Home Assistant says `online` when it (re)starts: configs are published again."""


DISCOVERY = Channel(
    "homeAssistantDiscovery", CONFIG_TOPIC, "HomeAssistantDiscovery", "Home Assistant discovery",
    "Per-component MQTT discovery configs of a station's entities, retained; an empty retained "
    "payload removes one. `{station}` here has every character other than letters, digits, `_` "
    "and `-` replaced by `_`.",
    qos=1, retain=True,
    publishers=(Use("bridge", "The bridge at start and whenever Home Assistant comes online; "
                    "`scantalk discovery` (`--remove` clears them)."),),
    readers=(Use("homeassistant", "Home Assistant makes the lane's entities from them."),),
)  # fmt: skip
BIRTH = Channel(
    "homeAssistantStatus", STATUS_TOPIC, "HomeAssistantStatus", "Home Assistant status",
    "Home Assistant's birth and last will: on `online`, ScanTalk publishes its discovery "
    "configs again.",
    qos=0,
    publishers=(Use("homeassistant", "Home Assistant (re)started or stopped."),),
    readers=(Use("bridge", "The bridge re-publishes its discovery on `online`."),),
)  # fmt: skip
CHANNELS = (DISCOVERY, BIRTH)
"""Home Assistant's channels, beside the lane's: the bridge's."""


def config_topic(prefix: str, component: str, station: str, object_id: str) -> str:
    return CONFIG_TOPIC.format(
        prefix=prefix, component=component, station=node_id(station), object=object_id
    )


def _stats(topics: Topics, node: NodeName, key: NodeCounter, missing: str = "0") -> Config:
    """State from a node's periodic stats: one of its counters (0 until counted) or gauges
    (`None`, Home Assistant's "unknown", while there is nothing to measure)."""
    return {
        "state_topic": topics.stats(node),
        "value_template": f"{{{{ value_json.counters.{key} | default({missing}) }}}}",
    }


def _config_command(field: str, value: str) -> str:
    """A change of one field on `…/classifier/config`, as the contract spells it."""
    return f'{{"schema": "{ClassifierConfig.SCHEMA}", "{field}": {value}}}'


def question_entity_id(station: str) -> str:
    """The question event's entity id, as Home Assistant makes it from the device's and the
    entity's names ("ScanTalk lane-1", "Question"), and as `default_entity_id` asks for it: the
    answer buttons read the open question from it."""
    return "event." + re.sub(r"[^a-z0-9]+", "_", f"scantalk {station} question".lower()).strip("_")


def _answer_command(topics: Topics, key: int | None) -> str:
    """An answer to the open question (the question event's attributes): candidate `key`, or
    "none of these"."""
    entity = question_entity_id(topics.station)
    if key is None:
        choice = "none | to_json"
    else:
        choice = f"(c[{key - 1}].label if c | length >= {key} else '{NOT_OFFERED}') | to_json"
    return (
        f"{{% set c = state_attr('{entity}', 'candidates') or [] %}}"
        f'{{"schema": "{Answer.SCHEMA}", '
        f"\"question_id\": {{{{ state_attr('{entity}', 'question_id') | to_json }}}}, "
        f'"station": "{topics.station}", "choice": {{{{ {choice} }}}}, '
        f'"source": "homeassistant"}}'
    )


def entities(topics: Topics) -> dict[tuple[str, str], tuple[Config, tuple[NodeName, ...]]]:
    """Each entity's component and object id, its own keys, and the nodes it depends on."""
    camera, classifier, voice, bridge, scale = (
        NodeName.CAMERA, NodeName.CLASSIFIER, NodeName.VOICE, NodeName.BRIDGE, NodeName.SCALE,
    )  # fmt: skip
    diagnostic = {"entity_category": "diagnostic"}
    return {
        ("sensor", "last_scan"): (
            {
                "name": "Last scanned item",
                "icon": "mdi:barcode-scan",
                "state_topic": topics.scan,
                "value_template": "{{ value_json.display_name }}",
                "json_attributes_topic": topics.scan,
            },
            (classifier,),
        ),
        ("event", "scan"): (
            {
                "name": "Scan",
                "icon": "mdi:barcode-scan",
                "state_topic": topics.scan,
                "event_types": list(EVENT_TYPES),
                # The scan's fields become the event's attributes.
                "value_template": (
                    '{"event_type": {{ ("reweighed" if value_json.revision | default(1) > 1 '
                    'else "scanned") | to_json }}, "label": {{ value_json.label | to_json }}, '
                    '"display_name": {{ value_json.display_name | to_json }}, '
                    '"plu": {{ value_json.plu | to_json }}, '
                    '"confidence": {{ value_json.confidence }}, '
                    '"weight_kg": {{ value_json.weight_kg | default(none) | to_json }}, '
                    '"scan_id": {{ value_json.scan_id | to_json }}}'
                ),
            },
            (classifier,),
        ),
        ("image", "snapshot"): (
            {
                "name": "Last scanned frame",
                "image_topic": topics.snapshot,
                "content_type": "image/jpeg",
            },
            (camera,),
        ),
        ("sensor", "weight"): (
            {
                "name": "Weight",
                "device_class": "weight",
                "unit_of_measurement": "kg",
                "state_class": "measurement",
                "state_topic": topics.weight,
                # Unknown while the scale gives no number (over capacity, no scale); its
                # status and whether it is stable are attributes.
                "value_template": (
                    "{{ value_json.weight_kg if value_json.weight_kg is not none else 'None' }}"
                ),
                "json_attributes_topic": topics.weight,
            },
            (scale,),
        ),
        ("sensor", "scans_today"): (
            {
                "name": "Scans today",
                "icon": "mdi:counter",
                "state_class": "total_increasing",
                **_stats(topics, bridge, BridgeCounter.SCANS_TODAY),
            },
            (bridge,),
        ),
        ("sensor", "confidence"): (
            {
                "name": "Confidence",
                "unit_of_measurement": "%",
                "state_class": "measurement",
                "state_topic": topics.scan,
                "value_template": "{{ (value_json.confidence * 100) | round(1) }}",
                **diagnostic,
            },
            (classifier,),
        ),
        ("sensor", "inference_ms"): (
            {
                "name": "Inference time",
                "device_class": "duration",
                "unit_of_measurement": "ms",
                "state_class": "measurement",
                **_stats(topics, classifier, ClassifierCounter.INFERENCE_MS, missing="'None'"),
                **diagnostic,
            },
            (classifier,),
        ),
        ("sensor", "frames_per_minute"): (
            {
                "name": "Frames per minute",
                "icon": "mdi:camera-burst",
                "unit_of_measurement": "frames/min",
                "state_class": "measurement",
                **_stats(topics, camera, CameraCounter.FRAMES_PER_MINUTE),
                **diagnostic,
            },
            (camera,),
        ),
        ("sensor", "outbox_pending"): (
            {
                "name": "Records waiting to be sent",
                "icon": "mdi:tray-full",
                "unit_of_measurement": "records",
                "state_class": "measurement",
                **_stats(topics, bridge, BridgeCounter.OUTBOX_PENDING),
                **diagnostic,
            },
            (bridge,),
        ),
        ("sensor", "cloud_speech_failures"): (
            {
                "name": "Cloud speech failures",
                "icon": "mdi:cloud-alert",
                "state_class": "total_increasing",
                "state_topic": topics.stats(voice),
                "value_template": (
                    f"{{{{ (value_json.counters.{VoiceCounter.CLOUD_FAILURES} | default(0))"
                    f" + (value_json.counters.{VoiceCounter.CLOUD_TIMEOUTS} | default(0)) }}}}"
                ),
                **diagnostic,
            },
            (voice,),
        ),
        ("binary_sensor", "announcements"): (
            {
                # On: a speech request went unspoken (the bridge watches `say` against `spoken`).
                "name": "Announcements not heard",
                "device_class": "problem",
                "state_topic": topics.stats(bridge),
                "value_template": (
                    f"{{{{ 'ON' if value_json.counters.{BridgeCounter.ANNOUNCEMENTS_FAILING}"
                    " | default(0) else 'OFF' }}"
                ),
                **diagnostic,
            },
            (bridge,),
        ),
        ("number", "threshold"): (
            {
                "name": "Recognition threshold",
                "icon": "mdi:tune-vertical",
                "command_topic": topics.classifier_config,
                "command_template": _config_command("threshold", "{{ value }}"),
                "state_topic": topics.classifier_config_state,
                "value_template": "{{ value_json.threshold }}",
                "min": THRESHOLD_RANGE[0],
                "max": THRESHOLD_RANGE[1],
                "step": 0.01,
                "mode": "slider",
                # Not retained: partial changes retained on one topic would replace each other.
                # The classifier's state says what is in force, its settings after a restart.
                "entity_category": "config",
            },
            (classifier,),
        ),
        ("button", "repeat"): (
            {
                "name": "Repeat last announcement",
                "icon": "mdi:replay",
                "command_topic": topics.repeat,
                "payload_press": "repeat",
            },
            (voice,),
        ),
        ("event", "question"): (
            {
                "name": "Question",
                "icon": "mdi:help-circle-outline",
                "state_topic": topics.question,
                "event_types": list(QUESTION_EVENT_TYPES),
                # The candidates (label, display_name, plu, key) become the event's attributes.
                "value_template": (
                    '{"event_type": "asked", '
                    '"question_id": {{ value_json.question_id | to_json }}, '
                    '"candidates": {{ value_json.candidates | to_json }}, '
                    '"expires_at": {{ value_json.expires_at | to_json }}}'
                ),
                "default_entity_id": question_entity_id(topics.station),
            },
            (classifier,),
        ),
        **{
            ("button", f"answer_{key}"): (
                {
                    "name": f"Answer {key}",
                    "icon": f"mdi:numeric-{key}-box",
                    "command_topic": topics.answer,
                    "command_template": _answer_command(topics, key),
                },
                (classifier,),
            )
            for key in range(1, Question.MAX_CANDIDATES + 1)
        },
        ("button", "answer_none"): (
            {
                "name": "Answer none of these",
                "icon": "mdi:close-box",
                "command_topic": topics.answer,
                "command_template": _answer_command(topics, None),
            },
            (classifier,),
        ),
        ("select", "language"): (
            {
                "name": "Spoken language",
                "icon": "mdi:translate",
                "command_topic": topics.classifier_config,
                "command_template": _config_command("language", '"{{ value }}"'),
                "state_topic": topics.classifier_config_state,
                # `en-GB` is shown as `en`, one of the options.
                "value_template": "{{ value_json.language.split('-')[0] | lower }}",
                "options": list(PHRASES),
                "entity_category": "config",
            },
            (classifier,),
        ),
    }


def discovery(station: str, prefix: str) -> dict[str, Config]:
    """Every discovery config of one station, by topic."""
    topics = Topics(station)
    software = _version()
    device = {
        "identifiers": [f"scantalk_{node_id(station)}"],
        "name": f"ScanTalk {station}",
        "manufacturer": "ScanTalk",
        "model": "Self-checkout announcer",
        "sw_version": software,
    }
    origin = {"name": "ScanTalk", "sw_version": software}
    configs = {}
    for (component, object_id), (own, nodes) in entities(topics).items():
        configs[config_topic(prefix, component, station, object_id)] = {
            **own,
            "unique_id": f"scantalk_{node_id(station)}_{object_id}",
            "availability": [{"topic": topics.status(node)} for node in nodes],
            # Each status says `online` or `offline`: Home Assistant's default payloads.
            "availability_mode": "all",
            "device": device,
            "origin": origin,
        }
    return configs


def birth_topic(prefix: str) -> str:
    return STATUS_TOPIC.format(prefix=prefix)


def asyncapi_messages() -> dict[str, Any]:
    """The AsyncAPI messages of Home Assistant's channels, for `scantalk contract`."""
    topic = config_topic("homeassistant", "sensor", "lane-1", "last_scan")
    example = discovery("lane-1", "homeassistant")[topic]
    config = {
        "type": "object",
        "description": "A Home Assistant MQTT discovery config (Home Assistant's own keys; "
        "bridge/homeassistant.py builds them on the contract's topics).",
        "required": ["name", "unique_id", "device", "origin"],
        "properties": {
            "name": {"type": ["string", "null"]},
            "unique_id": {"type": "string"},
            "device": {"type": "object"},
            "origin": {"type": "object"},
        },
        "additionalProperties": True,
    }
    removed = {"const": "", "description": "An empty payload: the entity is removed."}
    status = [ONLINE.decode(), OFFLINE.decode()]
    return {"HomeAssistantDiscovery": {
        "name": "HomeAssistantDiscovery",
        "title": "Home Assistant discovery config",
        "summary": "One entity of a station, or its removal.",
        "contentType": "application/json",
        "payload": {"anyOf": [config, removed]},
        "examples": [{"name": "last-scan", "summary": "The last scanned item", "payload": example}],
    }, "HomeAssistantStatus": {
        "name": "HomeAssistantStatus",
        "title": "Home Assistant status",
        "summary": "Home Assistant's birth (`online`) and last will (`offline`).",
        "contentType": "text/plain",
        "payload": {"type": "string", "enum": status},
        "examples": [{"name": value, "payload": value} for value in status],
    }}  # fmt: skip


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--remove", action="store_true", help="clear the configs (empty retained payloads)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from scantalk.runtime import Peer

    configs = discovery(settings.station, settings.discovery_prefix)
    try:
        with Peer(settings, "discovery") as peer:
            for topic, config in configs.items():
                payload = b"" if args.remove else json.dumps(config).encode()
                peer.publish(topic, payload, retain=True)
    except ConnectionError as exc:
        print(f"scantalk discovery: {exc}", file=sys.stderr)
        return 1
    done = "removed" if args.remove else "published"
    print(f"{done} {len(configs)} discovery configs of {settings.station} under "
          f"{settings.discovery_prefix}/")  # fmt: skip
    return 0
