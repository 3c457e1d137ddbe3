"""The analysis functions on Dask DataFrames give the pandas result, to the minor unit.

Every test builds a pandas frame, splits it into partitions at chosen
(awkward) places -- a chain break or a VAT line right after a boundary, a
payout over three partitions, a currency in one partition only, empty
partitions -- and compares the Dask result with the pandas result on the
same rows with ``assert_frame_equal``. Most run on Dask's synchronous
scheduler (fast, same code path); the last ones on a real
``distributed.LocalCluster`` with two worker processes on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledgerkit as lk
from ledgerkit.errors import ConfigurationError

FUNCTIONS = ("fee_breakdown", "roll_forward", "check_balances", "payout_groups")


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="sync"):
        yield


def split(frame: pd.DataFrame, cuts) -> dd.DataFrame:
    """``frame`` as a Dask frame cut before each row number in ``cuts`` (repeats make empty partitions)."""
    bounds = [0, *cuts, len(frame)]
    pieces = [frame.iloc[a:b] for a, b in itertools.pairwise(bounds)]
    with dask.config.set({"dataframe.convert-string": False}):
        out = dd.from_map(_same, pieces, meta=frame.iloc[:0], enforce_metadata=False, divisions=None)
    out._meta.attrs.update(frame.attrs)
    return out


def _same(piece: pd.DataFrame) -> pd.DataFrame:
    return piece


def _ts(minutes: int) -> pd.Timestamp:
    return pd.Timestamp("2025-01-30 00:00", tz="UTC") + pd.Timedelta(minutes=minutes)


# ---------------------------------------------------------------- statements


def statement_rows(events, currency="EUR", start=0, minutes=0, step=97):
    """A chained statements frame from (type, amount, payout id, transaction id) events; balances follow."""
    rows, balance = [], start
    for number, (kind, amount, payout, tx) in enumerate(events):
        rows.append(
            {
                "row_id": f"{currency}-{number}",
                "created": _ts(minutes + number * step),
                "type": kind,
                "amount": amount,
                "balance_before": balance,
                "balance_after": balance + amount,
                "currency": currency,
                "transaction_id": tx,
                "channel": "card" if number % 3 else "bank",
                "payout_id": payout,
            }
        )
        balance += amount
    return rows


def statements_frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in ("amount", "balance_before", "balance_after"):
        frame[column] = frame[column].astype("Int64")
    for column in ("row_id", "transaction_id", "payout_id"):
        frame[column] = frame[column].astype("str")
    frame["type"] = frame["type"].astype("category")
    frame["currency"] = frame["currency"].astype("category")
    frame["channel"] = frame["channel"].astype("category")
    return frame


def sale(tx, payout, amount=10_000, fee=-250, vat=-50):
    return [("INCOME", amount, payout, tx), ("TRX_FEE", fee, payout, tx), ("VAT", vat, payout, tx)]


@pytest.fixture(scope="module")
def statements() -> pd.DataFrame:
    """Two payouts, the first over three months; a JPY chain in the middle; five planted faults."""
    events = []
    for n in range(12):
        events += sale(f"t{n}", "p1" if n < 8 else "p2")
    events += [
        ("PAYOUT", -77_600, "p1", None),
        ("CHARGEBACK", -3_000, "p2", "t9"),
        ("CHARGEBACK_FEE", -1_500, "p2", "t9"),
        ("PAYOUT", -25_200, "p2", None),
    ]
    events += sale("t20", None) + sale("t21", None)
    rows = statement_rows(events, step=61 * 24 * 60 // 8)
    jpy = statement_rows(
        [*sale("j1", "pj"), ("PAYOUT", -9700, "pj", None)], currency="JPY", start=500, minutes=40 * 24 * 60
    )
    rows = rows[:21] + jpy + rows[21:]
    rows[5]["amount"] += 7  # a wrong amount: balances hold
    rows[9]["balance_after"] += 30  # a wrong balance_after: the next row's balance_before is right
    rows[13]["balance_before"] -= 4  # a break at a chosen row
    rows[30]["created"] = rows[29]["created"] - pd.Timedelta(hours=1)  # out of order
    rows.append(dict(rows[3]))  # a repeated line, far from its first copy
    return statements_frame(rows)


CUTS = [
    [13],  # a chain break right at a partition boundary
    [2, 11, 11, 20, 27],  # VAT first in a partition, an empty partition, the JPY chain in one partition
    [1, 2, 3, 4, 36, 40],  # many tiny partitions, the repeat far from its first copy
    [len(range(44))],  # everything in the first partition, an empty last one
]


def _compare(name: str, frame: pd.DataFrame, cuts, **options) -> None:
    function = getattr(lk, name)
    expected = function(frame, **options)
    got = function(split(frame, cuts), **options)
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs.get("dropped") == expected.attrs.get("dropped")


@pytest.mark.parametrize("cuts", CUTS)
@pytest.mark.parametrize("options", [{"freq": "D"}, {"freq": "W", "categories": {"VAT": "tax"}}])
def test_roll_forward_of_statements_split_anywhere(statements, cuts, options):
    _compare("roll_forward", statements, cuts, **options)


@pytest.mark.parametrize("cuts", CUTS)
def test_check_balances_names_every_planted_fault_once_wherever_the_cuts_are(statements, cuts):
    breaks = lk.check_balances(split(statements, cuts))
    pd.testing.assert_frame_equal(breaks, lk.check_balances(statements))
    assert set(breaks["kind"]) == {"amount_mismatch", "chain_break", "out_of_order", "duplicate"}


@pytest.mark.parametrize("cuts", CUTS[:2])
def test_statements_without_row_ids_repeat_by_every_field(statements, cuts):
    bare = statements.drop(columns="row_id")
    breaks = lk.check_balances(split(bare, cuts))
    pd.testing.assert_frame_equal(breaks, lk.check_balances(bare))
    assert (breaks["kind"] == "duplicate").sum() == 1 and breaks["row_id"].isna().all()


@pytest.mark.parametrize("cuts", CUTS)
def test_payout_groups_combines_a_payout_spread_over_three_partitions(statements, cuts):
    _compare("payout_groups", statements, cuts)
    groups = lk.payout_groups(split(statements, [5, 12, 20]))
    first = groups.iloc[0]
    # p1: 8 sales and the repeated INCOME line (payout_groups counts it; check_balances names it)
    assert (first["payout_id"], first["rows"], first["income"], first["residual"]) == ("p1", 25, 90_000, -10_007)


@pytest.mark.parametrize("cuts", [*CUTS, [2, 5, 8, 11]])
@pytest.mark.parametrize("options", [{"by": "channel"}, {"by": ("fee_type", "channel"), "freq": "M"}])
def test_fee_breakdown_of_statements_keeps_each_vat_with_its_fee(statements, cuts, options):
    _compare("fee_breakdown", statements, cuts, **options)


def test_a_vat_line_first_in_its_partition_stays_with_the_fee_before_it(statements):
    by_type = lk.fee_breakdown(split(statements, [2, 5, 8]), by="fee_type")
    fee = by_type.set_index(["currency", "fee_type"])
    assert fee.loc[("EUR", "TRX_FEE"), "vat"] == 13 * 50 + 43  # one VAT line planted 7 short
    assert fee.loc[("EUR", "CHARGEBACK_FEE"), "vat"] == 0


# ---------------------------------------------------------------- balance records


def records_frame(rng: np.random.Generator, rows: int, *, ids: bool, before: bool, fees: str) -> pd.DataFrame:
    shops = rng.integers(1, 4, rows)
    currency = np.where(shops == 3, "JPY", "EUR")
    amount = rng.integers(-5_000, 20_000, rows)
    fee = rng.integers(0, 300, rows)
    change = amount - fee if fees != "none" else amount
    after = np.zeros(rows, dtype="int64")
    balances: dict[int, int] = {}
    start = np.zeros(rows, dtype="int64")
    for i, shop in enumerate(shops):
        start[i] = balances.get(shop, 1_000 * shop)
        after[i] = start[i] + change[i]
        balances[shop] = after[i]
    frame = pd.DataFrame(
        {
            "shop_id": pd.array(shops, dtype="Int64"),
            "created_at": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(np.arange(rows) * 7, unit="h"),
            "transaction_type": pd.Categorical(
                rng.choice(["payment", "refund", "adjustment", "rolling_reserve", "p2p"], rows)
            ),
            "currency": currency,
            "amount": pd.array(amount, dtype="Int64"),
            "balance_after": pd.array(after, dtype="Int64"),
        }
    )
    if before:
        frame["balance_before"] = pd.array(start, dtype="Int64")
    if fees in ("fee", "both"):
        frame["fee"] = pd.array(fee, dtype="Int64")
    if fees in ("net", "both"):
        frame["net"] = pd.array(change, dtype="Int64")
    if ids:
        frame["record_id"] = pd.array(np.arange(rows) + 100, dtype="Int64")
    return frame


def plant(frame: pd.DataFrame, rng: np.random.Generator, faults: int) -> pd.DataFrame:
    frame = frame.copy()
    for _ in range(faults if len(frame) else 0):
        row = int(rng.integers(0, len(frame)))
        column = rng.choice(
            [c for c in ("amount", "balance_after", "balance_before", "net", "fee", "created_at") if c in frame.columns]
        )
        if column == "created_at":
            frame.loc[row, column] -= pd.Timedelta(days=3)
        else:
            frame.loc[row, column] += int(rng.integers(1, 50))
    if faults and len(frame) > 3:
        frame = pd.concat([frame, frame.iloc[[1]]], ignore_index=True)  # a record given twice
    return frame


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(0, 60),
    faults=st.integers(0, 4),
    ids=st.booleans(),
    before=st.booleans(),
    fees=st.sampled_from(["none", "fee", "net", "both"]),
    cuts=st.lists(st.integers(0, 60), max_size=6),
)
def test_balance_records_split_anywhere(seed, rows, faults, ids, before, fees, cuts):
    rng = np.random.default_rng(seed)
    frame = plant(records_frame(rng, rows, ids=ids, before=before, fees=fees), rng, faults)
    cuts = sorted(min(c, len(frame)) for c in cuts)
    _compare("check_balances", frame, cuts)
    _compare("roll_forward", frame, cuts, freq="W")


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    sales=st.integers(0, 14),
    faults=st.integers(0, 3),
    cuts=st.lists(st.integers(0, 50), max_size=6),
    freq=st.sampled_from(["D", "M"]),
)
def test_statements_split_anywhere(seed, sales, faults, cuts, freq):
    rng = np.random.default_rng(seed)
    events = []
    for n in range(sales):
        payout = f"p{n // 4}" if n < sales - 2 else None
        events += sale(
            f"t{n}",
            payout,
            amount=int(rng.integers(100, 9_000)),
            fee=-int(rng.integers(0, 90)),
            vat=-int(rng.integers(0, 20)),
        )
        if payout and (n % 4 == 3 or n == sales - 3):
            events.append(("PAYOUT", -int(rng.integers(100, 20_000)), payout, None))
    rows = statement_rows(events, step=int(rng.integers(30, 3_000)))
    for _ in range(faults if rows else 0):
        rows[int(rng.integers(0, len(rows)))][str(rng.choice(["amount", "balance_after", "balance_before"]))] += 3
    if not rows:
        return
    frame = statements_frame(rows)
    cuts = sorted(min(c, len(frame)) for c in cuts)
    for name, options in (
        ("check_balances", {}),
        ("roll_forward", {"freq": freq}),
        ("payout_groups", {}),
        ("fee_breakdown", {"by": ("fee_type", "channel"), "freq": freq}),
    ):
        _compare(name, frame, cuts, **options)


def test_a_report_whose_records_are_dask_is_checked_against_its_opening():
    rng = np.random.default_rng(7)
    records = records_frame(rng, 30, ids=True, before=False, fees="both")
    opening = pd.DataFrame(
        {
            "shop_id": pd.array([1, 2, 3], dtype="Int64"),
            "currency": ["EUR", "EUR", "JPY"],
            "opening_balance": pd.array([1_000, 2_005, 3_000], dtype="Int64"),
        }
    )
    report = SimpleNamespace(records=records, opening_balance=opening)
    lazy = SimpleNamespace(records=split(records, [4, 9, 9, 22]), opening_balance=opening)
    pd.testing.assert_frame_equal(lk.check_balances(lazy), lk.check_balances(report))
    pd.testing.assert_frame_equal(lk.roll_forward(lazy, freq="D"), lk.roll_forward(report, freq="D"))
    assert lk.check_balances(lazy)["kind"].tolist() == ["chain_break"]


# ---------------------------------------------------------------- transactions


def transactions_frame(rows: int, repeat: tuple[int, int] | None = None) -> pd.DataFrame:
    number = np.arange(rows)
    frame = pd.DataFrame(
        {
            "id": pd.array(number + 1_000, dtype="Int64"),
            "uid": [f"u{n}" for n in number],
            "type": pd.Categorical(np.where(number % 7 == 0, "refund", "payment")),
            "status": pd.Categorical(np.where(number % 5 == 0, "failed", "successful")),
            "amount": pd.array(1_000 + number * 10, dtype="Int64"),
            "transaction_fee": pd.array(20 + number % 9, dtype="Int64"),
            "currency": pd.Categorical(np.where(number % 11 == 0, "USD", "EUR")),
            "credit_card.brand": pd.Categorical(np.where(number % 2 == 0, "visa", "master")),
            "created_at": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(number * 5, unit="h"),
        }
    )
    if repeat is not None:
        frame.loc[repeat[1], "id"] = frame.loc[repeat[0], "id"]
    return frame


@pytest.mark.parametrize("options", [{"by": "brand"}, {"by": ("brand", "type"), "freq": "W"}, {"by": ()}])
def test_fee_breakdown_of_transactions(options):
    _compare("fee_breakdown", transactions_frame(80), [10, 10, 45], **options)


def test_an_id_in_two_partitions_counts_once_and_is_named_by_its_whole_frame_rows():
    frame = transactions_frame(60, repeat=(3, 52))
    lazy = split(frame, [20, 40])
    _compare("fee_breakdown", frame, [20, 40], by="brand", invalid="drop")
    assert lk.fee_breakdown(lazy, by="brand", invalid="drop").attrs["dropped"]["frame"]["duplicated_ids"] == 1
    with pytest.raises(ConfigurationError) as pandas_error:
        lk.fee_breakdown(frame, by="brand")
    with pytest.raises(ConfigurationError) as dask_error:
        lk.fee_breakdown(lazy, by="brand")
    assert str(dask_error.value) == str(pandas_error.value)
    assert "at rows [3, 52]" in str(dask_error.value)


def test_missing_money_is_named_by_its_whole_frame_rows():
    frame = transactions_frame(60)
    frame.loc[[31, 33, 36, 37, 38, 39, 41], "transaction_fee"] = pd.NA
    with pytest.raises(ConfigurationError) as pandas_error:
        lk.fee_breakdown(frame, by="brand")
    with pytest.raises(ConfigurationError) as dask_error:
        lk.fee_breakdown(split(frame, [20, 37, 45]), by="brand")
    assert str(dask_error.value) == str(pandas_error.value)
    _compare("fee_breakdown", frame, [20, 37, 45], by="brand", invalid="drop")


def test_a_missing_balance_is_named_by_its_whole_frame_row(statements):
    frame = statements.copy()
    frame.loc[27, "balance_after"] = pd.NA
    for name in ("check_balances", "roll_forward"):
        with pytest.raises(ConfigurationError) as pandas_error:
            getattr(lk, name)(frame)
        with pytest.raises(ConfigurationError) as dask_error:
            getattr(lk, name)(split(frame, [5, 20]))
        assert str(dask_error.value) == str(pandas_error.value)


def test_reconcile_dask_transactions_with_dask_or_pandas_records():
    tx = transactions_frame(40)
    tx["type"] = tx["type"].astype(str)
    counted = tx[(tx["status"] == "successful")]
    sign = np.where(counted["type"] == "refund", -1, 1)
    records = pd.DataFrame(
        {
            "transaction_id": counted["id"].array,
            "transaction_uid": counted["uid"].array,
            "amount": pd.array(sign * counted["amount"].to_numpy(dtype="int64"), dtype="Int64"),
            "fee": counted["transaction_fee"].array,
            "currency": counted["currency"].astype(str).array,
            "transaction_type": counted["type"].array,
        }
    ).reset_index(drop=True)
    records.loc[3, "fee"] += 1
    records.loc[5, "transaction_id"] = pd.NA  # matched by uid
    expected = lk.reconcile_transactions(tx, records)
    pd.testing.assert_frame_equal(lk.reconcile_transactions(split(tx, [7, 30]), records), expected)
    pd.testing.assert_frame_equal(lk.reconcile_transactions(split(tx, [7]), split(records, [2, 2, 9])), expected)
    assert (expected["status"] == "fee_mismatch").sum() == 1


# ---------------------------------------------------------------- checks before any work


def _exploding(meta: pd.DataFrame) -> dd.DataFrame:
    return dd.from_map(_explode, [0, 1], meta=meta, enforce_metadata=False)


def _explode(_: int) -> pd.DataFrame:
    raise RuntimeError("a partition was computed")


@pytest.mark.parametrize(
    "name, drop, parameter",
    [
        ("fee_breakdown", "amount", "frame"),
        ("roll_forward", "balance_after", "statements"),
        ("check_balances", "balance_after", "statements"),
        ("payout_groups", "payout_id", "statements"),
    ],
)
def test_bad_columns_are_refused_from_the_meta_before_any_partition_is_read(statements, name, drop, parameter):
    lazy = _exploding(statements.drop(columns=drop).iloc[:0])
    with pytest.raises(ConfigurationError) as error:
        getattr(lk, name)(lazy)
    assert error.value.parameter.startswith(parameter)


def test_a_bad_argument_is_refused_before_any_partition_is_read(statements):
    lazy = _exploding(statements.iloc[:0])
    with pytest.raises(ConfigurationError, match="freq"):
        lk.roll_forward(lazy, freq="fortnight")
    with pytest.raises(ConfigurationError, match="by"):
        lk.fee_breakdown(lazy, by="nonsense")


def test_import_ledgerkit_does_not_import_dask_and_a_missing_extra_says_what_to_install(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        import ledgerkit as lk
        assert "dask" not in sys.modules, "import ledgerkit imported dask"
        sys.modules["dask"] = None  # as if the extra were not installed
        sys.modules["dask.dataframe"] = None
        try:
            lk.Store({str(tmp_path)!r}).dask("statements")
        except lk.ConfigurationError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "pip install 'ledgerkit[dask]'" in out.stdout


# ---------------------------------------------------------------- many accounts


def _accounts_frames():
    from .test_accounts import ACCOUNTS, both_reports, combined, statements_of, transactions_of

    statements = combined(
        {name: statements_of(name) for name in ACCOUNTS}, [0, 1, 9, 2, 10, 3, 4, 5, 11, 12, 13, 6, 7, 14, 8]
    )
    transactions = combined({name: transactions_of(name) for name in ACCOUNTS})
    return statements, transactions, both_reports()


@pytest.mark.parametrize("cuts", [[9], [3, 3, 8, 11], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]])
def test_two_accounts_with_colliding_chains_payouts_and_ids_give_the_pandas_result(cuts):
    statements, transactions, report = _accounts_frames()
    for name, options in (
        ("roll_forward", {"freq": "D"}),
        ("check_balances", {}),
        ("payout_groups", {}),
        ("fee_breakdown", {"by": ("fee_type", "channel"), "freq": "D"}),
    ):
        _compare(name, statements, cuts, **options)
    assert lk.check_balances(split(statements, cuts))[["account", "position"]].values.tolist() == [["lv-shop", 10]]
    lazy_report = SimpleNamespace(records=split(report.records, [2, 6]), opening_balance=report.opening_balance)
    for records in (lazy_report, report):
        pd.testing.assert_frame_equal(
            lk.reconcile_transactions(split(transactions, cuts[:2]), records),
            lk.reconcile_transactions(transactions, report),
        )
    pd.testing.assert_frame_equal(lk.roll_forward(lazy_report), lk.roll_forward(report))


def test_a_dask_frame_with_a_row_of_no_account_is_refused():
    statements = _accounts_frames()[0]
    statements.loc[4, "account"] = None
    with pytest.raises(ConfigurationError, match=r"statements\['account'\]='<NA> on 1 rows'"):
        lk.payout_groups(split(statements, [5]))


# ---------------------------------------------------------------- a real cluster


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit="1GiB",
        ) as local,
        Client(local) as client,
    ):
        yield client


@pytest.mark.slow
def test_the_sandbox_world_through_a_store_on_a_local_cluster(cluster, tmp_path):
    from distributed import get_task_stream

    from ledgerkit.sandbox import Sandbox

    with Sandbox(seed=3, size=1500) as sandbox:
        world = sandbox.world
        store = lk.Store(tmp_path)
        lk.load_statements(since=world.start.date(), progress=False, store=store, **sandbox.kwargs("statements"))
        lk.load_transactions(world.start, world.end, progress=False, store=store, **sandbox.kwargs("transactions"))
        currency = sorted({g["currency"] for g in world.gateways})[0]
        report = lk.load_balance_records(
            world.start,
            world.end,
            currency=currency,
            user_id=1,
            progress=False,
            poll_interval=(0.05, 0.2),
            **sandbox.kwargs("balance_records"),
        )
    statements, transactions = store.read("statements"), store.read("transactions")
    lazy_statements = store.dask("statements", rows_per_partition=500)
    lazy_transactions = store.dask("transactions", rows_per_partition=300)
    lazy_report = SimpleNamespace(
        records=dd.from_pandas(report.records, npartitions=3, sort=False), opening_balance=report.opening_balance
    )
    assert lazy_statements.npartitions > 3 and lazy_transactions.npartitions > 1
    with dask.config.set(scheduler=cluster.get), get_task_stream(client=cluster) as tasks:
        for name, options in (
            ("roll_forward", {"freq": "M"}),
            ("check_balances", {}),
            ("payout_groups", {}),
            ("fee_breakdown", {"by": ("fee_type", "channel")}),
        ):
            pd.testing.assert_frame_equal(
                getattr(lk, name)(lazy_statements, **options), getattr(lk, name)(statements, **options)
            )
        pd.testing.assert_frame_equal(
            lk.reconcile_transactions(lazy_transactions, lazy_report), lk.reconcile_transactions(transactions, report)
        )
    assert len({task["worker"] for task in tasks.data}) == 2  # the partitions were read and reduced on both workers


def test_balances_whose_sum_over_rows_passes_2_62_are_levels_on_dask_too(statements):
    """The bench's 50M rows: balances are compared, never added over rows, so their row total is no limit."""
    big = statements.copy()
    for column in ("balance_before", "balance_after"):
        big[column] = big[column] + 2**58
    assert float(big["balance_after"].astype("float64").abs().sum()) > 2**62
    for name, options in (("roll_forward", {"freq": "M"}), ("check_balances", {}), ("payout_groups", {})):
        _compare(name, big, [7, 19], **options)


# ---------------------------------------------------------------- repeats found by hashing


def _many_buckets(monkeypatch) -> None:
    """Repeats sought over many buckets of the hash space, merged two partitions at a time (as on big frames)."""
    from ledgerkit.analysis._dask import partials

    monkeypatch.setattr(partials, "_PARTS_PER_BUCKET", 1)
    monkeypatch.setattr(partials, "_FAN_IN", 2)


@pytest.mark.parametrize("cuts", CUTS)
def test_repeats_are_found_in_every_bucket_of_the_hash_space(statements, cuts, monkeypatch):
    """The repeated line and a line given twice in one partition: named as pandas names them, wherever they fall."""
    _many_buckets(monkeypatch)
    twice = pd.concat([statements, statements.iloc[[20]]], ignore_index=True)  # a repeat right after its first copy
    twice = twice.iloc[[*range(21), len(twice) - 1, *range(21, len(twice) - 1)]].reset_index(drop=True)
    _compare("check_balances", twice, cuts)
    bare = twice.drop(columns="row_id")
    _compare("check_balances", bare, cuts)


def test_repeated_hashes_are_exactly_the_hashes_on_two_rows_or_more(monkeypatch):
    from ledgerkit.analysis._dask.partials import repeated_hashes, row_hashes

    _many_buckets(monkeypatch)
    rng = np.random.default_rng(7)
    ids = pd.Series([f"id{n}" for n in rng.integers(0, 400, 600)], dtype="str")
    frame = pd.DataFrame({"id": ids, "currency": pd.Categorical(rng.choice(["EUR", "USD"], 600))})
    hashes = pd.Series(row_hashes(frame, ["currency", "id"]))
    expected = np.sort(hashes[hashes.duplicated()].unique())
    for cuts in ([], [1, 2, 300], list(range(0, 600, 37))):
        found = repeated_hashes(split(frame, cuts), ["currency", "id"])
        np.testing.assert_array_equal(found, expected)


def test_text_hashes_alike_whatever_its_dtype_and_missing_is_not_empty():
    """Equal strings hash alike in a str column (one Arrow chunk or several, sliced), an object or a category."""
    import pyarrow as pa

    from ledgerkit.analysis._dask.partials import row_hashes

    values = ["a", "", None, "ü-€", "a" * 300, "b", "a"]
    plain = row_hashes(pd.DataFrame({"x": pd.Series(values, dtype="str")}))
    chunked = pa.chunked_array([pa.array(values[:3], pa.large_string()), pa.array(values[3:], pa.large_string())])
    variants = [
        pd.Series(pd.array(chunked, dtype="str")),
        pd.Series(values, dtype=object),
        pd.Series(values, dtype="category"),
    ]
    for variant in variants:
        np.testing.assert_array_equal(row_hashes(pd.DataFrame({"x": variant})), plain)
    sliced = pd.Series(pd.array(chunked, dtype="str")).iloc[2:]
    np.testing.assert_array_equal(row_hashes(pd.DataFrame({"x": sliced})), plain[2:])
    assert plain[0] == plain[6] and len(set(plain[:6].tolist())) == 6 and plain[2] == 0
    mixed = row_hashes(pd.DataFrame({"x": pd.Series(["a", 1, None, 1], dtype=object)}))
    assert mixed[0] == plain[0] and mixed[1] == mixed[3] and mixed[2] == 0


#: Interleaved transactions: fee a, fee b, VAT b, fee c, VAT a (after the rest), VAT c.
INTERLEAVED = [
    ("INCOME", 10_000, "p", "a"),
    ("INCOME", 20_000, "p", "b"),
    ("TRX_FEE", -250, "p", "a"),
    ("TRX_FEE", -500, "p", "b"),
    ("VAT", -50, "p", "b"),
    ("TRX_FEE", -90, "p", "c"),
    ("VAT", -55, "p", "a"),
    ("INCOME", 5_000, "p", "c"),
    ("VAT", -18, "p", "c"),
]


def two_key_frame(lines) -> pd.DataFrame:
    """Statements from (type, transaction_id, transaction, amount) lines: fee and VAT lines cost 7 per unit."""
    events = [(kind, -7 * amount if kind != "INCOME" else 1_000, "p", tid) for kind, tid, _, amount in lines]
    rows = statement_rows(events)
    for row, (_, _, transaction, _) in zip(rows, lines, strict=True):
        row["transaction"] = transaction
    frame = statements_frame(rows)
    frame["transaction"] = frame["transaction"].astype("str")
    return frame


@pytest.mark.parametrize("cut", [1, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("by", ["fee_type", "channel"])
def test_a_vat_line_far_from_its_fee_in_another_partition_stays_with_it(cut, by):
    """Interleaved transactions (fee a, fee b, VAT a, VAT b; one VAT a row after the rest): pandas pairs
    each VAT with its own transaction's fee wherever it is, so Dask must too, wherever the cut falls."""
    frame = statements_frame(statement_rows(INTERLEAVED))
    _compare("fee_breakdown", frame, [cut], by=by)
    _compare("fee_breakdown", frame, [1, cut, 8], by=by)


@settings(max_examples=25, deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from(["INCOME", "TRX_FEE", "TRX_FEE_FIX", "CHARGEBACK_FEE", "VAT", "VAT"]),
            st.sampled_from([None, "a", "b", "c"]),  # transaction_id
            st.sampled_from([None, "T1", "T2"]),  # transaction
            st.integers(0, 3),  # amount 0 makes a zero VAT line
        ),
        min_size=1,
        max_size=24,
    ),
    cuts=st.lists(st.integers(0, 24), max_size=5),
    by=st.sampled_from(["fee_type", "channel", ("fee_type", "channel")]),
)
def test_vat_lines_pair_across_partitions_as_pandas_pairs_them(lines, cuts, by):
    """Fee and VAT lines tied by either key, in any order, cut anywhere: each VAT goes where pandas puts it."""
    frame = two_key_frame(lines)
    _compare("fee_breakdown", frame, sorted(min(c, len(frame)) for c in cuts), by=by)


@pytest.mark.parametrize("by", ["fee_type", ("fee_type", "channel")])
def test_a_vat_line_left_by_its_transaction_id_pairs_by_transaction_with_a_line_that_stayed(by):
    """Moved lines bring along the lines their other key ties them to: the VAT on two keys is decided whole.

    ``transaction_id`` a spans the cut, so its lines leave their partitions; the second VAT of a is left
    over by ``transaction_id`` and then taken by the fixed fee of ``transaction`` T1 -- a line in one
    partition, whose key spans nothing, that must be decided with them (as pandas does).
    """
    events = [
        ("TRX_FEE", -250, "p", "a"),
        ("INCOME", 10_000, "p", "a"),
        ("VAT", -50, "p", "a"),
        ("VAT", -11, "p", "a"),
        ("TRX_FEE_FIX", -30, "p", None),
    ]
    rows = statement_rows(events)
    for row, transaction in zip(rows, [None, None, None, "T1", "T1"], strict=True):
        row["transaction"] = transaction
    frame = statements_frame(rows)
    frame["transaction"] = frame["transaction"].astype("str")
    _compare("fee_breakdown", frame, [1], by=by)
    fix = lk.fee_breakdown(split(frame, [1]), by="fee_type").set_index("fee_type").loc["TRX_FEE_FIX"]
    assert (fix["fee"], fix["vat"]) == (30, 11)


def test_a_text_hashes_alike_alone_and_among_texts_of_other_lengths():
    """Strings are hashed by 8-byte words per length (read in place when all have one length) or, past 64
    bytes, byte by byte: a value's hash must not depend on the other values beside it."""
    import pyarrow as pa

    from ledgerkit.analysis._dask.partials import text_hashes

    values = ["", "a", "a\x00", "abcdefgh", "abcdefgh\x00", "x" * 64, "x" * 65, "é" * 40, "0123456789abcdef"]
    alone = [int(text_hashes(pa.array([v]))[0]) for v in values]
    assert len(set(alone)) == len(values) and 0 not in alone
    mixed = pa.chunked_array([pa.array(values[:4]), pa.array([None, *values[4:]])])
    assert text_hashes(mixed).tolist() == [*alone[:4], 0, *alone[4:]]
    assert text_hashes(pa.array(values[::-1]).slice(2)).tolist() == alone[::-1][2:]
    for value, expected in zip(values, alone, strict=True):  # one length: read in place
        assert set(text_hashes(pa.array([value] * 3).slice(1)).tolist()) == {expected}


@pytest.mark.parametrize(
    "options",
    [
        {"by": (), "freq": None},
        {"by": ("channel",), "freq": "M"},
        {"by": ("channel", "payout_id"), "freq": "D", "time": "paid"},
    ],
)
def test_a_partitions_volumes_are_those_of_pandas_on_its_income_rows(statements, options):
    """Dask fee_breakdown sums a partition's volume with one groupby: the same numbers, keys and dtypes as the
    pandas fee_breakdown of the income rows -- missing keys a group of their own, rows without an amount,
    currency or time left out as invalid="drop" leaves them."""
    from ledgerkit.analysis._dask.fees import _income, _volumes

    frame = pd.concat([statements, statements.iloc[::3]], ignore_index=True)
    frame["paid"] = frame["created"] + pd.Timedelta(hours=20)
    income = np.flatnonzero(frame["type"].eq("INCOME").to_numpy())
    frame.loc[income[[0, 3]], "amount"] = pd.NA
    frame.loc[income[5], "currency"] = pd.NA
    frame.loc[income[6], "paid"] = pd.NaT
    frame.loc[income[[1, 7]], "channel"] = pd.NA
    frame.loc[income[2], "payout_id"] = pd.NA
    settings_ = {"time": None, "invalid": "drop", **options}
    for part in (frame, frame.iloc[10:31]):
        expected = lk.fee_breakdown(_income(part), **settings_)
        got = _volumes(part, settings_, options["by"])
        assert len(got) > 1
        pd.testing.assert_frame_equal(got, expected[list(got.columns)])
    _compare("fee_breakdown", frame, [4, 10, 31], by=("channel", "fee_type"), freq="D", time="paid", invalid="drop")


# ---------------------------------------------------------------- fee_breakdown in one read: the partitions' edges


def _edges(monkeypatch, edge: int) -> list[int]:
    """Dask fee_breakdown with ``edge`` lines held back at each end of a partition; counts the second reads."""
    from ledgerkit.analysis._dask import fees

    monkeypatch.setattr(fees, "_EDGE", edge)
    reads: list[int] = []
    run = fees.run_partials
    monkeypatch.setattr(fees, "run_partials", lambda *a, **k: reads.append(1) or run(*a, **k))
    return reads


def _interleaved() -> pd.DataFrame:
    """:data:`INTERLEAVED`, then d's sale and a's chargeback fee with its VAT (a: lines everywhere)."""
    extra = [("TRX_FEE", -40, "p", "d"), ("VAT", -8, "p", "d"), ("CHARGEBACK_FEE", -700, "p", "a")]
    extra.append(("VAT", -140, "p", "a"))
    return statements_frame(statement_rows([*INTERLEAVED, *extra]))


@pytest.mark.parametrize("edge", [0, 1, 2, 3, 8])
@pytest.mark.parametrize("cuts", [[1], [3], [5], [6], [2, 7], [4, 9, 11], [1, 2, 3, 12]])
def test_fee_breakdown_in_one_read_or_two_wherever_the_edges_end(monkeypatch, edge, cuts):
    """A transaction cut by a partition's edge is caught there (one read) or found after (a second read):
    the same pandas result either way, and one read whenever the held edges hold every cut transaction."""
    reads = _edges(monkeypatch, edge)
    frame = _interleaved()
    _compare("fee_breakdown", frame, cuts, by="fee_type")
    _compare("fee_breakdown", frame, cuts, by=("fee_type", "channel"), freq="D")
    lines = frame.loc[frame["type"].ne("INCOME")]
    spread = pd.Series(np.searchsorted(cuts, lines.index, side="right"), index=lines.index)
    spanning = spread.groupby(lines["transaction_id"].to_numpy()).nunique().gt(1).any()
    if edge == 8:
        assert not reads  # every partition here has at most 16 fee and VAT lines: all held
    if edge == 0:
        assert len(reads) == (2 if spanning else 0)  # nothing held: a transaction cut is found after the read


def test_a_key_held_at_one_edge_and_staying_inside_another_partition_is_moved_everywhere(monkeypatch):
    """Transaction a's second VAT sits inside the second partition, away from its edges: a is held in the
    first partition and stays in the second -- found by the one-read check, and decided whole as pandas
    decides it (two fees, two VATs: in order; the first partition alone would pair its VAT by nearness)."""
    _many_buckets(monkeypatch)
    reads = _edges(monkeypatch, 1)
    events = [
        ("INCOME", 10_000, "p", "a"),
        ("TRX_FEE", -250, "p", "a"),
        ("TRX_FEE_FIX", -30, "p", "a"),
        ("VAT", -50, "p", "a"),
        *sale("b", "p"),
        ("VAT", -6, "p", "a"),
        *sale("c", "p"),
    ]
    frame = statements_frame(statement_rows(events))
    _compare("fee_breakdown", frame, [4], by="fee_type")
    assert len(reads) == 1
    found = lk.fee_breakdown(split(frame, [4]), by="fee_type").set_index("fee_type")["vat"]
    assert (found["TRX_FEE"], found["TRX_FEE_FIX"]) == (50 * 3, 6)  # a, b and c; the fixed fee: the late VAT


def test_sales_cut_at_partition_edges_are_decided_in_one_read(monkeypatch):
    """The bench's shape: fee and VAT lines of a sale on both sides of every cut. The edge line's whole
    transaction is held -- its lines inward too, and by the other key those of another transaction_id -- so
    no second read is needed, and the result is pandas'."""
    reads = _edges(monkeypatch, 1)
    events = []
    for n in range(8):
        events += sale(f"t{n}", "p", fee=-(100 + n), vat=-(10 + n))
    events[4:4] = [("TRX_FEE_FIX", -7, "p", "t1")]  # t1: a fixed fee, then its TRX_FEE and one VAT
    rows = statement_rows(events)
    for row in rows:
        row["transaction"] = {"t3": "T", "t4": "T"}.get(row["transaction_id"])
    rows[12]["transaction_id"] = None  # t3's VAT: tied to its fee by transaction T only
    frame = statements_frame(rows)
    frame["transaction"] = frame["transaction"].astype("str")
    for cuts in ([5], [3, 11], [5, 12, 15], [2, 4, 6, 8, 10, 14, 17, 20]):
        _compare("fee_breakdown", frame, cuts, by="fee_type")
    assert not reads


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from(["INCOME", "TRX_FEE", "TRX_FEE_FIX", "CHARGEBACK_FEE", "VAT", "VAT"]),
            st.sampled_from([None, "a", "b", "c", "d"]),  # transaction_id
            st.sampled_from([None, "T1", "T2"]),  # transaction
            st.integers(0, 3),  # amount 0 makes a zero VAT line
        ),
        min_size=1,
        max_size=30,
    ),
    cuts=st.lists(st.integers(0, 30), max_size=5),
    edge=st.integers(0, 3),
)
def test_vat_lines_pair_across_partitions_whatever_the_held_edges(monkeypatch, lines, cuts, edge):
    """Both keys, any order, cut anywhere, any number of lines held at the edges: pandas' pairing."""
    _edges(monkeypatch, edge)
    frame = two_key_frame(lines)
    _compare("fee_breakdown", frame, sorted(min(c, len(frame)) for c in cuts), by="fee_type")


# ---------------------------------------------------------------- check_balances in one read


@pytest.mark.parametrize("cuts", CUTS)
def test_check_balances_reads_once_unless_a_row_may_repeat_one_of_another_partition(statements, cuts, monkeypatch):
    """Repeats within a partition are settled there (one read); a repeat across partitions, found after the
    read, sends the frame through the check of repeats over the whole frame first (a second read)."""
    from ledgerkit.analysis._dask import breaks

    _many_buckets(monkeypatch)
    reads: list[int] = []
    run = breaks.run_partials
    monkeypatch.setattr(breaks, "run_partials", lambda *a, **k: reads.append(1) or run(*a, **k))
    alone = statements.drop_duplicates("row_id", ignore_index=True)
    here = pd.concat([alone.iloc[:3], alone.iloc[[1]], alone.iloc[3:]], ignore_index=True)  # a repeat beside its row
    far = pd.concat([alone, alone.iloc[[2]]], ignore_index=True)  # row 2 again at the end: another partition

    def apart(i: int, j: int) -> bool:
        return bool(np.searchsorted(cuts, i, side="right") != np.searchsorted(cuts, j, side="right"))

    for frame, second in ((alone, False), (here, apart(1, 3)), (far, apart(2, len(far) - 1))):
        _compare("check_balances", frame, cuts)
        _compare("check_balances", frame.drop(columns="row_id"), cuts)
        assert len(reads) == 2 * second
        reads.clear()


@pytest.mark.parametrize("bad", [[63], [63, 100], [40, 41, 63, 64, 65, 66, 100]])
def test_a_missing_amount_behind_held_lines_is_named_by_its_whole_frame_row(bad):
    """Rows held back at a partition's edge do not shift the row numbers of the rows that stayed."""
    events = [event for n in range(40) for event in sale(f"t{n}", "p")]
    frame = statements_frame(statement_rows(events))
    frame.loc[bad, "amount"] = pd.NA  # income, fee and VAT rows deep inside their partitions
    with pytest.raises(ConfigurationError) as pandas_error:
        lk.fee_breakdown(frame, by="fee_type")
    for cuts in ([30], [31, 90]):
        with pytest.raises(ConfigurationError) as dask_error:
            lk.fee_breakdown(split(frame, cuts), by="fee_type")
        assert str(dask_error.value) == str(pandas_error.value)
        _compare("fee_breakdown", frame, cuts, by="fee_type", invalid="drop")
