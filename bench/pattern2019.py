"""Baseline: the 2019 module's pattern, rebuilt with today's parts and measured.

    .venv/bin/python -m bench.pattern2019 [--placements 10] [--fps 15] [--still 10]

The module ScanTalk replaced classified every camera frame (no motion gate) by POSTing it over
HTTP to a classification endpoint on loopback, which opened a new onnxruntime
`InferenceSession` for every request; it sent one IoT Hub message per prediction and, when the
label changed, spoke it through a blocking call (synthesis, then playback) before taking the
next frame. Here, two processes beside the caller's Mosquitto:

- server: a werkzeug server on a free loopback port; each POST decodes and preprocesses the JPEG
  body with the lane's own code (`classifier_node.model.Model`, loaded once), then creates a
  fresh `InferenceSession` (2 intra-op threads, default spinning), runs it and answers the top
  label and its probability as JSON;
- camera: plays the scripted frames at `fps`; when it is behind it skips to the newest due frame,
  as a real camera hands over its latest. Per frame taken: a new HTTP request, one MQTT QoS 1
  publish of the prediction (waiting for its PUBACK), and, when the top label changes to a
  produce label with probability >= 0.5 (`SPEAK_AT`), `espeak-ng -w` then pygame playback
  (SDL's disk driver), blocking, before the next frame.

CPU is counted from stream start to end per process; the camera's includes its espeak-ng
children, as the 2019 module synthesised in its own process. The broker is found by its
listening port (/proc), its CPU and memory counted too; if it cannot be found, it counts 0.

Left out: a camera driver (the same scripted frames as the lane's benchmarks, `bench.latency`),
IoT Hub's SDK and TLS (a local MQTT publish stands in), Flask itself (werkzeug, which Flask is
built on, serves the same WSGI app), and real audio output.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bench import TICKS, cpu_seconds, rss_mb
from bench.latency import PRODUCE, STAGINGS, Frame, script
from classifier_node.model import Kind, Model
from scantalk.commands.broker import Broker, free_port, port_open
from scantalk.latency import percentile
from scantalk.processes import die_with_parent, stop_process
from scantalk.scene import Stage, empty_scene, stagings
from scantalk.settings import DEFAULT_MODEL_DIR

THREADS = 2
SPEAK_AT = 0.5
"""Probability from which a new top produce label is spoken."""
TOPIC = "pattern2019/prediction"
PROCESSES = ("server", "client", "broker")


@dataclass
class PatternRun:
    """One run. Times in ms are per classified frame (`wall_ms`: taking the frame -> prediction
    back; `session_ms`: the server creating its session) or per placement spoken
    (`first_audio_ms`: its first item frame due -> just before playback starts). CPU and peak
    RSS cover stream start to end, per process ("server", "client", "broker")."""

    frames_sent: int
    frames_classified: int
    placements: int
    wall_ms: list[float]
    session_ms: list[float]
    cpu_s: dict[str, float]
    peak_rss_mb: dict[str, float]
    seconds: float
    first_audio_ms: list[float]
    spoken: int


def serve(port: int, model_dir: Path) -> None:
    """The classification endpoint: a new InferenceSession for every request."""
    model = Model(model_dir, threads=THREADS)  # preprocessing and labels only, loaded once

    @Request.application
    def app(request: Request) -> Response:
        tensor = model.preprocess(model.decode(request.get_data()))
        started = time.perf_counter()
        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        session = ort.InferenceSession(
            str(model.folder.onnx), options, providers=["CPUExecutionProvider"]
        )
        session_ms = (time.perf_counter() - started) * 1000
        (scores,) = session.run([model.output], {model.input_name: tensor})
        if model.map_output:  # read as Model.run does
            p = np.array([scores[0].get(label, 0.0) for label in model.labels], np.float32)
        else:
            p = np.asarray(scores, np.float32).reshape(-1)
        if model.kind == Kind.AUTOML:  # logits
            p = np.exp(p - p.max()) / np.exp(p - p.max()).sum()
        top = int(p.argmax())
        answer = {"label": model.labels[top], "probability": float(p[top]),
                  "item": bool(model.announced[top]), "session_ms": session_ms}  # fmt: skip
        return Response(json.dumps(answer), mimetype="application/json")

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request on our stderr
    make_server("127.0.0.1", port, app).serve_forever()


def camera(frames_dir: Path, fps: int, broker_port: int, server_port: int) -> None:
    """The camera module: frame, HTTP, MQTT, blocking speech; results to `result.json`."""
    import paho.mqtt.client as mqtt
    import pygame

    index = json.loads((frames_dir / "index.json").read_text())
    jpegs = [(frames_dir / f"{k}.jpg").read_bytes() for k in range(len(index))]
    entering: dict[int, int] = {}  # placement -> stream index of its first item frame
    for k, f in enumerate(index):
        if f["phase"] == "entering":
            entering.setdefault(f["placement"], k)
    pygame.mixer.init(frequency=22050, size=-16, channels=1)  # espeak-ng's wav format
    client = mqtt.Client(client_id=f"pattern2019-{os.getpid()}")
    client.connect("127.0.0.1", broker_port)
    client.loop_start()
    wav = frames_dir / "say.wav"
    wall_ms: list[float] = []
    session_ms: list[float] = []
    first_audio: dict[int, float] = {}
    spoken, said = 0, None
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    start = time.monotonic()
    k = 0
    while k < len(jpegs):
        now = time.monotonic()
        if now < start + k / fps:
            time.sleep(start + k / fps - now)
        else:  # behind: the camera's latest frame, not the next one
            k = max(k, min(len(jpegs) - 1, int((now - start) * fps)))
        taken = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", server_port)
        connection.request("POST", "/classify", jpegs[k], {"Content-Type": "image/jpeg"})
        answer = json.loads(connection.getresponse().read())
        connection.close()
        wall_ms.append((time.monotonic() - taken) * 1000)
        session_ms.append(answer["session_ms"])
        client.publish(TOPIC, json.dumps(answer), qos=1).wait_for_publish()
        label = answer["label"] if answer["item"] and answer["probability"] >= SPEAK_AT else None
        if label is not None and label != said:
            subprocess.run(["espeak-ng", "-w", str(wav), label.replace("_", " ")], check=True)
            sound = pygame.mixer.Sound(str(wav))
            played = time.monotonic()
            sound.play()
            while pygame.mixer.get_busy():
                time.sleep(0.005)
            spoken += 1
            placement = index[k]["placement"]
            due = entering.get(placement)
            if due is not None and k >= due and placement not in first_audio:
                first_audio[placement] = (played - start - due / fps) * 1000
        said = label
        k += 1
    client.loop_stop()
    client.disconnect()
    result = {"wall_ms": wall_ms, "session_ms": session_ms, "spoken": spoken,
              "first_audio_ms": list(first_audio.values())}  # fmt: skip
    (frames_dir / "result.json").write_text(json.dumps(result))
    print("done", flush=True)
    sys.stdin.readline()  # stay until the caller has read our CPU


def children_cpu(pid: int) -> float:
    """CPU of a process's waited-for children (cutime + cstime): the camera's espeak-ng runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / TICKS


def listener_pid(port: int) -> int | None:
    """The process listening on 127.0.0.1:`port`, by its socket's inode (/proc/net/tcp)."""
    inodes = {
        f"socket:[{cols[9]}]"
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if (cols := line.split())[1] == f"0100007F:{port:04X}" and cols[3] == "0A"
    }
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                    return int(proc.name)
            except OSError:  # gone, or not ours
                continue
    return None


def sample(pids: dict[str, int], peak: dict[str, float], stop: threading.Event) -> None:
    """Peak RSS of each process, every 0.2 s until `stop`."""
    while True:
        for name, pid in pids.items():
            peak[name] = max(peak[name], rss_mb(pid))
        if stop.wait(0.2):
            return


def _start(code: str, *args: object, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", f"import sys, bench.pattern2019 as p; {code}", *map(str, args)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        preexec_fn=die_with_parent,
    )  # fmt: skip


def run(frames: list[Frame], fps: int, broker_port: int, work_dir: Path) -> PatternRun:
    """Stream `frames` at `fps` through the 2019 pattern; server and camera live for this call."""
    frames_dir = Path(tempfile.mkdtemp(prefix="pattern2019-", dir=work_dir))
    for k, frame in enumerate(frames):
        (frames_dir / f"{k}.jpg").write_bytes(frame.jpeg)
    index = [{"placement": f.placement, "phase": f.phase, "id": f.frame_id} for f in frames]
    (frames_dir / "index.json").write_text(json.dumps(index))
    port = free_port()
    server = _start("p.serve(int(sys.argv[1]), p.Path(sys.argv[2]))", port, DEFAULT_MODEL_DIR)
    env = {**os.environ, "SDL_AUDIODRIVER": "disk", "SDL_DISKAUDIOFILE": os.devnull,
           "PYGAME_HIDE_SUPPORT_PROMPT": "1"}  # fmt: skip
    client = _start("p.camera(p.Path(sys.argv[1]), *map(int, sys.argv[2:]))",
                    frames_dir, fps, broker_port, port, env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the 2019 pattern's server did not start")
            time.sleep(0.05)
        assert client.stdin
        assert client.stdout
        if client.stdout.readline().strip() != "ready":
            raise RuntimeError("the 2019 pattern's camera did not start")
        pids = {"server": server.pid, "client": client.pid, "broker": listener_pid(broker_port)}
        watched = {name: pid for name, pid in pids.items() if pid is not None}

        def cpu(name: str, pid: int) -> float:
            return cpu_seconds(pid) + (children_cpu(pid) if name == "client" else 0.0)

        cpu0 = {name: cpu(name, pid) for name, pid in watched.items()}
        peak = dict.fromkeys(PROCESSES, 0.0)
        stop = threading.Event()
        sampler = threading.Thread(target=sample, args=(watched, peak, stop))
        sampler.start()
        started = time.monotonic()
        client.stdin.write("go\n")
        client.stdin.flush()
        finished = client.stdout.readline().strip()  # "done", or "" if it died
        stop.set()
        sampler.join()
        if finished != "done":
            raise RuntimeError("the 2019 pattern's camera stopped mid-stream")
        seconds = time.monotonic() - started
        cpu_s = {name: cpu(name, pid) - cpu0[name] for name, pid in watched.items()}
        client.stdin.write("exit\n")
        client.stdin.flush()
    finally:
        stop_process(client)
        stop_process(server)
    result = json.loads((frames_dir / "result.json").read_text())
    shutil.rmtree(frames_dir)
    return PatternRun(
        frames_sent=len(frames),
        frames_classified=len(result["wall_ms"]),
        placements=len({f.placement for f in frames}),
        wall_ms=result["wall_ms"],
        session_ms=result["session_ms"],
        cpu_s={name: cpu_s.get(name, 0.0) for name in PROCESSES},
        peak_rss_mb=peak,
        seconds=seconds,
        first_audio_ms=result["first_audio_ms"],
        spoken=result["spoken"],
    )


def still(seconds: float, fps: int, broker_port: int, work_dir: Path) -> PatternRun:
    """The pattern on a still, empty counter: its cost at rest."""
    out = io.BytesIO()
    Image.fromarray(empty_scene()).save(out, "JPEG", quality=85)  # the camera node's default
    frames = [Frame(0, i, "empty", out.getvalue()) for i in range(round(seconds * fps))]
    return run(frames, fps, broker_port, work_dir)


def _row(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:<36}{0:>5}{'-':>9}{'-':>9}"
    p50, p95 = statistics.median(values), percentile(values, 0.95)
    return f"{name:<36}{len(values):>5}{p50:>9.1f}{p95:>9.1f}"


def summary(title: str, r: PatternRun) -> None:
    print(f"{title}: {r.frames_classified} of {r.frames_sent} frames classified in "
          f"{r.seconds:.1f} s, {r.placements} placements, {r.spoken} spoken")  # fmt: skip
    print(f"{'':<36}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}")
    print(_row("frame -> prediction (wall)", r.wall_ms))
    print(_row("  of it: new InferenceSession", r.session_ms))
    print(_row("placement -> first audio", r.first_audio_ms))
    for name in PROCESSES:
        per_min = r.cpu_s[name] / r.seconds * 60 if r.seconds else 0.0
        print(f"  {name:<8} CPU {r.cpu_s[name]:6.2f} s ({per_min:5.1f} s/min), "
              f"peak RSS {r.peak_rss_mb[name]:6.1f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--placements", type=int, default=10)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--still", type=float, default=10, help="seconds at rest; 0: none")
    args = parser.parse_args()
    photos = list(PRODUCE)
    stages = [Stage(s, seed=k) for k, s in enumerate(stagings("testing", STAGINGS, seed=11))]
    plan = [
        (stages[(i // len(photos) + i) % STAGINGS], photos[i % len(photos)])
        for i in range(args.placements)
    ]
    frames = script(plan, first=0)
    with tempfile.TemporaryDirectory() as tmp, Broker(free_port(), Path(tmp)) as broker:
        summary(f"2019 pattern at {args.fps} fps", run(frames, args.fps, broker.port, Path(tmp)))
        if args.still:
            summary("at rest (empty counter)", still(args.still, args.fps, broker.port, Path(tmp)))


if __name__ == "__main__":
    main()
