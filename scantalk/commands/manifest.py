"""`scantalk manifest`: a lane's IoT Edge deployment manifest for one platform, every variable
filled, ready for `az iot edge set-modules`.

It fills `deployment.template.json` by the rules of `iotedgedev solution genconfig` (3.3.9), so
the two give the same manifest for the same `.env`:

- `${MODULES.<folder>}`, as a module's whole `image`, is the image of that folder under
  `$MODULES_PATH` (beside the template; `modules` unless set) holding a `module.json`:
  `<repository, lower case>:<version>[-$CONTAINER_TAG]-<platform>`;
- every other `${VAR}`, in the template and in module.json, comes from the environment, else
  the env file (as `load_dotenv`, which does not override the environment);
- `createOptions` objects become minified JSON strings, cut into chunks of 512 characters
  (`createOptions`, `createOptions01` … `createOptions07`): the edge agent's twin holds at most
  512 in one value, and IoT Edge's design (and iotedgedev) at most 8 chunks, 4 KB;
- `$schema-template` is dropped; the output is `$CONFIG_OUTPUT_DIR/deployment.<platform>.json`.

Where genconfig leaves an unknown `${VAR}` in the manifest as text and succeeds, this refuses
(exit 2) and names each variable and where it is used, so no device is handed a literal
`${SCANTALK_BROKER_PASSWORD_CAMERA}`. It also refuses what a node would refuse at start (a bad
setting value) and createOptions beyond 4 KB. And it adds what depends on values, which a text
template cannot say: the broker's host ports only when asked, the camera's device only when
its source is one, the sound card only with `SCANTALK_SOUND=yes`, and the scale module, with its
serial device, only with `SCANTALK_SCALE_PORT`.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scantalk.registry import Command, nodes
from scantalk.settings import YES_NO, CameraSource, Number, SettingError, Settings, SourceKind, Text

PLATFORMS = ("amd64", "arm64v8")
CHUNK = 512
"""Characters in one createOptions field (the twin's value limit, in bytes: our JSON is ASCII)."""
MAX_CHUNKS = 8
"""createOptions and createOptions01 … 07, as iotedgedev and IoT Edge's design note allow."""
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
MUST_NOT_BE_EMPTY = frozenset({"SCANTALK_MQTT_PASSWORD"})
"""Module env settings that may not be empty: the edge broker lets no anonymous client in."""
BROKER, CAMERA, VOICE, SCALE = "mosquitto", "camera_node", "voice_node", "scale_node"
IP_ADDRESS = Text(ipaddress.ip_address, "an IP address, e.g. 127.0.0.1")


class Refused(Exception):
    """What keeps the manifest from working on a device, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclasses.dataclass
class _Filler:
    """Fills `${VAR}` in the strings of JSON documents, noting each variable left unfilled and
    where (a variable may appear in many places). Names in `later` are left as they are: the
    module images, which replace a whole `image` value afterwards, as in genconfig."""

    values: Mapping[str, str]
    later: frozenset[str] = frozenset()
    unfilled: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    def fill(self, node: Any, path: tuple[str, ...] = ()) -> Any:
        if isinstance(node, dict):
            return {key: self.fill(value, (*path, key)) for key, value in node.items()}
        if isinstance(node, list):
            return [self.fill(value, (*path, str(i))) for i, value in enumerate(node)]
        if isinstance(node, str):
            return PLACEHOLDER.sub(lambda match: self._value(match, path), node)
        return node

    def _value(self, match: re.Match[str], path: tuple[str, ...]) -> str:
        name, value = match.group(1), self.values.get(match.group(1))
        if name in self.later:
            return match.group(0)
        if value is None or (not value.strip() and not _may_be_empty(path)):
            where = "/".join(p for p in path if p not in ("modulesContent", "properties.desired"))
            self.unfilled.setdefault(name, []).append(where)
            return match.group(0)
        return value


def _may_be_empty(path: tuple[str, ...]) -> bool:
    """Empty is a node setting's default, as for an empty variable; an empty image, bind or
    credential is no value at all."""
    return (
        len(path) >= 4
        and "modules" in path
        and path[-3] == "env"
        and path[-1] == "value"
        and path[-2] not in MUST_NOT_BE_EMPTY
    )


def variables(env_file: Path | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The env file's variables under the environment's, as genconfig sees them."""
    from dotenv import dotenv_values

    found = dotenv_values(env_file) if env_file is not None and env_file.is_file() else {}
    return {**{k: v for k, v in found.items() if v is not None}, **environ}


def module_images(folder: Path, platform: str, filler: _Filler) -> dict[str, str]:
    """`MODULES.<name>` and `MODULES.<name>.<platform>` → image, for every module folder in
    `folder`, each module.json's variables filled by `filler`."""
    images, values = {}, filler.values
    tag = f"-{values['CONTAINER_TAG']}" if values.get("CONTAINER_TAG") else ""
    for spec in sorted(folder.glob("*/module.json")):
        name = spec.parent.name
        image = filler.fill(json.loads(spec.read_text()), (f"{name}/module.json",))["image"]
        repository, version = image["repository"].lower(), image["tag"]["version"]
        for each in image["tag"]["platforms"]:
            images[f"MODULES.{name}.{each}"] = f"{repository}:{version}{tag}-{each}"
            if each == platform:
                images[f"MODULES.{name}"] = images[f"MODULES.{name}.{each}"]
    return images


def build(template: Path, platform: str, values: Mapping[str, str]) -> dict[str, Any]:
    """The manifest for `platform`: raises Refused, listing every problem found."""
    filler = _Filler(values)
    folder = template.parent / values.get("MODULES_PATH", "modules")
    images = module_images(folder, platform, filler)
    filler.later = frozenset(images)
    document = filler.fill(json.loads(template.read_text()))
    desired = document["modulesContent"]["$edgeAgent"]["properties.desired"]
    for module in desired["modules"].values():
        image = PLACEHOLDER.fullmatch(module["settings"]["image"])
        if image and image.group(1) in images:
            module["settings"]["image"] = images[image.group(1)]
    problems = _unfilled(filler) + [
        f"${{{name}}} is an image: only a module's whole `image` may be it"
        for name in sorted(set(PLACEHOLDER.findall(json.dumps(document))) & filler.later)
    ]
    try:
        _add_devices(desired["modules"], values)
    except SettingError as exc:
        problems.append(str(exc))
    problems += _bad_settings(desired["modules"])
    document.pop("$schema-template", None)
    for name, module in {**desired["systemModules"], **desired["modules"]}.items():
        problems += _chunk_create_options(name, module["settings"])
    if problems:
        raise Refused(problems)
    return document


def _unfilled(filler: _Filler) -> list[str]:
    problems = []
    for name, places in filler.unfilled.items():
        if name.startswith("MODULES."):
            why = "no module folder with a module.json for this platform (MODULES_PATH?)"
        elif name in filler.values:
            why = "empty, which only a node's setting may be (its default)"
        else:
            why = "not set"
        problems.append(f"${{{name}}}: {why}; used in {', '.join(places)}")
    return problems


def _host_config(module: dict[str, Any]) -> dict[str, Any]:
    options = module["settings"].setdefault("createOptions", {})
    if isinstance(options, str):  # the template may already give a string, as genconfig takes
        options = module["settings"]["createOptions"] = json.loads(options or "{}")
    host: dict[str, Any] = options.setdefault("HostConfig", {})
    return host


def _device(host: dict[str, Any], path: str, group: str) -> None:
    # The nodes run as uid 1000 with their image's groups dropped (USER 1000:1000), so the
    # device's group (video, audio: named as in the image, the same GIDs as Debian's) is added.
    host.setdefault("Devices", []).append(
        {"PathOnHost": path, "PathInContainer": path, "CgroupPermissions": "rwm"}
    )
    host.setdefault("GroupAdd", []).append(group)


def _add_devices(modules: dict[str, Any], values: Mapping[str, str]) -> None:
    """Host ports and devices, each only where its variable asks for it."""
    if BROKER in modules:
        host = _host_config(modules[BROKER])
        # 1883 is plain MQTT: on the host's loopback unless said otherwise. 8883 is the TLS
        # listener for clients off the device (the checkout, Home Assistant): every interface.
        ip = values.get("SCANTALK_BROKER_HOST_IP", "").strip() or "127.0.0.1"
        _parse("SCANTALK_BROKER_HOST_IP", ip, IP_ADDRESS)
        for container, variable, binding in (
            ("1883/tcp", "SCANTALK_BROKER_HOST_PORT", {"HostIp": ip}),
            ("8883/tcp", "SCANTALK_BROKER_TLS_PORT", {}),
        ):
            if port := values.get(variable, "").strip():
                port = str(_parse(variable, port, Number(int, 1, 65535)))
                host.setdefault("PortBindings", {})[container] = [{**binding, "HostPort": port}]
    camera = CameraSource.parse(values.get("SCANTALK_CAMERA_SOURCE", ""))
    if CAMERA in modules and camera.device:
        _device(_host_config(modules[CAMERA]), camera.device, "video")
    port = values.get("SCANTALK_SCALE_PORT", "").strip()
    if SCALE in modules and not port:  # no scale: the lane runs on the camera alone
        del modules[SCALE]
    elif SCALE in modules and port.startswith("/dev/"):
        _device(_host_config(modules[SCALE]), port, "dialout")
    sound = values.get("SCANTALK_SOUND", "").strip() or "no"
    if VOICE in modules and _parse("SCANTALK_SOUND", sound, YES_NO):
        _device(_host_config(modules[VOICE]), "/dev/snd", "audio")


def _parse(variable: str, text: str, parse: Number | Text) -> Any:
    try:
        return parse(text)
    except ValueError as exc:
        raise SettingError(variable, text, parse.expected) from exc


def _bad_settings(modules: Mapping[str, Any]) -> list[str]:
    """Each node module's SCANTALK_* env, read by the node's own settings class, as it will be
    at start: an unknown name or a bad value is found here, not on the device."""
    problems, specs = [], {str(node): spec for node, spec in nodes().items()}
    for name, module in modules.items():
        spec = specs.get(name.removesuffix("_node"))
        if spec is None:
            continue
        env = {k: str(v["value"]) for k, v in module.get("env", {}).items()}
        known = {spec.settings.env_name(f.name) for f in dataclasses.fields(spec.settings)}
        problems += [
            f"{k} in {name}'s env is no setting of the {spec.name} node"
            for k in env
            if k.startswith("SCANTALK_") and k not in known
        ]
        try:  # a value still holding a ${VAR} is reported as unfilled already
            spec.settings.load(environ={k: v for k, v in env.items() if "${" not in v})
        except SettingError as exc:
            problems.append(f"{name}: {exc}")
    if CAMERA in modules:
        problems += _camera_source_problems(modules[CAMERA])
    return problems


def _camera_source_problems(camera: Mapping[str, Any]) -> list[str]:
    """What a camera image can open: a device, a stream, or a file or folder in its /data
    bind. It has no demo photos (Debian's tuxpaint stamps), and nothing else of the host."""
    source = str(camera.get("env", {}).get("SCANTALK_CAMERA_SOURCE", {}).get("value", "")).strip()
    parsed = CameraSource.parse(source)
    if not source or "${" in source or parsed.kind in (SourceKind.DEVICE, SourceKind.STREAM):
        return []
    if parsed.kind is SourceKind.PATH and source.startswith("/data/"):
        return []
    return [
        f"SCANTALK_CAMERA_SOURCE={source!r} in {CAMERA}'s env: the camera image opens a device "
        "(0, /dev/video0), a stream URL (rtsp://…) or a file or folder under /data, nothing else"
    ]


def _chunk_create_options(name: str, settings: dict[str, Any]) -> list[str]:
    if "createOptions" not in settings:
        return []
    options = settings["createOptions"]
    if not isinstance(options, str):
        options = json.dumps(options, separators=(",", ":"))
    chunks = [options[i : i + CHUNK] for i in range(0, len(options), CHUNK)] or [""]
    if len(chunks) > MAX_CHUNKS:
        return [
            f"createOptions of {name} is {len(options)} characters; IoT Edge takes at most "
            f"{CHUNK * MAX_CHUNKS} ({MAX_CHUNKS} fields of {CHUNK})"
        ]
    settings["createOptions"] = chunks[0]
    settings.update({f"createOptions{i:02d}": chunk for i, chunk in enumerate(chunks[1:], 1)})
    return []


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write the IoT Edge deployment manifest for a platform from deployment.template.json "
        "and the env file, by the rules of `iotedgedev solution genconfig`; refuse (exit 2) "
        "when a ${VARIABLE} is left unfilled, a setting is bad or createOptions is too long."
    )
    parser.add_argument(
        "--platform", choices=PLATFORMS, help="default: $DEFAULT_PLATFORM, else amd64"
    )
    parser.add_argument("--template", type=Path, default=Path("deployment.template.json"))
    parser.add_argument("--env", type=Path, default=Path(".env"), help="env file (default .env)")
    parser.add_argument(
        "--output", type=Path, help="default: $CONFIG_OUTPUT_DIR/deployment.<platform>.json"
    )


def run(args: argparse.Namespace, _settings: Settings) -> int:
    values = variables(args.env, os.environ)
    platform = args.platform or values.get("DEFAULT_PLATFORM") or "amd64"
    if platform not in PLATFORMS:
        print(f"scantalk manifest: DEFAULT_PLATFORM={platform!r}: one of {PLATFORMS}",
              file=sys.stderr)  # fmt: skip
        return 2
    name = args.template.name.removesuffix(".template.json").removesuffix(".json")
    output = args.output or Path(values.get("CONFIG_OUTPUT_DIR") or "config") / (
        f"{name}.{platform}.json"
    )
    try:
        manifest = build(args.template, platform, values)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"scantalk manifest: {exc}", file=sys.stderr)
        return 2
    except Refused as exc:
        print(f"scantalk manifest: {output} not written:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    output.parent.mkdir(parents=True, exist_ok=True)
    # It holds the registry and broker passwords: readable by its owner only.
    output.touch(mode=0o600)
    output.chmod(0o600)
    output.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {output}")
    return 0


COMMAND = Command(
    ("manifest",),
    "the IoT Edge deployment manifest for a platform, every variable filled",
    run,
    arguments,
)
