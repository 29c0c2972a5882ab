"""The IoT Edge module images, checked without Docker: their module.json as iotedgedev reads
it, their Dockerfiles as written and as hadolint judges them, and their install steps run for
real (the wheel, then a fresh venv per node with only that node's extra)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from testbench import CHECKOUT, wheel_env
from testbench.environ import clean_environ

NODES = {
    "camera_node": "camera",
    "classifier_node": "classifier",
    "voice_node": "voice",
    "bridge": "bridge",
    "scale_node": "scale",
}
"""Python module folder: the node it runs, which is also its extra and its image's name."""
LATER_IMPORTS = {"voice": ("azure.cognitiveservices.speech",), "bridge": ("azure.iot.device",)}
"""The cloud SDKs a node imports only when it uses them."""
MODULES = {**NODES, "mosquitto": "mosquitto"}
PLATFORMS = {"amd64": "./Dockerfile.amd64", "arm64v8": "./Dockerfile.arm64v8"}
PYTHON_BASE = {"amd64": "python:3.11-slim-bookworm", "arm64v8": "arm64v8/python:3.11-slim-bookworm"}
VERSION = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]["version"]
DOCKERFILES = sorted(CHECKOUT.glob("*/Dockerfile.*"))
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    logical, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1]
        else:
            logical.append(pending)
            pending = ""
    return [(word.upper(), rest.strip()) for word, _, rest in (x.partition(" ") for x in logical)]


def stages(dockerfile: Path) -> list[list[tuple[str, str]]]:
    """The instructions of each stage, FROM first."""
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions(dockerfile):
        if instruction[0] == "FROM":
            found.append([])
        found[-1].append(instruction)
    return found


def args(stage: list[tuple[str, str]], name: str) -> list[str]:
    return [rest for instruction, rest in stage if instruction == name]


def env(stage: list[tuple[str, str]]) -> dict[str, str]:
    return dict(pair.split("=", 1) for rest in args(stage, "ENV") for pair in shlex.split(rest))


def module_json(folder: str) -> dict:
    return json.loads((CHECKOUT / folder / "module.json").read_text())


@pytest.mark.parametrize("folder", MODULES)
def test_module_json_is_what_iotedgedev_builds_from(folder):
    image = module_json(folder)["image"]
    assert module_json(folder)["$schema-version"] == "0.0.1"
    assert image["repository"] == f"${{CONTAINER_REGISTRY_SERVER}}/scantalk-{MODULES[folder]}"
    assert image["tag"]["version"] == VERSION  # kept in step with pyproject.toml by this test
    assert image["tag"]["platforms"] == PLATFORMS
    for dockerfile in PLATFORMS.values():
        assert (CHECKOUT / folder / dockerfile).is_file()
    assert image["buildOptions"] == []
    # A Python image builds the project's wheel, so it needs the repository root as context.
    assert image["contextPath"] == ("../" if folder in NODES else "./")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_hadolint_passes(dockerfile):
    result = subprocess.run([HADOLINT, dockerfile], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("folder", MODULES)
def test_the_two_platforms_differ_only_in_the_base_image(folder):
    def without_bases(dockerfile: Path) -> list[tuple[str, str]]:
        return [(i, "" if i == "FROM" else rest) for i, rest in instructions(dockerfile)]

    amd64, arm64v8 = (CHECKOUT / folder / dockerfile for dockerfile in PLATFORMS.values())
    assert without_bases(amd64) == without_bases(arm64v8)
    for ours, theirs in zip(stages(amd64), stages(arm64v8), strict=True):
        assert theirs[0][1] == f"arm64v8/{ours[0][1]}"


@pytest.mark.parametrize("folder", NODES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_node_image_builds_the_wheel_and_installs_only_its_extra(folder, platform):
    build, runtime = stages(CHECKOUT / folder / PLATFORMS[platform])
    node = NODES[folder]
    assert build[0][1] == f"{PYTHON_BASE[platform]} AS build"
    assert runtime[0][1] == PYTHON_BASE[platform]
    copied = [shlex.split(rest)[0] for rest in args(build, "COPY")]
    assert copied == list(wheel_env.BUILD_SOURCES)
    installs = [rest for rest in args(build, "RUN") if re.search(r"\bpip\b.*\binstall\b", rest)]
    assert [re.findall(r"\[([\w,]+)\]", rest) for rest in installs] == [[node]]
    # The runtime stage takes the installed venv only: no sources, no wheel.
    assert args(runtime, "COPY") == ["--from=build /opt/scantalk /opt/scantalk"]


@pytest.mark.parametrize("folder", NODES)
def test_a_node_image_runs_its_node_as_a_user_with_its_data_dir(folder):
    runtime = stages(CHECKOUT / folder / "Dockerfile.amd64")[-1]
    (user,) = args(runtime, "USER")
    assert user.partition(":")[0] not in ("root", "0")
    assert json.loads(args(runtime, "ENTRYPOINT")[0]) == ["scantalk", "node", NODES[folder]]
    assert env(runtime)["SCANTALK_DATA_DIR"] == "/data"
    # The shared /data is no working directory: a `.env` there would reach every node.
    assert args(runtime, "WORKDIR")[0] != "/data"
    assert env(runtime)["PYTHONUNBUFFERED"] == "1"
    assert not any(
        args(stage, "EXPOSE") for stage in stages(CHECKOUT / folder / "Dockerfile.amd64")
    )


def test_the_broker_image_runs_mosquitto_2_0_as_its_own_user():
    (stage,) = stages(CHECKOUT / "mosquitto" / "Dockerfile.amd64")
    assert re.fullmatch(r"eclipse-mosquitto:2\.0\.\d+", stage[0][1])  # a pinned patch release
    assert args(stage, "USER") == ["1883:1883"]  # the image's mosquitto user
    assert args(stage, "EXPOSE") == ["1883 8883"]
    for rest in args(stage, "COPY"):
        assert (CHECKOUT / "mosquitto" / shlex.split(rest)[-2]).is_file()


def test_dockerignore_lets_through_exactly_what_the_wheel_is_built_from():
    lines = (CHECKOUT / ".dockerignore").read_text().splitlines()
    assert "*" in lines  # everything out, then back in by name
    let_in = [line.removeprefix("!") for line in lines if line.startswith("!")]
    assert let_in == list(wheel_env.BUILD_SOURCES)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wheel_env.build(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_the_package_data_and_none_of_the_image_files(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for model in ("produce", "produce-int8"):
        for name in ("model.onnx", "labels.txt", "catalog.csv"):
            assert f"scantalk/models/{model}/{name}" in names
    assert "scantalk/commands/broker.conf" in names
    assert not [n for n in names if re.search(r"Dockerfile|module\.json|dockerignore", n)]


def run(scantalk: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [scantalk, *arguments],
        cwd=scantalk.parent.parent.parent,  # outside the checkout, beside the venv
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("folder", "node"), NODES.items())
def test_the_image_install_steps_give_a_working_node(folder, node, wheel, tmp_path_factory):
    scantalk = wheel_env.install(node, wheel, tmp_path_factory.mktemp(node) / "venv")
    result = run(scantalk, "node", node, "--help")
    assert result.returncode == 0, result.stderr
    assert "SCANTALK_MQTT_HOST" in result.stdout
    # What the node imports, at start and when it first needs the cloud: its extra is enough.
    modules = [f"{folder}.node", *LATER_IMPORTS.get(node, ())]
    imported = run(scantalk.parent / "python", "-c", f"import {', '.join(modules)}")
    assert imported.returncode == 0, imported.stderr


def test_the_installed_classifier_reads_its_model_from_package_data(wheel, tmp_path_factory):
    scantalk = wheel_env.install(
        "classifier", wheel, tmp_path_factory.mktemp("classifier") / "venv"
    )
    code = "from scantalk.settings import DEFAULT_MODEL_DIR; print(DEFAULT_MODEL_DIR)"
    model = Path(run(scantalk.parent / "python", "-c", code).stdout.strip())
    assert scantalk.parent.parent in model.parents
    result = run(scantalk, "model", "info", str(model))  # loads it with onnxruntime
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["model"] == model.name
    assert info["labels"]
    # The largest image stays lean: OpenCV (150 MB) is the camera's, not the classifier's.
    code = "import importlib.util; print(importlib.util.find_spec('cv2'))"
    found = run(scantalk.parent / "python", "-c", code)
    assert found.stdout.strip() == "None"
