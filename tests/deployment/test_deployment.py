"""The IoT Edge deployment: the template, the manifests `scantalk manifest` makes from it, the
plain-Docker compose file and `.env.example`, checked against IoT Edge's published schemas
(offline) and against the code they configure. No Docker engine runs here."""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dotenv import dotenv_values
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from bridge.destinations import OUTPUT
from bridge.twin import LaneTwin
from scantalk.commands import manifest as manifest_command
from scantalk.commands.broker_users import USERS, password_variable
from scantalk.commands.stack import START_ORDER
from scantalk.contract import ClassifierConfig, NodeName, Topics
from scantalk.processes import die_with_parent, stop_process
from scantalk.registry import nodes
from testbench import CHECKOUT, wheel_env
from testbench.bus import Bus
from testbench.edge import EdgeBroker, make_secrets
from testbench.environ import clean_environ

TEMPLATE = CHECKOUT / "deployment.template.json"
SCHEMAS = CHECKOUT / "testbench" / "iotedge_schemas"
SCHEMA_URL = "https://json.schemastore.org/azure-iot-{}.json"
BROKER = "mosquitto"
NODE_MODULES = {str(node): f"{node}_node" if node != "bridge" else "bridge" for node in START_ORDER}
VERSION = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]["version"]
SERVER = "ScanTalkTest.azurecr.io"  # upper case: images name the repository in lower case
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
# What iotedgedev reads from the environment: none of a developer's may leak into a test.
IOTEDGEDEV_VARIABLES = (
    "CONTAINER_", "MODULES_PATH", "DEFAULT_PLATFORM", "CONFIG_OUTPUT_DIR", "DEPLOYMENT_CONFIG",
    "DOTENV_FILE",
)  # fmt: skip


def template() -> dict[str, Any]:
    return json.loads(TEMPLATE.read_text())


def desired(document: dict[str, Any], module: str = "$edgeAgent") -> dict[str, Any]:
    return document["modulesContent"][module]["properties.desired"]


def validator(schema: str) -> jsonschema.Draft4Validator:
    """IoT Edge's schema `schema`, its `$ref`s to the others resolved from the saved copies."""
    resources = [
        Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT4)
        for path in SCHEMAS.glob("*.json")
    ]
    registry: Registry = Registry().with_resources((r.id(), r) for r in resources)
    return jsonschema.Draft4Validator(
        registry.contents(SCHEMA_URL.format(schema)), registry=registry
    )


def lane_env(**changes: str | None) -> dict[str, str]:
    """.env.example with its blanks filled as a deployer would (throwaway secrets), then
    `changes`; None removes a variable."""
    values = {k: v or "" for k, v in dotenv_values(CHECKOUT / ".env.example").items()}
    values |= {password_variable(user): secrets.token_urlsafe(16) for user in USERS}
    values |= {
        "CONTAINER_REGISTRY_SERVER": SERVER,
        "CONTAINER_REGISTRY_USERNAME": "scantalktest",
        "CONTAINER_REGISTRY_PASSWORD": secrets.token_urlsafe(16),
        "SCANTALK_STATION": "lane-7",
        "SCANTALK_STORE": "store-3",
        "SCANTALK_TIMEZONE": "Europe/Berlin",
        "SCANTALK_CAMERA_SOURCE": "rtsp://lane-7-camera.local/stream",  # no device to map
        "SCANTALK_SCALE_PORT": "socket://lane-7-scale.local:4001",  # a scale, no device to map
    }
    for name, value in changes.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    return values


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def environ() -> dict[str, str]:
    return {k: v for k, v in clean_environ().items() if not k.startswith(IOTEDGEDEV_VARIABLES)}


def scantalk_manifest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scantalk", "manifest", "--template", str(TEMPLATE), *args],
        cwd=cwd,
        env=environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def build(**changes: str | None) -> dict[str, Any]:
    return manifest_command.build(TEMPLATE, "arm64v8", lane_env(**changes))


def create_options(settings: dict[str, Any]) -> dict[str, Any]:
    """A module's createOptions, its chunks joined, after checking IoT Edge's rule: at most 8
    fields of at most 512 characters, createOptions then createOptions01 … with no gap."""
    names = sorted(k for k in settings if k.startswith("createOptions"))
    assert names == ["createOptions"] + [f"createOptions{i:02d}" for i in range(1, len(names))]
    assert len(names) <= 8
    assert all(isinstance(settings[n], str) and len(settings[n]) <= 512 for n in names)
    options: dict[str, Any] = json.loads("".join(settings[n] for n in names))
    return options


def all_modules(document: dict[str, Any]) -> dict[str, Any]:
    agent = desired(document)
    return {**agent["systemModules"], **agent["modules"]}


# --- the template -------------------------------------------------------------------------


def test_template_validates_against_the_template_schema_4_0():
    validator("edge-deployment-template-4.0").validate(template())


def test_template_names_every_module_and_routes_the_bridge_output_upstream():
    assert set(desired(template())["modules"]) == {BROKER, *NODE_MODULES.values()}
    hub = desired(template(), "$edgeHub")
    routes = [r["route"] for r in hub["routes"].values()]
    # The output the bridge really sends to, read from its code.
    assert f"FROM /messages/modules/bridge/outputs/{OUTPUT} INTO $upstream" in routes
    assert all({"priority", "timeToLiveSecs"} <= set(r) for r in hub["routes"].values())
    assert hub["storeAndForwardConfiguration"]["timeToLiveSecs"] > 0


def test_template_nodes_share_the_settings_names_and_log_in_to_the_local_broker():
    modules = desired(template())["modules"]
    registered = nodes()
    for node, module in NODE_MODULES.items():
        settings = registered[node].settings
        known = {settings.env_name(f.name) for f in dataclasses.fields(settings)}
        env = {k: v["value"] for k, v in modules[module]["env"].items()}
        assert set(env) <= known, module
        assert env["SCANTALK_MQTT_HOST"] == BROKER, module
        assert env["SCANTALK_MQTT_USERNAME"] == node, module  # a user of mosquitto/acl
        assert env["SCANTALK_MQTT_PASSWORD"] == f"${{{password_variable(node)}}}", module
        assert env["SCANTALK_STATION"] == "${SCANTALK_STATION}", module
        assert env["SCANTALK_DATA_DIR"] == "/data", module
        assert "Devices" not in json.dumps(modules[module]["settings"]), module


def test_template_starts_the_broker_first_and_the_camera_last_as_scantalk_up_does():
    agent = desired(template())
    modules = agent["modules"]
    assert all({"restartPolicy", "startupOrder"} <= set(m) for m in modules.values())
    assert {"restartPolicy", "startupOrder"} <= set(agent["systemModules"]["edgeHub"])
    order = [modules[NODE_MODULES[node]]["startupOrder"] for node in START_ORDER]
    assert modules[BROKER]["startupOrder"] < min(order)
    assert order == sorted(order)
    assert order[-1] > order[-2]  # the camera strictly after every consumer


def test_template_keeps_state_on_the_host():
    agent = desired(template())
    for name, variable in (("edgeHub", "EDGEHUB"), ("edgeAgent", "EDGEAGENT")):
        system = agent["systemModules"][name]
        assert system["settings"]["createOptions"]["HostConfig"]["Binds"] == [
            f"${{SCANTALK_{variable}_STORAGE}}:/iotedge/storage"
        ]
        assert system["env"]["StorageFolder"]["value"] == "/iotedge/storage"
    broker = agent["modules"][BROKER]["settings"]["createOptions"]["HostConfig"]
    assert "PortBindings" not in broker  # the module network is enough; `manifest` may add it
    assert "${SCANTALK_BROKER_SECRETS}:/mosquitto/secrets:ro" in broker["Binds"]
    assert any(b.endswith(":/mosquitto/data") for b in broker["Binds"])
    for module in NODE_MODULES.values():
        binds = agent["modules"][module]["settings"]["createOptions"]["HostConfig"]["Binds"]
        assert binds == ["${SCANTALK_DATA_HOST_DIR}:/data"], module


def test_the_template_gives_the_lanes_twin_its_sections_and_leaves_the_env_in_force():
    desired = template()["modulesContent"]["bridge"]["properties.desired"]
    changes = LaneTwin.changes({**desired, "$version": 1}, 1)  # refuses what it can't take
    change = changes["classifier"]
    assert isinstance(change, ClassifierConfig)
    # No value: `SCANTALK_THRESHOLD` and the rest from .env stand until the chain sets one.
    assert (change.threshold, change.language, change.request_id) == (None, None, "twin-1")


def test_every_container_rotates_its_log_on_edge_and_in_compose():
    agent = desired(template())
    for name, module in (*agent["systemModules"].items(), *agent["modules"].items()):
        log = module["settings"]["createOptions"]["HostConfig"]["LogConfig"]
        assert log == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}, name
    for name, service in compose()["services"].items():
        assert service["logging"]["options"] == {"max-size": "10m", "max-file": "3"}, name


def test_template_holds_no_secrets_only_variables():
    text = TEMPLATE.read_text()
    assert "SharedAccessKey" not in text
    credentials = desired(template())["runtime"]["settings"]["registryCredentials"]["scantalk"]
    for value in credentials.values():
        assert re.fullmatch(r"\$\{[A-Z_]+\}", value)
    for module in desired(template())["modules"].values():
        password = module.get("env", {}).get("SCANTALK_MQTT_PASSWORD", {"value": "${X}"})
        assert re.fullmatch(r"\$\{[A-Z_]+\}", password["value"])


# --- scantalk manifest --------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["amd64", "arm64v8"])
def test_manifest_validates_against_the_deployment_schemas(tmp_path: Path, platform: str):
    write_env(tmp_path / ".env", lane_env())
    done = scantalk_manifest(tmp_path, "--platform", platform)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "config" / f"deployment.{platform}.json"
    assert path.stat().st_mode & 0o077 == 0  # it holds passwords
    document = json.loads(path.read_text())
    content = document["modulesContent"]
    validator("edge-deployment-2.0").validate(document)
    validator("edgeagent-deployment-1.1").validate({"$edgeAgent": content["$edgeAgent"]})
    validator("edgehub-deployment-1.2").validate({"$edgeHub": content["$edgeHub"]})
    assert "${" not in path.read_text()
    assert "$schema-template" not in document
    for name, module in desired(document)["modules"].items():
        image = f"{SERVER.lower()}/scantalk-{name.removesuffix('_node')}:{VERSION}-{platform}"
        assert module["settings"]["image"] == image
    for name, module in all_modules(document).items():
        assert isinstance(create_options(module["settings"]), dict), name


def test_manifest_fills_each_node_with_its_own_broker_password():
    values = lane_env()
    modules = desired(manifest_command.build(TEMPLATE, "amd64", values))["modules"]
    for node, module in NODE_MODULES.items():
        env = modules[module]["env"]
        assert env["SCANTALK_MQTT_PASSWORD"]["value"] == values[password_variable(node)]
        assert env["SCANTALK_STATION"]["value"] == "lane-7"


def test_manifest_refuses_an_unfilled_variable_and_says_where_it_is_used(tmp_path: Path):
    write_env(tmp_path / "lane.env", lane_env(SCANTALK_BROKER_PASSWORD_VOICE=None))
    done = scantalk_manifest(tmp_path, "--env", "lane.env", "--platform", "amd64")
    assert done.returncode == 2
    assert "${SCANTALK_BROKER_PASSWORD_VOICE}" in done.stderr
    assert "voice_node/env/SCANTALK_MQTT_PASSWORD" in done.stderr
    assert not (tmp_path / "config").exists()


@pytest.mark.parametrize(
    "name",
    ["CONTAINER_REGISTRY_SERVER", "SCANTALK_DATA_HOST_DIR", "SCANTALK_BROKER_PASSWORD_CAMERA"],
)
def test_manifest_refuses_an_empty_image_bind_or_password(name: str):
    with pytest.raises(manifest_command.Refused, match=re.escape(f"${{{name}}}")):
        build(**{name: ""})


def test_manifest_takes_an_empty_node_setting_as_its_default():
    env = desired(build(SCANTALK_SPEECH_KEY=""))["modules"]["voice_node"]["env"]
    assert env["SCANTALK_SPEECH_KEY"]["value"] == ""


def test_manifest_refuses_a_setting_the_node_would_refuse_at_start():
    with pytest.raises(manifest_command.Refused, match=re.escape("SCANTALK_THRESHOLD='0.3'")):
        build(SCANTALK_THRESHOLD="0.3")


def test_manifest_refuses_a_missing_module_folder():
    with pytest.raises(manifest_command.Refused, match=re.escape("${MODULES.camera_node}")):
        build(MODULES_PATH="no-such-folder")


def test_manifest_publishes_no_port_and_maps_no_device_unless_asked():
    modules = desired(build())["modules"]
    for name, module in modules.items():
        host = create_options(module["settings"]).get("HostConfig", {})
        assert not {"PortBindings", "Devices", "GroupAdd"} & set(host), name


def test_manifest_publishes_the_broker_on_the_host_when_asked():
    broker = desired(build(SCANTALK_BROKER_HOST_PORT="1884", SCANTALK_BROKER_TLS_PORT="8883"))
    host = create_options(broker["modules"][BROKER]["settings"])["HostConfig"]
    assert host["PortBindings"] == {
        "1883/tcp": [{"HostIp": "127.0.0.1", "HostPort": "1884"}],
        "8883/tcp": [{"HostPort": "8883"}],
    }
    with pytest.raises(manifest_command.Refused, match="SCANTALK_BROKER_HOST_PORT"):
        build(SCANTALK_BROKER_HOST_PORT="mqtt")


@pytest.mark.parametrize("source", ["demo", "photos/", "/home/me/shelf.mp4"])
def test_manifest_refuses_a_camera_source_the_image_cannot_open(source: str):
    with pytest.raises(manifest_command.Refused, match="the camera image opens a device"):
        build(SCANTALK_CAMERA_SOURCE=source)


@pytest.mark.parametrize(
    ("source", "device"), [("2", "/dev/video2"), ("/dev/video1", "/dev/video1")]
)
def test_manifest_maps_the_camera_device_and_the_sound_card_when_asked(source: str, device: str):
    modules = desired(build(SCANTALK_CAMERA_SOURCE=source, SCANTALK_SOUND="yes"))["modules"]
    camera = create_options(modules["camera_node"]["settings"])["HostConfig"]
    assert camera["Devices"] == [
        {"PathOnHost": device, "PathInContainer": device, "CgroupPermissions": "rwm"}
    ]
    assert camera["GroupAdd"] == ["video"]
    voice = create_options(modules["voice_node"]["settings"])["HostConfig"]
    assert [d["PathOnHost"] for d in voice["Devices"]] == ["/dev/snd"]
    assert voice["GroupAdd"] == ["audio"]
    assert camera["Binds"] == voice["Binds"]  # added to what the template says, not instead


def test_manifest_runs_the_scale_module_only_with_a_port_and_maps_its_device():
    assert "scale_node" not in desired(build(SCANTALK_SCALE_PORT=""))["modules"]
    modules = desired(build(SCANTALK_SCALE_PORT="/dev/ttyUSB0"))["modules"]
    scale = create_options(modules["scale_node"]["settings"])["HostConfig"]
    assert [d["PathOnHost"] for d in scale["Devices"]] == ["/dev/ttyUSB0"]
    assert scale["GroupAdd"] == ["dialout"]
    assert modules["scale_node"]["env"]["SCANTALK_SCALE_PORT"] == {"value": "/dev/ttyUSB0"}


def long_binds_template(tmp_path: Path, count: int) -> Path:
    """The template with `count` extra binds on the camera, for createOptions of any size."""
    document = template()
    camera = desired(document)["modules"]["camera_node"]["settings"]["createOptions"]
    camera["HostConfig"]["Binds"] += [f"/srv/extra-{i:04d}:/extra-{i:04d}" for i in range(count)]
    path = tmp_path / "deployment.template.json"
    path.write_text(json.dumps(document))
    return path


def test_manifest_cuts_long_create_options_into_fields_of_512(tmp_path: Path):
    values = lane_env(MODULES_PATH=str(CHECKOUT))
    path = long_binds_template(tmp_path, 40)
    camera = desired(manifest_command.build(path, "amd64", values))["modules"]["camera_node"]
    assert "createOptions02" in camera["settings"]
    assert len(create_options(camera["settings"])["HostConfig"]["Binds"]) == 41


def test_manifest_refuses_create_options_beyond_4_kb(tmp_path: Path):
    values = lane_env(MODULES_PATH=str(CHECKOUT))
    with pytest.raises(manifest_command.Refused, match="createOptions of camera_node"):
        manifest_command.build(long_binds_template(tmp_path, 200), "amd64", values)


IOTEDGEDEV = CHECKOUT / ".venv-iotedgedev" / "bin" / "iotedgedev"
"""Microsoft's iotedgedev, in a venv of its own (script/setup): in .venv it would downgrade
azure-core."""


def test_manifest_is_what_iotedgedev_genconfig_makes(tmp_path: Path):
    """`iotedgedev solution genconfig` and `scantalk manifest` make the same manifest when no
    device or port is asked for."""
    assert IOTEDGEDEV.exists(), "script/setup installs iotedgedev into .venv-iotedgedev"
    write_env(tmp_path / ".env", lane_env())
    # No telemetry prompt or upload: iotedgedev reads this from ~/.iotedgedev.
    (tmp_path / ".iotedgedev").mkdir()
    (tmp_path / ".iotedgedev" / "setting.ini").write_text(
        "[DEFAULT]\nfirsttime = no\ncollect_telemetry = no\n"
    )
    theirs = tmp_path / "genconfig"
    subprocess.run(
        [str(IOTEDGEDEV), "solution", "genconfig", "-f", str(TEMPLATE), "-P", "arm64v8"],
        cwd=tmp_path,
        env={**environ(), "HOME": str(tmp_path), "CONFIG_OUTPUT_DIR": str(theirs)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
        timeout=120,
    )
    assert scantalk_manifest(tmp_path, "--platform", "arm64v8").returncode == 0
    ours = json.loads((tmp_path / "config" / "deployment.arm64v8.json").read_text())
    assert ours == json.loads((theirs / "deployment.arm64v8.json").read_text())


# --- docker-compose.yml and .env.example --------------------------------------------------


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((CHECKOUT / "docker-compose.yml").read_text())
    return document


def compose_variable(text: str) -> str | None:
    """The variable of a compose value that is one `${NAME[:-default|:?error]}`, else None."""
    match = re.fullmatch(r"\$\{([A-Z0-9_]+)(?::[-?][^}]*)?\}", text)
    return match.group(1) if match else None


def target(bind: str) -> str:
    """What follows a bind's source (which may be a `${…}` holding a colon): path and mode."""
    match = re.fullmatch(r"(\$\{[^}]*\}|[^:]+):(.+)", bind)
    assert match, bind
    return match.group(2)


def test_compose_runs_the_same_images_settings_and_folders_as_the_manifest():
    services, modules = compose()["services"], desired(template())["modules"]
    assert set(services) == {BROKER, *NODE_MODULES}
    for name, service in services.items():
        module = modules[NODE_MODULES.get(name, name)]
        image = re.fullmatch(r"(\$\{[^}]+\})/scantalk-([a-z]+):(\$\{[^}]+\})-(\$\{[^}]+\})",
                             service["image"])  # fmt: skip
        assert image, name
        assert image.group(2) == name
        assert [compose_variable(image.group(i)) for i in (1, 3, 4)] == [
            "CONTAINER_REGISTRY_SERVER", "SCANTALK_VERSION", "DEFAULT_PLATFORM"
        ]  # fmt: skip
        assert service["restart"] == "unless-stopped"
        binds = module["settings"]["createOptions"]["HostConfig"]["Binds"]
        assert [target(v) for v in service["volumes"]] == [target(b) for b in binds], name
        env = service.get("environment", {})
        assert set(env) == set(module.get("env", {})), name
        for key, value in module.get("env", {}).items():
            wanted = PLACEHOLDER.fullmatch(value["value"])
            got = compose_variable(env[key]) if wanted else env[key]
            assert got == (wanted.group(1) if wanted else value["value"]), (name, key)


def test_compose_starts_in_the_manifest_order_and_keeps_plain_mqtt_on_the_loopback():
    services, modules = compose()["services"], desired(template())["modules"]

    def order(service: str) -> int:
        return int(modules[NODE_MODULES.get(service, service)]["startupOrder"])

    for name, service in services.items():
        for dependency in service.get("depends_on", []):
            assert order(dependency) < order(name), (name, dependency)
    assert set(services["camera"]["depends_on"]) == {"classifier"}
    plain = [p for p in services[BROKER]["ports"] if p.endswith(":1883")]
    assert plain
    assert all(p.startswith("127.0.0.1:") for p in plain)
    # No edgeHub and no connection string: the bridge keeps its records (local mode).
    assert "SCANTALK_IOTHUB_CONNECTION_STRING" not in services["bridge"]["environment"]


def test_env_example_names_every_variable_and_holds_no_secret():
    example = {k: v or "" for k, v in dotenv_values(CHECKOUT / ".env.example").items()}
    used = {m for m in PLACEHOLDER.findall(TEMPLATE.read_text()) if not m.startswith("MODULES.")}
    used |= set(re.findall(r"\$\{([A-Z0-9_]+)", (CHECKOUT / "docker-compose.yml").read_text()))
    assert used <= set(example), sorted(used - set(example))
    assert {password_variable(user) for user in USERS} <= set(example)
    assert example["MODULES_PATH"] == "."
    assert example["DEFAULT_PLATFORM"] == "arm64v8"
    assert example["CONFIG_OUTPUT_DIR"] == "config"
    assert example["SCANTALK_BROKER_HOST_PORT"] == ""
    for name, value in example.items():
        if re.search(r"PASSWORD|KEY|CONNECTION_STRING|USERNAME", name):
            assert value == "", name


# --- secrets ------------------------------------------------------------------------------

SECRET_PATTERNS = {
    "IoT Hub key": re.compile(rb"SharedAccessKey=[A-Za-z0-9+/]{16,}"),
    "storage account key": re.compile(rb"AccountKey=[A-Za-z0-9+/]{16,}"),
    "private key": re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "32-hex key": re.compile(
        rb"(?i)(key|secret|token|password)[\w\"']*\s*[:=]\s*[\"']?[0-9a-f]{32}(?![0-9a-f])"
    ),
    "password": re.compile(rb"(?i)\"password\"\s*:\s*\"(?!\$\{)[^\"]+\""),
}
SECRET_ALLOWLIST: frozenset[str] = frozenset()
"""Files allowed to match: test fixtures that generate throwaway keys at run time. None."""


def secrets_in(text: bytes) -> list[str]:
    return [kind for kind, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


def test_secret_patterns_find_what_they_are_for():
    # Made here, at run time, so that no key-shaped text is in a committed file.
    key = secrets.token_hex(16).encode()
    base64 = secrets.token_urlsafe(32).replace("-", "+").replace("_", "/").encode()
    found = secrets_in(
        b"HostName=h;DeviceId=d;SharedAccess" + b"Key=" + base64
        + b"\nAccountName=a;Account" + b"Key=" + base64
        + b"\n-----BEGIN RSA PRIVATE" + b" KEY-----\nSCANTALK_SPEECH_KEY=" + key
        + b'\n"pass' + b'word": "' + key + b'"'
    )  # fmt: skip
    assert set(found) == set(SECRET_PATTERNS)
    assert not secrets_in(b'"password": "${CONTAINER_REGISTRY_PASSWORD}"\nSharedAccessKey=...')


def test_no_file_in_git_holds_a_key_or_a_connection_string():
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=CHECKOUT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    found = {}
    for name in (n.decode() for n in listed if n and n.decode() not in SECRET_ALLOWLIST):
        path = CHECKOUT / name
        if path.is_file() and (kinds := secrets_in(path.read_bytes())):
            found[name] = kinds
    assert not found


@pytest.mark.parametrize("module", ["bridge", "classifier_node"])
def test_a_module_installed_as_its_image_does_starts_on_the_manifests_env_and_logs_in(
    module: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
):
    """What the image would do, without Docker: the wheel with the node's extra only, in a venv
    outside the checkout, run with the env the generated manifest gives the module, against
    Mosquitto with edge.conf and the password file made from the same `.env`."""
    values = lane_env()
    env_file = write_env(tmp_path / ".env", values)
    secrets_dir = make_secrets(tmp_path / "secrets")
    subprocess.run(
        [sys.executable, "-m", "scantalk", "broker", "passwd", "--env", str(env_file),
         "--output", str(secrets_dir / "passwords")],
        cwd=tmp_path, env=environ(), check=True, capture_output=True,
    )  # fmt: skip
    made = scantalk_manifest(
        tmp_path, "--platform", "amd64", "--env", str(env_file), "--output", "deployment.json"
    )
    assert made.returncode == 0, made.stderr
    agent = json.loads((tmp_path / "deployment.json").read_text())["modulesContent"]["$edgeAgent"]
    module_env = {
        k: v["value"] for k, v in agent["properties.desired"]["modules"][module]["env"].items()
    }
    node = module.removesuffix("_node")
    extra = wheel_env.install(node, wheel_env.build(tmp_path_factory.mktemp("wheel")),
                              tmp_path_factory.mktemp("venv") / node)  # fmt: skip
    with EdgeBroker(tmp_path / "broker", secrets_dir) as broker:
        # Only what a container has otherwise: the module network's broker and the /data bind.
        run_env = {
            **module_env, "SCANTALK_MQTT_HOST": "127.0.0.1", "SCANTALK_MQTT_PORT": str(broker.port),
            "SCANTALK_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        }  # fmt: skip
        checkout = broker.login("checkout", values[password_variable("checkout")])
        listener = Bus(broker.port, ["scantalk/#"], login=checkout)  # the wire format, on purpose
        # From an empty folder: a setting the module env lacks must not come from the test's .env.
        (empty := tmp_path / "run").mkdir()
        with (tmp_path / f"{node}.log").open("wb") as log:
            process = subprocess.Popen(
                [extra, "node", node], env=run_env, cwd=empty, stdout=log, stderr=log,
                preexec_fn=die_with_parent,
            )  # fmt: skip
        try:
            listener.wait_for(
                Topics(values["SCANTALK_STATION"]).status(NodeName(node)),
                lambda h: h.payload == b"online",
                timeout=90,
            )
        finally:
            stop_process(process)
            listener.close()
    assert module_env["SCANTALK_MQTT_USERNAME"] == node


def test_the_example_settings_name_the_version_the_modules_are_built_as():
    assert dotenv_values(CHECKOUT / ".env.example")["SCANTALK_VERSION"] == VERSION


def test_the_runtime_is_iot_edge_1_6_lts_with_the_schemas_it_reads():
    """1.5 LTS was serviced until 10 November 2026; 1.6 LTS until 14 November 2028. edgeAgent
    1.6 reads schema versions up to 1.1, edgeHub 1.0 to 1.3 (Azure/iotedge)."""
    agent, hub = desired(template()), desired(template(), "$edgeHub")
    images = {name: module["settings"]["image"] for name, module in agent["systemModules"].items()}
    assert images == {
        "edgeAgent": "mcr.microsoft.com/azureiotedge-agent:1.6",
        "edgeHub": "mcr.microsoft.com/azureiotedge-hub:1.6",
    }
    assert (agent["schemaVersion"], hub["schemaVersion"]) == ("1.1", "1.2")
    assert "1.6 LTS" in (CHECKOUT / "README.md").read_text()
