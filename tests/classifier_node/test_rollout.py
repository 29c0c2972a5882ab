"""A model rolled out while the lane works: fetched from a loopback HTTPS server (resuming a
broken download), checked, and swapped between two frames with every placement announced; a
wrong hash, a broken archive, a model that does not fit its labels, or a download that stops
leaves the running model in force and says why."""

from __future__ import annotations

import pytest

from scantalk.contract import ModelRollout, Topics
from testbench.bus import Bus, wait_online
from testbench.model_server import INT8, MODELS, ModelServer, restamped, sha256, zipped
from testbench.scenes import place

T = Topics("lane-1")


@pytest.fixture
def server(tmp_path):
    serving = ModelServer(tmp_path)
    yield serving
    serving.close()


@pytest.fixture
def lane(bus, node_env, start_node, server):
    start_node("classifier", node_env, SCANTALK_MODEL_CA_FILE=str(server.ca))
    wait_online(bus, "classifier")
    return bus


def roll_out(bus: Bus, url: str, digest: str, version: str) -> None:
    bus.publish(T.rollout, ModelRollout("lane-1", url, digest, version).to_json())


def test_a_model_rolls_out_between_frames_and_every_placement_is_announced(lane, server, tmp_path):
    (before,) = lane.wait_for(T.model)
    exported = restamped(tmp_path / "exported")  # answers as the running model on every CPU
    archive = zipped(exported)
    server.files["/v2.zip"] = archive
    server.cut_once_at = len(archive) // 3  # the first download breaks off

    place(lane)
    roll_out(lane, server.url("/v2.zip"), sha256(archive), "produce-2")
    lane.wait_for(T.model, lambda h: h.json().get("rollout_error", "") or "")  # it broke off
    assert "download stopped" in lane.matching(T.model)[-1].json()["rollout_error"]
    place(lane)  # the lane works on the model it had
    roll_out(lane, server.url("/v2.zip"), sha256(archive), "produce-2")  # asked again: resumes
    for _ in range(3):
        place(lane)  # placements go on while it loads and swaps
    (after,) = lane.wait_for(T.model, lambda h: h.json()["version"] == "produce-2")
    place(lane)

    assert after.json()["sha256"] == sha256((exported / "model.onnx").read_bytes())
    assert after.json()["sha256"] != before.json()["sha256"]
    assert after.json()["rollout_error"] is None
    assert any(r.endswith(f"bytes={len(archive) // 3}-") for r in server.requests), "no resume"
    scans = lane.matching(T.scan)
    assert [s.json()["label"] for s in scans] == ["banana"] * 6, "a placement went unannounced"
    assert scans[-1].json()["model"] == "produce-2"


@pytest.mark.parametrize(
    ("case", "why"),
    [("wrong-hash", "is not the desired"), ("truncated", "no zip"),
     ("extra-label", "labels"), ("cut", "download stopped")],
)  # fmt: skip
def test_a_failed_rollout_keeps_the_running_model_and_says_why(lane, server, case, why):
    (before,) = lane.wait_for(T.model)
    archive = zipped(INT8, labels_extra="dragonfruit\n" if case == "extra-label" else "")
    if case == "truncated":
        archive = archive[: len(archive) // 2]
    if case == "cut":
        server.cut_once_at = 1000
    server.files["/model.zip"] = archive
    digest = sha256(b"another model") if case == "wrong-hash" else sha256(archive)
    roll_out(lane, server.url("/model.zip"), digest, f"v-{case}")
    (failed,) = lane.wait_for(T.model, lambda h: h.json().get("rollout_version") == f"v-{case}")
    assert why in failed.json()["rollout_error"]
    assert (failed.json()["sha256"], failed.json()["version"]) == (before.json()["sha256"], None)
    place(lane)
    assert lane.wait_for(T.scan)[0].json()["model"] == before.json()["name"]


def test_an_earlier_version_comes_back_without_a_download(lane, server):
    int8, fp32 = zipped(INT8), zipped(MODELS / "produce")
    server.files.update({"/int8.zip": int8, "/fp32.zip": fp32})
    roll_out(lane, server.url("/int8.zip"), sha256(int8), "int8-1")
    lane.wait_for(T.model, lambda h: h.json()["version"] == "int8-1")
    roll_out(lane, server.url("/fp32.zip"), sha256(fp32), "fp32-2")
    lane.wait_for(T.model, lambda h: h.json()["version"] == "fp32-2")
    downloads = len(server.requests)
    roll_out(lane, server.url("/int8.zip"), sha256(int8), "int8-1")  # back to the last good one
    (back,) = lane.wait_for(T.model, lambda h: h.json()["version"] == "int8-1", count=2)[1:]
    assert back.json()["sha256"] == sha256((INT8 / "model.onnx").read_bytes())
    assert len(server.requests) == downloads, "the earlier version was downloaded again"
