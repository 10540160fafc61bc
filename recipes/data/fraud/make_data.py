"""Generate the fraud recipe's data set: card transactions with about 1.5% fraud.

    python recipes/data/fraud/make_data.py [--rows 5000] [--seed 11]

Writes ``transactions.csv`` next to this script (deterministic for a seed). Fraud is rare
and only partly predictable: it leans towards night hours, large amounts, far-from-home and
foreign-merchant purchases, young cards, bursts of transactions and some merchant types,
with noise so that no model is perfect. Accuracy is useless here (98.5% by predicting "no");
the recipe ranks by pr_auc.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CATEGORIES = ["grocery", "fuel", "restaurant", "electronics", "travel", "online_gaming"]
CATEGORY_RISK = dict(zip(CATEGORIES, [-0.6, -0.3, -0.4, 0.8, 0.6, 1.0], strict=True))
CHANNELS = ["pos", "online", "atm"]
CHANNEL_RISK = {"pos": -0.5, "online": 0.6, "atm": 0.2}
INTERCEPT = -9.8  # tuned so that about 1.5% of rows are fraud


def transactions(n: int, rng: np.random.Generator) -> pd.DataFrame:
    category = rng.choice(CATEGORIES, n, p=[0.3, 0.15, 0.2, 0.12, 0.08, 0.15])
    channel = rng.choice(CHANNELS, n, p=[0.6, 0.3, 0.1])
    hour = rng.integers(0, 24, n)
    amount = np.round(rng.lognormal(3.5, 1.0, n), 2)
    distance = np.round(rng.lognormal(2.0, 1.2, n), 1)
    foreign = rng.binomial(1, 0.07, n)
    card_age = rng.integers(1, 3650, n)
    burst = rng.poisson(1.5, n)
    night = ((hour <= 4) | (hour >= 23)).astype(float)
    logit = (
        INTERCEPT
        + 3.0 * night
        + 1.2 * (np.log(amount) - 3.5)
        + 1.0 * (np.log1p(distance) - 2.0)
        + 3.0 * foreign
        + 2.5 * (card_age < 180)
        + 0.7 * burst
        + 2 * np.vectorize(CATEGORY_RISK.get)(category)
        + 2 * np.vectorize(CHANNEL_RISK.get)(channel)
        + rng.normal(0, 0.3, n)
    )
    fraud = rng.binomial(1, 1 / (1 + np.exp(-logit)))
    return pd.DataFrame(
        {
            "transaction_id": np.arange(1, n + 1),
            "amount": amount,
            "hour": hour,
            "merchant_category": category,
            "channel": channel,
            "distance_from_home_km": distance,
            "foreign_merchant": foreign,
            "card_age_days": card_age,
            "tx_last_24h": burst,
            "is_fraud": fraud,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    frame = transactions(args.rows, np.random.default_rng(args.seed))
    out = HERE / "transactions.csv"
    frame.to_csv(out, index=False)
    print(f"wrote {out}: {len(frame)} rows, {frame['is_fraud'].mean():.2%} fraud")


if __name__ == "__main__":
    main()
