"""Target 4: the analysis on 5,000,000 statement rows against one vectorised groupby-sum."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ledgerkit.analysis import check_balances, payout_groups, roll_forward

TYPES = np.array(["INCOME", "TRX_FEE", "TRX_FEE_FIX", "VAT", "REFUND", "CHARGEBACK", "PAYOUT"])


def statements(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` chain-consistent statement rows over 2025 with daily payouts (the last week open)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-01-01", tz="UTC").value
    created = np.sort(rng.integers(start, start + 365 * 86_400 * 10**9, n)) // 10**9 * 10**9
    kind = rng.choice(len(TYPES), n, p=[0.4, 0.2, 0.1, 0.25, 0.03, 0.01, 0.01])
    amount = np.where(kind == 0, rng.integers(100, 50_000, n), -rng.integers(1, 2_000, n))
    after = 10**9 + np.cumsum(amount)
    day = (created - start) // (86_400 * 10**9)
    payout = pd.array(day.astype(str), dtype="str")
    payout[day >= 358] = pd.NA
    return pd.DataFrame(
        {
            "row_id": pd.array(np.arange(n).astype(str), dtype="str"),
            "created": pd.DatetimeIndex(created).tz_localize("UTC"),
            "type": pd.Categorical.from_codes(kind, TYPES),
            "amount": pd.array(amount, dtype="Int64"),
            "balance_before": pd.array(after - amount, dtype="Int64"),
            "balance_after": pd.array(after, dtype="Int64"),
            "currency": pd.Categorical(["EUR"] * n),
            "payout_id": payout,
        }
    )


def best_of(fn, repeat: int = 2) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(n: int = 5_000_000) -> list[tuple[str, str, str, bool]]:
    """``(name, value, target, ok)`` per analysis function."""
    df = statements(n)
    columns = ["amount", "balance_before", "balance_after"]
    base = best_of(lambda: df.groupby(["currency", "type"], observed=True)[columns].sum())  # noqa: PLW0108 - groupby timed too
    out = []
    for name, fn in (
        ("roll_forward", lambda: roll_forward(df)),
        ("check_balances", lambda: check_balances(df)),
        ("payout_groups", lambda: payout_groups(df)),
    ):
        t = best_of(fn, repeat=1)
        out.append(
            (
                f"analysis_{name}_{n:_}_rows",
                f"{t / base:.1f}x the groupby-sum ({t:.2f} s vs {base:.2f} s)",
                "<= 10x",
                t / base <= 10,
            )
        )
    return out


if __name__ == "__main__":
    for line in run():
        print(*line)
