"""Home Assistant MQTT discovery keys: what each component accepts and what it requires.

Allowlists for checking the discovery configs ScanTalk publishes. All keys are full names (no
abbreviations such as `stat_t`). For a component the allowed set is `allowed_keys(component)`:
COMMON, plus OPTIONAL[component], plus every key named in REQUIRED[component]. The nested
`device`, `origin` and `availability` (list entry) blocks are checked against DEVICE, ORIGIN and
AVAILABILITY_ENTRY.

Sources. Only keys seen in these were written down; nothing was filled in from memory.

1. Home Assistant documentation, the `{% configuration %}` block of each page
   (https://www.home-assistant.io/integrations/<component>.mqtt/), read as the stored source in
   github.com/home-assistant/home-assistant.io, `source/_integrations/<component>.mqtt.markdown`:
     sensor         @ 9e4a69ab998700a518e366a7f54551a150fccf94
     binary_sensor  @ fbc3a3b3bdcce503437401c8ea500a3f72181fd8
     event          @ 172bcca0686c1765904a39065d10fa31cab295a1
     image          @ 23472596b17b3e4e94f1d589a9bdcafeeade92af
     number         @ ebecc7e8048252f83c9b5c0035a196707f70d2e1
     button         @ d72255663705fa665050cd738a270e89f0ae8db3
     select         @ 23472596b17b3e4e94f1d589a9bdcafeeade92af
   These are the 2024.11 to 2025.9 versions of the pages: they have `model_id`, `platform`,
   `entity_picture` and still `object_id`, not yet `default_entity_id`. Newer versions of these
   seven pages were not in the stored index, and the live pages were only reachable as search
   excerpts, not whole. A translated mirror of the current sensor page showed
   `default_entity_id` in place of `object_id` (used only as corroboration).
   Gaps in those page versions: image.mqtt lists no `qos`, `payload_available`,
   `payload_not_available` or `platform`; number.mqtt lists no `availability_template`,
   `payload_available`, `payload_not_available` or availability `value_template`. The core
   schemas below accept all of them for every component, so they are in COMMON.
2. Home Assistant core, github.com/home-assistant/core, `homeassistant/components/mqtt/`:
     schemas.py @ c6ca7f5f416326437e8e652a5623aa5eff7b3d00  (MQTT_ENTITY_COMMON_SCHEMA,
       MQTT_AVAILABILITY_SCHEMA, MQTT_ENTITY_DEVICE_INFO_SCHEMA, MQTT_ORIGIN_INFO_SCHEMA)
     schemas.py @ 0f5c1b547043f5395608e09de3dcf4b7cfafef3d  (DEVICE_DISCOVERY_SCHEMA)
     config.py  @ a5c8209270205b905bb35a9082c39708b0d5f52f  (MQTT_BASE_SCHEMA, MQTT_RO_SCHEMA,
       MQTT_RW_SCHEMA)
     event.py   @ 5974c7760ac09b1772ea9f7d88ca5e8368c7260b
     image.py   @ 7fd78000bf36b68eecd267abc1488f17f7e277e0
     button.py  @ 1ecdb9be82be2596c8145d2cf9a3ca3c6daf8d2a
     select.py  @ 20dc1b2cd44bc70ecfbeadbe48e9cd43b5611d24
   plus the PLATFORM_SCHEMA_MODERN / DISCOVERY_SCHEMA blocks of sensor.py, binary_sensor.py and
   number.py as found by exact-string search of the index (commits not shown by that search).
3. A newer copy of core's `mqtt/schemas.py` and `mqtt/config.py` (the versions where voluptuous
   is imported as `probatio`), found by exact-string search; the index did not say which
   repository or commit they come from. They are the source of `default_entity_id` and
   `entity_picture` in MQTT_ENTITY_COMMON_SCHEMA, of `message_expiry_interval`,
   `visible_by_default` and `group`, of the absence of `object_id`, and of the rule that a
   component in a device discovery payload must carry `unique_id`. Also a stored snapshot of
   https://github.com/home-assistant/core/blob/dev/homeassistant/components/mqtt/const.py
   (fetched 2026-09-02), which defines the same constants.
4. Pull requests that date the newer keys (see ADDED_IN and DEPRECATED):
   home-assistant/core #128404, #151775, #152270, #164460, #168832, #171143;
   home-assistant/home-assistant.io #40860, #44954, #45430.

Note: core's DISCOVERY_SCHEMA is built with `extra=REMOVE_EXTRA`, so Home Assistant silently
drops an unknown key from a discovery payload instead of rejecting the config. That is why this
check has to be done here: HA will not report the mistake.
The discovery-only base-topic key `~` (replaced in every `*_topic` value by discovery.py,
TOPIC_BASE) is not an entity option and is not listed here.
"""

from __future__ import annotations

COMPONENTS: tuple[str, ...] = (
    "sensor",
    "binary_sensor",
    "event",
    "image",
    "number",
    "button",
    "select",
)

# Keys every MQTT entity accepts. MQTT_ENTITY_COMMON_SCHEMA (availability, device, origin,
# entity options), MQTT_BASE_SCHEMA (qos, encoding, and in the newest core group), plus `name`
# (in every platform's own schema) and `platform` (only allowed, and then required, inside the
# `components` of a device discovery payload).
COMMON: frozenset[str] = frozenset(
    {
        # availability (MQTT_AVAILABILITY_SCHEMA)
        "availability",
        "availability_mode",
        "availability_template",
        "availability_topic",
        "payload_available",
        "payload_not_available",
        # entity (MQTT_ENTITY_COMMON_SCHEMA)
        "default_entity_id",
        "device",
        "enabled_by_default",
        "entity_category",
        "entity_picture",
        "icon",
        "json_attributes_template",
        "json_attributes_topic",
        "message_expiry_interval",
        "origin",
        "unique_id",
        "visible_by_default",
        # MQTT_BASE_SCHEMA
        "encoding",
        "group",
        "qos",
        # per platform schema / device discovery
        "name",
        "platform",
    }
)

# Per component: alternatives; each alternative is a set of keys that must all be present.
REQUIRED: dict[str, tuple[frozenset[str], ...]] = {
    "sensor": (frozenset({"state_topic"}),),
    "binary_sensor": (frozenset({"state_topic"}),),
    "event": (frozenset({"state_topic", "event_types"}),),
    # vol.Exclusive(image_topic / url_topic) plus validate_topic_required: exactly one of them.
    "image": (frozenset({"image_topic"}), frozenset({"url_topic"})),
    "number": (frozenset({"command_topic"}),),
    "button": (frozenset({"command_topic"}),),
    "select": (frozenset({"command_topic", "options"}),),
}

# Per component: its own documented optional keys, beyond COMMON and beyond REQUIRED.
OPTIONAL: dict[str, frozenset[str]] = {
    # MQTT_RO_SCHEMA (value_template) + sensor.py
    "sensor": frozenset(
        {
            "device_class",
            "expire_after",
            "force_update",
            "last_reset_value_template",
            "options",
            "state_class",
            "suggested_display_precision",
            "unit_of_measurement",
            "value_template",
        }
    ),
    # MQTT_RO_SCHEMA + binary_sensor.py
    "binary_sensor": frozenset(
        {
            "device_class",
            "expire_after",
            "force_update",
            "off_delay",
            "payload_off",
            "payload_on",
            "value_template",
        }
    ),
    # MQTT_RO_SCHEMA + event.py
    "event": frozenset({"device_class", "value_template"}),
    # MQTT_BASE_SCHEMA + image.py (no value_template, no state_topic)
    "image": frozenset({"content_type", "image_encoding", "url_template"}),
    # MQTT_RW_SCHEMA (optimistic, retain, state_topic) + number.py
    "number": frozenset(
        {
            "command_template",
            "device_class",
            "max",
            "min",
            "mode",
            "optimistic",
            "payload_reset",
            "retain",
            "state_topic",
            "step",
            "unit_of_measurement",
            "value_template",
        }
    ),
    # MQTT_BASE_SCHEMA + button.py (no state_topic, no optimistic)
    "button": frozenset({"command_template", "device_class", "payload_press", "retain"}),
    # MQTT_RW_SCHEMA + select.py
    "select": frozenset(
        {"command_template", "optimistic", "retain", "state_topic", "value_template"}
    ),
}

# MQTT_ENTITY_DEVICE_INFO_SCHEMA. At least one of DEVICE_IDENTIFYING must be non-empty.
DEVICE: frozenset[str] = frozenset(
    {
        "configuration_url",
        "connections",
        "hw_version",
        "identifiers",
        "manufacturer",
        "model",
        "model_id",
        "name",
        "serial_number",
        "suggested_area",
        "sw_version",
        "via_device",
    }
)
DEVICE_IDENTIFYING: frozenset[str] = frozenset({"identifiers", "connections"})

# MQTT_ORIGIN_INFO_SCHEMA; `name` is required in it.
ORIGIN: frozenset[str] = frozenset({"name", "sw_version", "support_url"})
ORIGIN_REQUIRED: frozenset[str] = frozenset({"name"})

# One entry of the `availability` list; `topic` is required in it.
AVAILABILITY_ENTRY: frozenset[str] = frozenset(
    {"topic", "payload_available", "payload_not_available", "value_template"}
)
AVAILABILITY_ENTRY_REQUIRED: frozenset[str] = frozenset({"topic"})

# Device based discovery (one payload, several components): the payload itself needs these
# (DEVICE_DISCOVERY_SCHEMA), and each entity component in `components` needs these.
DEVICE_DISCOVERY_PAYLOAD_REQUIRED: frozenset[str] = frozenset({"device", "origin", "components"})
DEVICE_DISCOVERY_COMPONENT_REQUIRED: frozenset[str] = frozenset({"platform", "unique_id"})

# Pairs of keys that must not appear together.
EXCLUSIVE: tuple[frozenset[str], ...] = (
    frozenset({"availability", "availability_topic"}),
    frozenset({"image_topic", "url_topic"}),
    frozenset({"content_type", "url_topic"}),  # image
)

# Keys a config should no longer send; deliberately left out of COMMON and DEVICE.
DEPRECATED: dict[str, str] = {
    "object_id": (
        "deprecated in favour of default_entity_id by core PR #151775 (2025.10); removed by "
        "core PR #164460 (2026.4), after which it is ignored in discovery"
    ),
    "via_hub": "old name of device.via_device (cv.deprecated in MQTT_ENTITY_DEVICE_INFO_SCHEMA)",
}

# Keys in COMMON or DEVICE that older Home Assistant releases do not know (they drop them
# silently from a discovery payload).
ADDED_IN: dict[str, str] = {
    "entity_picture": "all MQTT platforms since core PR #128404 (2024-10, release 2024.11)",
    "default_entity_id": "core PR #151775 (2025-09, release 2025.10)",
    "group": "core PR #152270 (docs PR #40860); in MQTT_BASE_SCHEMA of the newest config.py",
    "visible_by_default": "core PR #168832 (2026), docs PR #44954",
    "message_expiry_interval": "core PR #171143 (2026-05), docs PR #45430",
    "model_id": "device block; present in schemas.py @ c6ca7f5f and the 2024-2025 docs",
}


def allowed_keys(component: str) -> frozenset[str]:
    """Every top-level key Home Assistant accepts in a discovery config for `component`."""
    required = frozenset[str]().union(*REQUIRED[component])
    return COMMON | OPTIONAL[component] | required
