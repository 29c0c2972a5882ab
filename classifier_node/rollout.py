"""A new model, rolled out by the lane's twin: fetched over HTTPS (resumable, bounded in size),
its SHA-256 checked, unpacked, loaded beside the running model and smoke-checked; only then
does the classifier swap to it, between two frames. Any failure keeps the running model and
says why.

The archive is a zip of a model folder, as Azure Custom Vision exports one (`model.onnx`,
`labels.txt`, optionally `catalog.csv`); every model kind `scantalk model info` knows loads.
Each version is unpacked in `<data dir>/models/<version>/` and stays there: setting an earlier
`version` again (with its SHA-256) goes back to it without a download. `active` there names the
version in force, so a restart keeps it.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import shutil
import ssl
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from scantalk.scene import empty_scene

CHUNK = 1 << 16
ACTIVE = "active"
"""In the models folder: the version in force."""
VERSION = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RolloutError(Exception):
    """Why a model was not rolled out; the running one stays."""


def folder_of(models: Path, version: str) -> Path:
    if not VERSION.match(version) or version in (".", ".."):
        raise RolloutError(f"version {version[:80]!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return models / version


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, sha256: str, archive: Path, max_bytes: int, ca_file: Path | None) -> None:
    """Download `url` to `archive`, going on from a partial download of an earlier attempt;
    raise `RolloutError` on a network failure (the part stays, to resume), a body over
    `max_bytes`, or a SHA-256 that is not `sha256`."""
    if not url.startswith("https://"):
        raise RolloutError(f"model url {url[:120]!r}: only https:// is fetched")
    partial = archive.with_name(archive.name + ".partial")
    partial.parent.mkdir(parents=True, exist_ok=True)
    have = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=30, context=context
        ) as response:
            if have and response.status != 206:  # the server cannot resume: start again
                have = 0
            length = response.headers.get("Content-Length")
            expected = None if length is None else have + int(length)
            if expected is not None and expected > max_bytes:
                raise RolloutError(f"model of {expected} bytes: over {max_bytes}")
            with partial.open("ab" if have else "wb") as f:
                while chunk := response.read(CHUNK):
                    have += len(chunk)
                    if have > max_bytes:
                        partial.unlink()
                        raise RolloutError(f"model over {max_bytes} bytes (SCANTALK_MODEL_MAX_MB)")
                    f.write(chunk)
            if expected is not None and have < expected:  # the connection ended early
                raise OSError(f"{expected - have} bytes short")
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise RolloutError(
            f"download stopped at {have} bytes ({exc}); it resumes next time"
        ) from exc
    found = file_sha256(partial)
    if found != sha256:
        partial.unlink()
        raise RolloutError(f"sha256 {found} is not the desired {sha256}")
    partial.replace(archive)


def unpack(archive: Path, folder: Path, max_bytes: int) -> None:
    """The archive's files into `folder`, flat: no paths, nothing outside it, bounded."""
    staging = folder.with_name(folder.name + ".unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with zipfile.ZipFile(archive) as zipped:
            files = [i for i in zipped.infolist() if not i.is_dir()]
            if sum(i.file_size for i in files) > 4 * max_bytes:
                raise RolloutError("model archive unpacks too large")
            for info in files:
                name = Path(info.filename).name
                if name in ("", ".", "..") or name != info.filename.rsplit("/", 1)[-1]:
                    raise RolloutError(f"model archive entry {info.filename[:80]!r}")
                with zipped.open(info) as source, (staging / name).open("wb") as target:
                    shutil.copyfileobj(source, target)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise RolloutError(f"model archive is no zip ({exc})") from exc
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def smoke_check(classify: object, labels: int) -> None:
    """A loaded model answers: one finite score per label, on an empty counter and on noise."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, empty_scene().shape, dtype=np.uint8)
    for scene in (empty_scene(), noise):
        scores = np.asarray(classify(scene))  # type: ignore[operator]
        if scores.shape != (labels,) or not np.all(np.isfinite(scores)):
            raise RolloutError(
                f"smoke check: {scores.shape} scores for {labels} labels, or not finite"
            )


def active_version(models: Path) -> str | None:
    """The rolled-out version in force, if any (and still there)."""
    try:
        version = (models / ACTIVE).read_text().strip()
        return version if (folder_of(models, version) / "model.onnx").exists() else None
    except (OSError, RolloutError):
        return None
