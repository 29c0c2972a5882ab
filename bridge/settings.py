"""The bridge's settings: the shared ones, which scans it takes, and where records go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scantalk.settings import (
    GROUP,
    OPTIONAL,
    PATH,
    STATIONS,
    YES_NO,
    Number,
    Settings,
    Text,
    setting,
)


def _zone(text: str) -> ZoneInfo:
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # not found is a KeyError
        raise ValueError(text) from exc


TIMEZONE = Text(_zone, "an IANA time zone, e.g. Europe/Berlin")


@dataclass(frozen=True)
class BridgeSettings(Settings):
    store: str | None = setting(None, OPTIONAL, "the store's id, in each inventory record")
    bridge_stations: str | None = setting(
        None, STATIONS, "stations whose scans the bridge forwards: unset for its own, + for all"
    )
    bridge_share_group: str | None = setting(
        None, GROUP, "MQTT shared-subscription group, so bridges split the scans between them"
    )
    homeassistant: bool = setting(True, YES_NO, "publish Home Assistant discovery for its station")
    timezone: ZoneInfo | None = setting(
        None,
        TIMEZONE,
        "the store's time zone, e.g. Europe/Berlin, for scans today; unset: the machine's",
    )
    outbox_max: int = setting(
        100_000, Number(int, 1), "pending records at which the bridge warns loudly"
    )
    iothub_connection_string: str | None = setting(
        None,
        OPTIONAL,
        "IoT Hub device connection string; none means a local record store",
        secret=True,
    )
    iothub_ca_file: Path | None = setting(
        None, PATH, "CA certificate (PEM) to trust for IoT Hub, e.g. for a gateway"
    )

    @property
    def outbox_path(self) -> Path:
        """The durable outbox, which is also the local record store."""
        return self.data_dir / "inventory.sqlite"
