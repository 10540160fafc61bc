"""Card transactions for the streaming recipe (recipes/card_stream.yaml).

Each event has an id, a card (the entity key), a time, an amount and a merchant. A card that
is being abused makes a burst of purchases at many merchants in a few minutes, so the label
depends on what the card did *before* the event: exactly what windowed features see.

    python recipes/data/card_stream/make_data.py            # writes history.csv (labelled)
    python recipes/data/card_stream/make_data.py --live N   # N unlabelled events as JSON lines
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
MERCHANTS = ["grocery", "fuel", "restaurant", "electronics", "travel", "online"]


def events(
    n: int, *, seed: int, start: str = "2026-03-01T00:00:00Z", cards: int = 60
) -> pd.DataFrame:
    """``n`` events in time order; bursts (3-8 quick purchases) are the fraud."""
    rng = np.random.default_rng(seed)
    rows = []
    t = pd.Timestamp(start).value // 10**9
    while len(rows) < n:
        card = f"c{rng.integers(cards):03d}"
        t += int(rng.exponential(20)) + 1
        burst = rng.random() < 0.04
        k = int(rng.integers(3, 9)) if burst else 1
        for j in range(k):
            tt = t + j * int(rng.integers(5, 40))
            amount = rng.gamma(2.0, 60.0 if burst else 25.0)
            merchant = rng.choice(MERCHANTS[3:] if burst else MERCHANTS)
            rows.append((card, tt, round(float(amount), 2), str(merchant), int(burst and j >= 1)))
    frame = pd.DataFrame(rows[:n], columns=["card_id", "epoch", "amount", "merchant", "is_fraud"])
    frame = frame.sort_values("epoch", kind="stable").reset_index(drop=True)
    frame.insert(0, "event_id", [f"e{seed}-{i:06d}" for i in range(len(frame))])
    frame.insert(2, "ts", pd.to_datetime(frame.pop("epoch"), unit="s", utc=True).map(_iso))
    return frame


def _iso(t: pd.Timestamp) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--live", type=int, metavar="N", help="print N unlabelled events (JSON lines)")
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    if args.live:
        live = events(args.live, seed=args.seed, start="2026-04-01T00:00:00Z").drop(
            columns="is_fraud"
        )
        for record in live.to_dict("records"):
            sys.stdout.write(json.dumps(record) + "\n")
        return 0
    events(3000, seed=7).to_csv(HERE / "history.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
