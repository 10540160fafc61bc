"""Generate the churn recipe's data set (deterministic; run from anywhere).

    python recipes/data/churn/make_data.py [--customers 2000] [--seed 7]

Writes, next to this script:
  customers.csv      one snapshot row per customer: PII (email, name), plan, charges, churned;
                     with injected bad rows: negative ages, an unknown plan, null targets
  events/part-*.parquet  weekly usage snapshots per customer (two files), for the as-of join
  crm.db             SQLite with the `plans` table, keyed by `plan_code` (customers say `plan`)
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
PLANS = pd.DataFrame(
    {
        "plan_code": ["basic", "pro", "enterprise"],
        "price": [19.0, 49.0, 99.0],
        "contract_months": [1, 12, 24],
    }
)
FIRST = ["ann", "bob", "cara", "dev", "eli", "fay", "gus", "hana", "ivo", "jun", "kai", "lea"]
LAST = ["smith", "jones", "garcia", "khan", "muller", "rossi", "tanaka", "silva", "novak"]
START = pd.Timestamp("2025-01-01")


def customers(n: int, rng: np.random.Generator) -> pd.DataFrame:
    ids = np.arange(1001, 1001 + n)
    first, last = rng.choice(FIRST, n), rng.choice(LAST, n)
    plan = rng.choice(PLANS["plan_code"], n, p=[0.5, 0.35, 0.15])
    tenure = rng.integers(1, 72, n)
    snapshot = START + pd.to_timedelta(rng.integers(60, 180, n), unit="D")
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "email": [f"{f}.{s}.{i}@example.com" for f, s, i in zip(first, last, ids, strict=True)],
            "name": [f"{f.title()} {s.title()}" for f, s in zip(first, last, strict=True)],
            "age": rng.integers(18, 80, n),
            "plan": plan,
            "tenure_months": tenure,
            "MonthlyCharges": np.round(rng.normal(50, 15, n).clip(5, 150), 2),
            "ts": snapshot.strftime("%Y-%m-%d"),
        }
    )
    return frame


def events(cust: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Weekly usage snapshots; a customer's propensity to churn shows up as tickets."""
    rows = []
    weeks = pd.date_range(START, periods=30, freq="7D")
    propensity = rng.normal(0, 1, len(cust))
    for cid, p in zip(cust["customer_id"], propensity, strict=True):
        for week in weeks[rng.random(len(weeks)) < 0.6]:
            rows.append((cid, week, max(0, int(rng.poisson(1.5 + 1.5 * p if p > 0 else 1.0))), p))
    ev = pd.DataFrame(rows, columns=["customer_id", "ts", "support_tickets_30d", "_p"])
    ev["minutes_30d"] = np.round(rng.gamma(4, 60, len(ev)) * np.exp(-0.3 * ev["_p"]), 1)
    return ev


def label(frame: pd.DataFrame, ev: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
    """Churn odds: tickets and charges up, tenure and longer contracts down."""
    p = ev.groupby("customer_id")["_p"].first().reindex(frame["customer_id"]).fillna(0).to_numpy()
    contract = frame["plan"].map(
        dict(zip(PLANS["plan_code"], PLANS["contract_months"], strict=True))
    )
    logit = (
        -0.8
        + 1.3 * p
        + 0.03 * (frame["MonthlyCharges"] - 50)
        - 0.04 * frame["tenure_months"]
        - 0.05 * contract.fillna(1)
    )
    prob = 1 / (1 + np.exp(-logit))
    return pd.Series((rng.random(len(frame)) < prob).astype("int64"), index=frame.index)


def inject_bad_rows(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A few rows each check must catch: negative age, unknown plan, null target."""
    out = frame.astype({"churned": "float64"})
    picks = rng.choice(len(out), 18, replace=False)
    out.loc[out.index[picks[:6]], "age"] = -out.loc[out.index[picks[:6]], "age"]
    out.loc[out.index[picks[6:12]], "plan"] = "gold"
    out.loc[out.index[picks[12:]], "churned"] = np.nan
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    cust = customers(args.customers, rng)
    ev = events(cust, rng)
    cust["churned"] = label(cust, ev, rng)
    cust = inject_bad_rows(cust, rng)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    cust.to_csv(out / "customers.csv", index=False)
    ev = ev.drop(columns=["_p"])
    (out / "events").mkdir(exist_ok=True)
    half = ev["ts"] < ev["ts"].min() + pd.Timedelta(days=105)
    ev[half].reset_index(drop=True).to_parquet(out / "events" / "part-0.parquet", index=False)
    ev[~half].reset_index(drop=True).to_parquet(out / "events" / "part-1.parquet", index=False)
    db = out / "crm.db"
    db.unlink(missing_ok=True)
    with sqlite3.connect(db) as conn:
        PLANS.to_sql("plans", conn, index=False)
    print(f"wrote {len(cust)} customers, {len(ev)} events, {len(PLANS)} plans to {out}")


if __name__ == "__main__":
    main()
