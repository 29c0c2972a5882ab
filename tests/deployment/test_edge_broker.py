"""The edge broker, secured: a real `mosquitto -c mosquitto/edge.conf` (rendered for loopback)
with the password file `scantalk broker passwd` writes. Every user may publish exactly its topics
of the contract and hears exactly what it may read; no one gets in without a password, and the
TLS listener speaks only TLS to clients that trust its CA."""

from __future__ import annotations

import dataclasses
import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import homeassistant
from bridge.homeassistant import birth_topic, discovery
from scantalk.channels import ANY_NODE, OUTSIDE, ROOT, Channel, channel_of
from scantalk.commands.broker import DEV_CONF
from scantalk.commands.broker_users import USERS, acl, lane_channels, password_variable
from scantalk.connection import mqtt_client
from scantalk.contract import ONLINE, NodeName, SayRequest, Scan, Topics
from scantalk.settings import SettingError, Settings
from testbench import CHECKOUT
from testbench.bus import ACCEPTED, NOT_AUTHORIZED, Bus
from testbench.edge import (
    ACL,
    EDGE_CONF,
    EdgeBroker,
    Publisher,
    connack,
    make_secrets,
)
from testbench.environ import clean_environ

T = Topics("lane-1")
CAMERA, CLASSIFIER, VOICE, BRIDGE, SCALE = NodeName
DISCOVERY = next(iter(discovery("lane-1", "homeassistant")))
"""One of the bridge's Home Assistant discovery topics."""
BIRTH = birth_topic("homeassistant")


def example(channel: Channel, node: str | None) -> str:
    """A channel's topic on lane-1: the node's own for a per-node channel."""
    if channel is homeassistant.DISCOVERY:
        return DISCOVERY
    return channel.topic(station="lane-1", node=node or "", prefix="homeassistant")


def granted(user: str, side: str) -> list[str]:
    """The topics of lane-1 the channel table lets `user` publish ("write") or read."""
    node = user if user in set(NodeName) else None
    topics = []
    for channel in lane_channels():
        use = channel.publisher(user) if side == "write" else channel.reader(user)
        if use and not (side == "read" and user in OUTSIDE and channel.address.startswith(ROOT)):
            if use.node == ANY_NODE:  # every node's topic
                topics += [example(channel, n) for n in NodeName]
            else:
                topics.append(example(channel, use.node or node))
    if side == "read" and user in OUTSIDE:  # every topic of a lane but the private ones
        topics += [t for t in ALL if t.startswith(ROOT) and not channel_of(t).private]
    return topics


ALL = sorted(
    {example(c, node) for c in lane_channels() for node in NodeName if "{node}" in c.address}
    | {example(c, None) for c in lane_channels() if "{node}" not in c.address}
)
"""Every topic of a station in the channel table, and Home Assistant's."""
WRITES = {user: granted(user, "write") for user in USERS}
READS = {user: granted(user, "read") for user in USERS}
PASSWORDS = {user: f"{user}-test-password-{i}" for i, user in enumerate(USERS)}


def scantalk(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scantalk", *args],
        cwd=cwd, env={**clean_environ(), **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def env_file(folder: Path, passwords: dict[str, str]) -> Path:
    path = folder / "broker.env"
    path.write_text("".join(f"{password_variable(u)}={p}\n" for u, p in passwords.items()))
    return path


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeBroker]:
    folder = tmp_path_factory.mktemp("edge")
    secrets = make_secrets(folder / "secrets")
    made = scantalk("broker", "passwd", "--env", str(env_file(folder, PASSWORDS)),
                    "--output", str(secrets / "passwords"), cwd=folder)  # fmt: skip
    assert made.returncode == 0, made.stderr
    with EdgeBroker(folder / "broker", secrets) as broker:
        yield broker


class Users(dict[str, Publisher]):
    """Each user's one connection, made when a test first uses it (the broker makes a client's
    id its user name: a second connection of a user takes the first one over). Each hears the
    lanes and Home Assistant's topics, as far as the ACL lets it."""

    def __init__(self, edge: EdgeBroker) -> None:
        super().__init__()
        self.edge = edge

    def __missing__(self, user: str) -> Publisher:
        # the wire format, on purpose
        self[user] = Publisher(self.edge, user, PASSWORDS[user], ["scantalk/#", "homeassistant/#"])
        return self[user]


@pytest.fixture
def publishers(edge: EdgeBroker) -> Iterator[Users]:
    users = Users(edge)
    yield users
    for client in users.values():
        client.close()


@pytest.fixture
def checkout(publishers: Users) -> Publisher:
    """Third-party ears: they may read everything of the lane but its live frames."""
    return publishers["checkout"]


# --- the files ------------------------------------------------------------------------------


def test_the_acl_grants_exactly_the_users_passwd_writes():
    users = re.findall(r"^user (\S+)$", ACL.read_text(), re.MULTILINE)
    assert users == list(USERS)


def test_every_topic_has_a_user_that_writes_it():
    assert {topic for topics in WRITES.values() for topic in topics} == set(ALL)


def test_the_acl_is_the_one_the_channel_table_gives():
    """The broker's ACL is generated: a channel, publisher or reader added to the table, or a
    line changed by hand in the file, fails here until the file is generated again."""
    assert ACL.read_text() == acl(lane_channels()), (
        "mosquitto/acl drifted from the channel table: scantalk broker acl > mosquitto/acl"
    )


def test_the_edge_broker_keeps_the_dev_brokers_queue_and_autosave():
    def options(text: str) -> dict[str, str]:
        return dict(line.split(" ", 1) for line in text.splitlines() if line and line[0] != "#")

    edge, dev = options(EDGE_CONF.read_text()), options(DEV_CONF.read_text())
    for name in ("autosave_interval", "max_queued_messages", "persistence", "set_tcp_nodelay"):
        assert edge[name] == dev[name], name
    assert (edge["allow_anonymous"], edge["per_listener_settings"]) == ("false", "false")


def test_passwd_writes_a_hashed_file_only_its_owner_reads(tmp_path):
    output = tmp_path / "secrets" / "passwords"
    made = scantalk("broker", "passwd", "--env", str(env_file(tmp_path, PASSWORDS)),
                    "--output", str(output), cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert output.stat().st_mode & 0o777 == 0o600
    lines = output.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == list(USERS)
    assert all(line.split(":")[1].startswith("$7$") for line in lines)  # PBKDF2-SHA512
    assert not any(password in output.read_text() for password in PASSWORDS.values())
    assert [p.name for p in output.parent.iterdir()] == ["passwords"]  # no plain copy left


def test_passwd_refuses_missing_or_short_passwords_and_names_them(tmp_path):
    passwords = {**PASSWORDS, "voice": "short"}
    del passwords["checkout"]
    output = tmp_path / "passwords"
    made = scantalk("broker", "passwd", "--env", str(env_file(tmp_path, passwords)),
                    "--output", str(output), cwd=tmp_path)  # fmt: skip
    assert made.returncode == 2
    named = set(re.findall(r"SCANTALK_BROKER_PASSWORD_[A-Z]+", made.stderr))
    assert named == {"SCANTALK_BROKER_PASSWORD_VOICE", "SCANTALK_BROKER_PASSWORD_CHECKOUT"}
    assert "short" not in made.stderr
    assert not output.exists()
    # The environment fills the gap, as it does for settings.
    fixed = scantalk("broker", "passwd", "--env", str(tmp_path / "broker.env"),
                     "--output", str(output), cwd=tmp_path,
                     SCANTALK_BROKER_PASSWORD_VOICE=PASSWORDS["voice"],
                     SCANTALK_BROKER_PASSWORD_CHECKOUT=PASSWORDS["checkout"])  # fmt: skip
    assert fixed.returncode == 0, fixed.stderr


def test_a_client_without_its_ca_file_or_user_name_stops_at_once(tmp_path):
    with pytest.raises(SettingError, match="SCANTALK_MQTT_TLS_CA"):
        mqtt_client(Settings(mqtt_tls_ca=tmp_path / "missing.crt"), "test")
    with pytest.raises(SettingError, match="SCANTALK_MQTT_USERNAME"):
        mqtt_client(Settings(mqtt_password="a-password-123"), "test")


# --- who gets in ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "password", "tls", "answer"),
    [
        ("voice", PASSWORDS["voice"], False, "Success"),
        (None, None, False, "Not authorized"),
        ("voice", PASSWORDS["camera"], False, "Not authorized"),
        ("nobody", PASSWORDS["voice"], False, "Not authorized"),
        ("checkout", PASSWORDS["checkout"], True, "Success"),
        (None, None, True, "Not authorized"),
        ("checkout", "wrong-password-123", True, "Not authorized"),
    ],
)
def test_only_users_with_their_password_get_in_on_either_listener(
    edge, user, password, tls, answer
):
    assert connack(edge.login(user, password, tls)) == answer


def test_the_tls_listener_refuses_plain_mqtt(edge):
    login = edge.login("checkout", PASSWORDS["checkout"], tls=True)
    assert connack(dataclasses.replace(login, mqtt_tls_ca=None)) == "lost"


def test_a_client_that_does_not_trust_the_ca_does_not_connect(edge, tmp_path):
    other = make_secrets(tmp_path / "other") / "ca.crt"
    login = edge.login("checkout", PASSWORDS["checkout"], tls=True)
    with pytest.raises(ssl.SSLCertVerificationError):
        connack(dataclasses.replace(login, mqtt_tls_ca=other))


# --- who may publish and read what ----------------------------------------------------------


@pytest.mark.parametrize("user", USERS)
def test_each_user_may_publish_its_own_topics_and_no_other(publishers, user):
    said = {topic: publishers[user].try_publish(topic) for topic in ALL}
    assert said == {t: ACCEPTED if t in WRITES[user] else NOT_AUTHORIZED for t in ALL}


def test_the_bridge_may_publish_every_discovery_config(publishers):
    for topic in discovery("lane-1", "homeassistant"):
        assert publishers["bridge"].try_publish(topic, b"", retain=True) == ACCEPTED, topic


def test_each_user_hears_what_it_may_read_and_nothing_else(publishers):
    buses = {user: publishers[user] for user in USERS}  # each user's one connection
    writer = {topic: user for user, topics in WRITES.items() for topic in topics}
    for topic in ALL:
        assert buses[writer[topic]].try_publish(topic, b"read check") == ACCEPTED
    # The broker queued every message above for its readers before it acked it, and sends a
    # reader's queue in order: once the last message reaches a reader, all before have.
    for user, bus in buses.items():
        if not READS[user]:  # reads nothing: checked once the others heard all
            continue
        last = READS[user][-1]
        assert buses[writer[last]].try_publish(last, b"last") == ACCEPTED
        bus.wait_for(last, lambda h: h.payload == b"last")
    for user, bus in buses.items():
        heard = {h.topic for h in bus.heard if h.payload == b"read check"}
        assert heard == set(READS[user]), user


def test_the_camera_cannot_publish_a_scan(publishers, checkout):
    assert publishers["camera"].try_publish(T.scan, b'{"fake": "scan"}') == NOT_AUTHORIZED
    assert publishers["camera"].try_publish(T.snapshot, b"jpeg") == ACCEPTED
    checkout.wait_for(T.snapshot, lambda h: h.payload == b"jpeg")  # after the scan, had it gone
    assert checkout.matching(T.scan) == []


def test_checkout_may_ask_for_a_repeat_but_not_fake_a_scan(publishers, checkout):
    assert publishers["checkout"].try_publish(T.scan, b'{"fake": "scan"}') == NOT_AUTHORIZED
    assert publishers["checkout"].try_publish(T.repeat, b"") == ACCEPTED
    checkout.wait_for(T.repeat)
    assert checkout.matching(T.scan) == []


# --- real nodes -----------------------------------------------------------------------------


def voice_env(edge: EdgeBroker, tmp_path: Path, station: str, **login: str) -> dict[str, str]:
    return {
        **clean_environ(),
        "SCANTALK_STATION": station,
        "SCANTALK_MQTT_PORT": str(edge.port),
        "SCANTALK_MQTT_USERNAME": "voice",
        "SCANTALK_MQTT_PASSWORD": PASSWORDS["voice"],
        "SCANTALK_DATA_DIR": str(tmp_path / "data"),
        "SCANTALK_SAY_STARTUP": "no",
        "SDL_AUDIODRIVER": "disk",
        "SDL_DISKAUDIOFILE": str(tmp_path / "speaker.raw"),
        **login,
    }


def test_a_node_logs_in_as_its_user_and_works_under_the_acl(
    edge, publishers, checkout, start_node, tmp_path
):
    start_node("voice", voice_env(edge, tmp_path, "lane-1"))
    checkout.wait_for(T.status(VOICE), lambda h: h.payload == ONLINE)
    say = SayRequest("lane-1", "Banana", "en", scan_id="scan-edge")
    assert publishers["classifier"].try_publish(T.say, say.to_json()) == ACCEPTED
    (spoken,) = checkout.wait_for(T.spoken)
    assert (spoken.json()["text"], spoken.json()["scan_id"]) == ("Banana", "scan-edge")


def test_a_node_with_the_ca_connects_over_tls(edge, start_node, tmp_path):
    # the wire format, on purpose
    bus = Bus(edge.tls_port, ["scantalk/lane-tls/#"],
              login=edge.login("checkout", PASSWORDS["checkout"], tls=True))  # fmt: skip
    try:
        start_node("voice", voice_env(edge, tmp_path, "lane-tls",
                                      SCANTALK_MQTT_PORT=str(edge.tls_port),
                                      SCANTALK_MQTT_TLS_CA=str(edge.ca)))  # fmt: skip
        bus.wait_for(Topics("lane-tls").status(VOICE), lambda h: h.payload == ONLINE)
    finally:
        bus.close()


def test_a_node_with_a_wrong_password_says_so_while_it_retries(edge, tmp_path):
    env = voice_env(edge, tmp_path, "lane-1", SCANTALK_MQTT_PASSWORD="not-the-password")
    process = subprocess.Popen(
        [sys.executable, "-m", "scantalk", "node", "voice"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        for line in process.stderr:  # the node never exits on its own: read until it complains
            if "broker refused the connection" in line:
                assert "Not authorized (user voice;" in line
                break
        else:
            pytest.fail("the node exited without saying the broker refused it")
    finally:
        process.terminate()
        process.wait(30)


def discovery_as(edge, tmp_path, user: str, password: str) -> subprocess.CompletedProcess[str]:
    """`scantalk discovery`, a command that publishes, logged in as `user`."""
    env = voice_env(edge, tmp_path, "lane-1", SCANTALK_MQTT_USERNAME=user,
                    SCANTALK_MQTT_PASSWORD=password)  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "scantalk", "discovery"], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_a_command_with_a_wrong_password_fails_at_once_and_says_why(edge, tmp_path):
    done = discovery_as(edge, tmp_path, "bridge", "not-the-password")
    assert done.returncode == 1
    assert "refused bridge: Not authorized" in done.stderr


def test_a_command_the_acl_refuses_says_so(edge, tmp_path):
    # checkout may read the lane, not publish Home Assistant's configs: the broker acknowledges
    # the publish with "not authorized", and the command must not report success.
    done = discovery_as(edge, tmp_path, "checkout", PASSWORDS["checkout"])
    assert done.returncode == 1
    assert "refused checkout a message on homeassistant/" in done.stderr
    assert "0x87" in done.stderr


def test_the_example_checkout_listener_follows_scans_over_tls_as_checkout(edge, publishers):
    env = {
        **clean_environ(), "CHECKOUT_MQTT_USERNAME": "checkout",
        "CHECKOUT_MQTT_PASSWORD": PASSWORDS["checkout"], "CHECKOUT_MQTT_CA": str(edge.ca),
        "CHECKOUT_CLIENT_ID": "checkout-tls-test",
    }  # fmt: skip
    listener = subprocess.Popen(
        [sys.executable, str(CHECKOUT / "examples" / "checkout_listener.py"), "localhost",
         str(edge.tls_port), "tills"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert listener.stdout is not None
        assert "listening on" in listener.stdout.readline()
        scan = Scan(
            scan_id="s-tls", station="lane-1", label="banana", display_name="Banana", plu="4011",
            confidence=0.9, model="produce", frame_id="f", alternatives=[],
        )  # fmt: skip
        assert publishers["classifier"].try_publish(T.scan, scan.to_json()) == ACCEPTED
        assert listener.stdout.readline().strip() == "lane-1: Banana - PLU 4011 (90%)"
    finally:
        listener.terminate()
        listener.wait(10)


def test_a_whole_lane_works_under_the_acl_each_node_as_its_user(
    edge, start_node, photo_dir, tmp_path, scale
):
    """The ACL against the nodes' real traffic, not a list of it: a banana goes from camera to
    record and speech, with every node logged in as its own user."""
    station = "lane-acl"
    lane = Topics(station)
    # the wire format, on purpose
    hass = Bus(edge.port, [f"scantalk/{station}/#", "homeassistant/#"],
               login=edge.login("homeassistant", PASSWORDS["homeassistant"]))  # fmt: skip
    try:
        for node in ("bridge", "voice", "classifier"):
            start_node(node, voice_env(edge, tmp_path, station, SCANTALK_MQTT_USERNAME=node,
                                       SCANTALK_MQTT_PASSWORD=PASSWORDS[node],
                                       SCANTALK_STATS_INTERVAL="1"))  # fmt: skip
        start_node("scale", voice_env(edge, tmp_path, station, SCANTALK_MQTT_USERNAME="scale",
                                      SCANTALK_MQTT_PASSWORD=PASSWORDS["scale"],
                                      SCANTALK_STATS_INTERVAL="1",
                                      SCANTALK_SCALE_PORT=str(scale.link)))  # fmt: skip
        for node in (NodeName.BRIDGE, NodeName.VOICE, NodeName.CLASSIFIER, NodeName.SCALE):
            hass.wait_for(lane.status(node), lambda h: h.payload == ONLINE)
        scale.kg = 1.234  # the banana lies on the scale
        hass.wait_for(lane.weight, lambda h: h.json()["weight_kg"] == 1.234)
        start_node("camera", voice_env(
            edge, tmp_path, station, SCANTALK_MQTT_USERNAME="camera",
            SCANTALK_MQTT_PASSWORD=PASSWORDS["camera"], SCANTALK_STATS_INTERVAL="1",
            SCANTALK_CAMERA_SOURCE=str(photo_dir("fruit/banana.png")),
            SCANTALK_CAMERA_FPS="20", SCANTALK_CAMERA_DWELL="600", SCANTALK_CAMERA_GATE="no",
        ))  # fmt: skip
        (scan,) = hass.wait_for(lane.scan, timeout=60)
        scan_id = scan.json()["scan_id"]
        hass.wait_for(lane.spoken, lambda h: h.json()["scan_id"] == scan_id)  # voice
        hass.wait_for(lane.snapshot)  # the camera read the scan
        hass.wait_for(  # the bridge read the scan, stored it and said so
            lane.inventory_ack,
            lambda h: h.json()["scan_id"] == scan_id and h.json()["status"] == "delivered",
        )
        for node in NodeName:
            hass.wait_for(lane.stats(node))
        hass.wait_for(lane.classifier_config_state)
        hass.wait_for(
            "homeassistant/+/lane-acl/+/config", count=len(discovery(station, "homeassistant"))
        )
        # Home Assistant's own commands: the repeat button and the threshold slider.
        hass.publish(lane.repeat, b"repeat")
        hass.wait_for(lane.spoken, lambda h: h.json()["scan_id"] == scan_id, count=2)
        hass.publish(
            lane.classifier_config, b'{"schema": "scantalk.classifier-config/1", "threshold": 0.9}'
        )
        hass.wait_for(lane.classifier_config_state, lambda h: h.json()["threshold"] == 0.9)
    finally:
        hass.close()
