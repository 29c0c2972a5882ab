"""Where inventory records go: the local SQLite store, or Azure IoT Hub with `azure-iot-device`."""

from __future__ import annotations

import socket
from typing import Protocol

from scantalk.contract import InventoryRecord
from scantalk.settings import SettingError, Settings


class Destination(Protocol):
    name: str
    device_id: str

    def send(self, record: InventoryRecord) -> None:
        """Deliver one record; returns only once delivery is confirmed, raises otherwise."""

    def close(self) -> None: ...


class LocalStore:
    """No cloud: the outbox database is the record store, so delivery is just marking it."""

    name = "local"

    def __init__(self) -> None:
        self.device_id = socket.gethostname()

    def send(self, record: InventoryRecord) -> None:
        pass

    def close(self) -> None:
        pass


class IoTHub:
    """A device client; `send_message` returns when the hub acknowledged (MQTT QoS 1 PUBACK)."""

    name = "iothub"

    def __init__(self, connection_string: str, ca_file: str | None = None) -> None:
        from azure.iot.device import IoTHubDeviceClient  # only the bridge image installs it

        kwargs = {}
        if ca_file:
            try:
                with open(ca_file) as f:
                    kwargs["server_verification_cert"] = f.read()
            except OSError as exc:
                raise SettingError(
                    "SCANTALK_IOTHUB_CA_FILE", ca_file, f"a readable PEM file ({exc})"
                ) from exc
        try:
            self.client = IoTHubDeviceClient.create_from_connection_string(
                connection_string, **kwargs
            )
        except ValueError as exc:
            # Never echo the string: it holds the device key.
            raise SettingError(
                "SCANTALK_IOTHUB_CONNECTION_STRING",
                "<hidden>",
                f"HostName=…;DeviceId=…;SharedAccessKey=… ({exc})",
            ) from exc
        fields = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
        self.device_id = fields.get("DeviceId", "")
        self.host = fields.get("HostName", "")

    def send(self, record: InventoryRecord) -> None:
        from azure.iot.device import Message

        message = Message(
            record.to_json().decode(),
            message_id=record.scan_id,
            content_encoding="utf-8",
            content_type="application/json",
        )
        message.custom_properties["recordType"] = record.record_type
        message.custom_properties["stationId"] = record.station_id
        self.client.send_message(message)

    def close(self) -> None:
        self.client.shutdown()


def open_destination(settings: Settings) -> Destination:
    if settings.iothub_connection_string:
        ca = str(settings.iothub_ca_file) if settings.iothub_ca_file else None
        return IoTHub(settings.iothub_connection_string, ca)
    return LocalStore()
