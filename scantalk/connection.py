"""The one way a ScanTalk process gets an MQTT client: MQTT v5, Nagle off, and the broker's
credentials and TLS from the shared settings, so every node and command logs in alike."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from typing import Any

import paho.mqtt.client as mqtt

from scantalk.settings import SettingError, Settings


def tcp_no_delay(_client: mqtt.Client, _userdata: object, sock: socket.socket) -> None:
    """Send small messages at once: Nagle's algorithm would hold a scan or ack ~40 ms."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Client(mqtt.Client):
    """paho's client, keeping each PUBACK's reason code: paho 1.6 reads it but hands it to no
    one, and it is how an MQTT 5 broker refuses a publish its ACL denies ("not authorized",
    0x87) while still acknowledging it."""

    # paho's callbacks take several signatures; paho 1.6 ships no types.
    on_connect: Any
    on_disconnect: Any

    def __init__(self, client_id: str) -> None:
        super().__init__(client_id=client_id, protocol=mqtt.MQTTv5)
        self._puback_codes: dict[int, int] = {}

    def _handle_pubackcomp(self, cmd: str) -> int:
        packet = self._in_packet["packet"]
        if cmd == "PUBACK":  # no reason code at all means success
            self._puback_codes[struct.unpack("!H", packet[:2])[0]] = (
                packet[2] if len(packet) > 2 else 0
            )
        return super()._handle_pubackcomp(cmd)

    def connect_and_wait(
        self,
        host: str,
        port: int,
        *,
        keepalive: int = 60,
        clean_start: bool | int = mqtt.MQTT_CLEAN_START_FIRST_ONLY,
        timeout: float = 10,
    ) -> str:
        """Connect, start the network thread and wait for the broker's answer: "Success", its
        refusal ("Not authorized" …), "lost" (it hung up without one) or "no answer". Raises
        OSError when the broker cannot be reached at all."""
        answers: list[str] = []
        answered = threading.Event()

        def on_connect(_c: object, _u: object, _f: object, rc: object, _p: object = None) -> None:
            answers.append(str(rc))
            answered.set()

        def on_disconnect(_c: object, _u: object, _rc: object, _p: object = None) -> None:
            answers.append("lost")
            answered.set()

        self.on_connect, self.on_disconnect = on_connect, on_disconnect
        self.connect(host, port, keepalive=keepalive, clean_start=clean_start)
        self.loop_start()
        return answers[0] if answered.wait(timeout) else "no answer"

    def puback_code(self, mid: int) -> int:
        """The reason code of a QoS 1 publish the broker acknowledged: below 0x80 is taken
        (Mosquitto says 0x10 when no one subscribed); 0x87 is "not authorized"."""
        return self._puback_codes.pop(mid, 0)


def mqtt_client(settings: Settings, client_id: str) -> Client:
    """An unconnected client; it logs in as `mqtt_username` and, with `mqtt_tls_ca`, speaks
    TLS and trusts only a broker whose certificate that CA signed for `mqtt_host`."""
    client = Client(client_id)
    client.on_socket_open = tcp_no_delay
    if settings.mqtt_password and not settings.mqtt_username:
        # Else paho would drop the password without a word and the broker refuse "anonymous".
        raise SettingError("SCANTALK_MQTT_USERNAME", None, "a user name for the password")
    if settings.mqtt_username:
        client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
    if settings.mqtt_tls_ca:
        try:
            # Python's defaults for a client: TLS 1.2 or later, the certificate and its host
            # name checked (paho 1.6's own `tls_set` picks a deprecated protocol constant).
            context = ssl.create_default_context(cafile=settings.mqtt_tls_ca)
        except OSError as exc:  # missing, or not PEM (ssl.SSLError): say so now, not later
            raise SettingError(
                "SCANTALK_MQTT_TLS_CA", str(settings.mqtt_tls_ca), "a CA certificate file (PEM)"
            ) from exc
        client.tls_set_context(context)
    return client
