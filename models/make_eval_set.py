"""Lay out the tuxpaint evaluation set for `scantalk model eval`: one folder per label.

    python models/make_eval_set.py /tmp/tuxpaint-eval
    scantalk model eval models/produce /tmp/tuxpaint-eval

The photos come from Debian's `tuxpaint-stamps-default`; `tuxpaint-eval.csv` says what each
shows. `nothing` holds produce the model does not know, other things, and an empty counter:
the right answer for them is no scan.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from PIL import Image

STAMPS = Path("/usr/share/tuxpaint/stamps")
TABLE = Path(__file__).with_name("tuxpaint-eval.csv")


def make(out: Path) -> Path:
    with TABLE.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        folder = out / row["label"]
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / Path(row["photo"]).name
        if not link.exists():
            link.symlink_to(STAMPS / row["photo"])
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(out / "nothing" / "empty-counter.png")
    return out


if __name__ == "__main__":
    print(make(Path(sys.argv[1])))
