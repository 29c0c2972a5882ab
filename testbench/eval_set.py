"""Lay out the tuxpaint evaluation set for `scantalk model eval`: one folder per label.

    .venv/bin/python -m testbench.eval_set /tmp/tuxeval
    .venv/bin/scantalk model eval scantalk/models/produce /tmp/tuxeval

The photos come from Debian's `tuxpaint-stamps-default` and are linked, not copied;
`tuxpaint-eval.csv` says what each shows. `nothing` holds produce the model does not know,
other things, and an empty counter: the right answer for them is no scan. The int8
calibration (`script/quantize_produce.py`) reads the same table to stay off these photos.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from PIL import Image

from scantalk.scene import TUXPAINT_STAMPS

TABLE = Path(__file__).with_name("tuxpaint-eval.csv")


def rows() -> list[dict[str, str]]:
    """The table: `label` and `photo` (relative to TUXPAINT_STAMPS) of each evaluated photo."""
    with TABLE.open(newline="") as f:
        return list(csv.DictReader(f))


def photos() -> set[Path]:
    """Every photo the evaluation uses, so nothing else (calibration) trains on it."""
    return {TUXPAINT_STAMPS / row["photo"] for row in rows()}


def make(out: Path) -> Path:
    """Lay the set out under `out` (kept if already there) and return `out`."""
    for row in rows():
        folder = out / row["label"]
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / Path(row["photo"]).name
        if not link.exists():
            link.symlink_to(TUXPAINT_STAMPS / row["photo"])
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(out / "nothing" / "empty-counter.png")
    return out


if __name__ == "__main__":
    print(make(Path(sys.argv[1])))
