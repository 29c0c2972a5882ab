"""Where inventory records go, chosen at start and logged:

- `iothub-module`: as an IoT Edge module (`IoTHubModuleClient.create_from_edge_environment()`),
  each record sent to the output `inventory`, which the manifest routes to `$upstream`;
  also a module connection string (`…;ModuleId=…`);
- `iothub-device`: as a plain device, with `SCANTALK_IOTHUB_CONNECTION_STRING`;
- `local`: no cloud; the outbox database is the record store (the default).
"""

from __future__ import annotations

import os
import socket
from typing import Any, Protocol

from bridge.settings import BridgeSettings
from scantalk.contract import InventoryRecord
from scantalk.settings import SettingError

OUTPUT = "inventory"
EDGE_VARIABLES = ("IOTEDGE_WORKLOADURI", "IOTEDGE_MODULEID", "IOTEDGE_DEVICEID")


class Destination(Protocol):
    name: str
    """`local` or `iothub`: what acknowledgements name as the destination."""
    mode: str
    device_id: str

    def send(self, record: InventoryRecord) -> None:
        """Deliver one record; returns only once delivery is confirmed, raises otherwise."""

    def close(self) -> None: ...


class LocalStore:
    """No cloud: the outbox database is the record store, so delivery is just marking it."""

    name = mode = "local"

    def __init__(self) -> None:
        self.device_id = socket.gethostname()

    def send(self, record: InventoryRecord) -> None:
        pass

    def close(self) -> None:
        pass


class IoTHub:
    """`send` returns when the hub (or edgeHub) acknowledged the message (MQTT QoS 1 PUBACK)."""

    name = "iothub"

    def __init__(self, client: Any, mode: str, device_id: str, output: str | None) -> None:
        self.client, self.mode, self.device_id, self.output = client, mode, device_id, output

    @classmethod
    def from_connection_string(cls, connection_string: str, ca_file: str | None) -> IoTHub:
        from azure.iot.device import IoTHubDeviceClient, IoTHubModuleClient

        fields = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
        module = "ModuleId" in fields
        client_type = IoTHubModuleClient if module else IoTHubDeviceClient
        kwargs = {"server_verification_cert": _read_ca(ca_file)} if ca_file else {}
        try:
            client = client_type.create_from_connection_string(connection_string, **kwargs)
        except ValueError as exc:
            # Never echo the string: it holds the device key.
            raise SettingError(
                "SCANTALK_IOTHUB_CONNECTION_STRING",
                "<hidden>",
                f"HostName=…;DeviceId=…[;ModuleId=…];SharedAccessKey=… ({exc})",
            ) from exc
        mode = "iothub-module" if module else "iothub-device"
        return cls(client, mode, fields.get("DeviceId", ""), OUTPUT if module else None)

    @classmethod
    def from_edge_environment(cls) -> IoTHub:
        from azure.iot.device import IoTHubModuleClient

        client = IoTHubModuleClient.create_from_edge_environment()
        return cls(client, "iothub-module", os.environ.get("IOTEDGE_DEVICEID", ""), OUTPUT)

    def send(self, record: InventoryRecord) -> None:
        from azure.iot.device import Message

        message = Message(
            record.to_json().decode(),
            message_id=record.message_id,  # the hub side can drop a redelivered record by its id
            content_encoding="utf-8",
            content_type="application/json",
        )
        # For IoT Hub routing queries: `recordType = 'scan' AND stationId = 'lane-1'`.
        message.custom_properties["recordType"] = record.record_type
        message.custom_properties["stationId"] = record.station_id
        if self.output:
            self.client.send_message_to_output(message, self.output)
        else:
            self.client.send_message(message)

    def close(self) -> None:
        self.client.shutdown()


def _read_ca(ca_file: str) -> str:
    try:
        with open(ca_file) as f:
            return f.read()
    except OSError as exc:
        raise SettingError(
            "SCANTALK_IOTHUB_CA_FILE", ca_file, f"a readable PEM file ({exc})"
        ) from exc


def open_destination(settings: BridgeSettings) -> Destination:
    if settings.iothub_connection_string:
        ca = str(settings.iothub_ca_file) if settings.iothub_ca_file else None
        return IoTHub.from_connection_string(settings.iothub_connection_string, ca)
    if all(os.environ.get(name) for name in EDGE_VARIABLES):
        return IoTHub.from_edge_environment()
    return LocalStore()
