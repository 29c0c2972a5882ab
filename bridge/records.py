"""`scantalk records`: the inventory records the bridge stored, for a person or a script."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bridge.outbox import Outbox
from scantalk.contract import printable


def show_records(path: Path, pending_only: bool, as_json: bool) -> int:
    if not path.exists():
        print(f"no records yet ({path} does not exist)", file=sys.stderr)
        return 0
    outbox = Outbox(path)
    try:
        for stored in outbox.records(pending_only):
            r = stored.record
            if as_json:
                delivery = {"deliveredAt": stored.delivered_at, "destination": stored.destination}
                print(json.dumps({**r.to_dict(), **delivery}))
                continue
            state = (
                f"{stored.destination} {stored.delivered_at}" if stored.delivered_at else "pending"
            )
            amount = "to weigh" if r.quantity is None else f"{r.quantity:g} {r.unit}"
            # Records stored before the contract refused control characters may hold them.
            print(
                printable(
                    f"{r.scanned_at}  {r.station_id}  {r.display_name:<20} plu={r.plu or '-':<5} "
                    f"{amount:<9} conf={r.confidence:.2f}  {r.scan_id}  {state}"
                )
            )
    finally:
        outbox.close()
    return 0
