"""No raw PII value (nor the salt) appears anywhere under $SOUS_HOME after a full run:
cache, artifacts, quarantine, logs, runs database, BentoML models and Bentos."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from e2e_support import ROOT

from engine import api

SALT = "test-salt-not-secret"


def raw_pii() -> tuple[set[str], set[str]]:
    customers = pd.read_csv(ROOT / "recipes/data/churn/customers.csv")
    emails = {e for e in customers["email"].dropna().astype(str) if "@" in e}
    names = {n for n in customers["name"].dropna().astype(str) if len(n) > 4}
    return emails, names


def readable_text(path: Path) -> bytes:
    """The file's bytes, plus the decoded cells of a parquet file (it compresses strings)."""
    data = path.read_bytes()
    if path.suffix == ".parquet":
        buf = io.StringIO()
        pq.read_table(path).to_pandas().to_csv(buf)
        data += buf.getvalue().encode()
    return data


def test_no_raw_pii_anywhere_under_sous_home(sous_home: Path) -> None:
    record = api.run(api.validate("churn", ["cluster=sync"]))
    assert record["status"] == "succeeded"
    assert record["bento"], "the run must package a Bento, so that it is scanned too"
    assert record["data"]["quarantined"] > 0, "the quarantine table must be scanned too"
    emails, names = raw_pii()
    pattern = re.compile(
        b"|".join(re.escape(v.encode()) for v in sorted(emails | names, key=len, reverse=True))
    )
    files = [p for p in sous_home.rglob("*") if p.is_file()]
    assert len(files) > 20
    leaks = {}
    for path in files:
        text = readable_text(path)
        found = pattern.search(text)
        if found or SALT.encode() in text:
            leaks[str(path.relative_to(sous_home))] = found.group(0) if found else b"<salt>"
    assert not leaks, f"raw PII or the salt persisted: {leaks}"
