"""Store.dask: the stored rows as a lazy Dask DataFrame -- the rows and dtypes of Store.read, by account and month."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import dask
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ledgerkit as lk
from ledgerkit.errors import ConfigurationError, StoreError
from ledgerkit.loaders import load_statements, load_transactions
from ledgerkit.sandbox.server import Sandbox
from ledgerkit.store import Store

PERIOD = ("2025-01-01", "2025-04-01")


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="sync"):
        yield


def load_tx(sb, **kw):
    return load_transactions(*PERIOD, progress=False, **sb.kwargs("transactions"), **kw)


def load_st(sb, **kw):
    return load_statements(since="2025-01-01", progress=False, **sb.kwargs("statements"), **kw)


@pytest.fixture(scope="module")
def sandbox_of_store():
    with Sandbox(seed=0, size=200, page_size=20, per_page_default=10, per_page_max=100, report_seconds=0.05) as sb:
        yield sb


@pytest.fixture(scope="module")
def store(sandbox_of_store, tmp_path_factory):
    """Transactions loaded twice (the second re-reads a stretch: ids stored twice) and statements (read only)."""
    sb = sandbox_of_store
    store = Store(tmp_path_factory.mktemp("store"))
    load_tx(sb, store=store)
    sb.world.add_transactions(3, within=(datetime(2025, 3, 30, tzinfo=UTC), datetime(2025, 3, 31, tzinfo=UTC)))
    load_tx(sb, store=store)
    load_st(sb, store=store)
    sb.world.append_statements(5)
    load_st(sb, store=store)
    return store


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("id", kind="stable", ignore_index=True)


def same(lazy: pd.DataFrame, eager: pd.DataFrame) -> None:
    """Equal values and dtypes; a category column's categories may come in another order (one set per partition)."""
    pd.testing.assert_frame_equal(lazy, eager, check_categorical=False)
    assert all(
        str(a) == str(b) or (a == "category" and b == "category")
        for a, b in zip(lazy.dtypes, eager.dtypes, strict=True)
    )


@pytest.mark.parametrize("rows_per_partition", [1_000_000, 40])
def test_the_same_rows_and_dtypes_as_read(store, rows_per_partition):
    statements = store.dask("statements", rows_per_partition=rows_per_partition)
    transactions = store.dask("transactions", rows_per_partition=rows_per_partition)
    same(statements.compute().reset_index(drop=True), store.read("statements"))
    same(by_id(transactions.compute()), store.read("transactions"))
    assert not transactions["id"].compute().duplicated().any()
    months = {p.parent.name for p in (store.path / "transactions").rglob("*.parquet")}
    assert transactions.npartitions >= len(months)
    if rows_per_partition == 40:
        assert statements.npartitions > len(months)  # months cut where no line can be in two pieces


def test_partitions_follow_accounts_and_months(store):
    statements = store.dask("statements")
    months = [
        part["created"].dt.strftime("%Y-%m").unique().tolist()
        for part in (statements.get_partition(i).compute() for i in range(statements.npartitions))
    ]
    assert all(len(m) == 1 for m in months) and [m[0] for m in months] == sorted(m[0] for m in months)


def test_a_window_and_an_account_read_as_read_does(store, sandbox_of_store):
    got = store.dask("transactions", start="2025-02-01", end="2025-03-01").compute()
    same(by_id(got), store.read("transactions", start="2025-02-01", end="2025-03-01"))
    account = sandbox_of_store.credentials["statements"].user
    same(
        store.dask("statements", account=account).compute().reset_index(drop=True),
        store.read("statements", account=account),
    )
    assert len(store.dask("statements", account="nobody").compute()) == 0


def test_only_the_asked_columns_are_read(store):
    transactions = store.dask("transactions")
    assert int(transactions["amount"].sum().compute()) == int(store.read("transactions")["amount"].sum())
    assert list(transactions[["id", "currency"]].compute().columns) == ["id", "currency"]


def test_the_analysis_of_store_dask_equals_the_analysis_of_store_read(store):
    lazy, eager = store.dask("statements", rows_per_partition=40), store.read("statements")
    for name, options in (
        ("roll_forward", {"freq": "W"}),
        ("check_balances", {}),
        ("payout_groups", {}),
        ("fee_breakdown", {"by": ("fee_type", "channel"), "freq": "M"}),
    ):
        pd.testing.assert_frame_equal(getattr(lk, name)(lazy, **options), getattr(lk, name)(eager, **options))
    pd.testing.assert_frame_equal(
        lk.fee_breakdown(store.dask("transactions", rows_per_partition=40), by="brand"),
        lk.fee_breakdown(store.read("transactions"), by="brand"),
    )


def test_an_empty_store_is_one_empty_partition_with_the_loader_columns(tmp_path):
    frame = Store(tmp_path).dask("transactions")
    same(frame.compute(), Store(tmp_path).read("transactions"))


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"source": "balance_records"}, "source"),
        ({"source": "nope"}, "source"),
        ({"source": "statements", "rows_per_partition": 0}, "rows_per_partition"),
        ({"source": "statements", "rows_per_partition": True}, "rows_per_partition"),
        ({"source": "statements", "start": "yesterday-ish"}, "start"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, parameter):
    with pytest.raises(ConfigurationError) as error:
        Store(tmp_path).dask(**kwargs)
    assert error.value.parameter == parameter


def test_a_listed_part_that_is_missing_is_a_store_error(fresh_sandbox, tmp_path):
    store = Store(tmp_path)
    load_st(fresh_sandbox, store=store)
    (state,) = store.manifest("statements")
    (store.path / state["directory"] / state["parts"][-1]).unlink()
    with pytest.raises(StoreError, match="missing"):
        store.dask("statements")


@pytest.fixture(scope="module")
def two_account_store(tmp_path_factory):
    """Two shops' transactions and two MakeCommerce accounts' statements (two sandboxes) in one store."""
    store = Store(tmp_path_factory.mktemp("two-accounts"))
    with Sandbox(seed=0, size=200, page_size=20) as a, Sandbox(seed=1, size=200, page_size=20) as b:
        shops = a.world.shops[:2]
        for shop in shops:
            kw = {**a.kwargs("transactions"), "shop_id": str(shop["id"]), "secret_key": str(shop["secret"])}
            load_transactions(*PERIOD, progress=False, store=store, **kw)
        for sb in (a, b):
            load_st(sb, store=store)
        accounts = {
            "transactions": sorted(str(s["id"]) for s in shops),
            "statements": sorted(str(sb.world.mc_shop["id"]) for sb in (a, b)),
        }
    return store, accounts


@pytest.mark.parametrize("source", ["transactions", "statements"])
def test_rows_of_several_accounts_carry_their_account_and_each_equals_that_account_alone(two_account_store, source):
    store, accounts = two_account_store
    assert len(set(accounts[source])) == 2
    both = store.read(source)
    assert list(both.columns[:1]) == ["account"] and list(both["account"].cat.categories) == accounts[source]
    for account in accounts[source]:
        alone = store.read(source, account=account)
        mine = both[both["account"] == account].drop(columns="account").reset_index(drop=True)
        others = [c for c in mine.columns if c not in alone.columns]  # the other account's optional columns
        assert mine[others].isna().all().all()
        same(mine[list(alone.columns)], alone)  # a category's categories are the union over both accounts
        assert len(alone) > 0
    lazy = store.dask(source, rows_per_partition=40).compute().reset_index(drop=True)
    if source == "transactions":
        lazy = lazy.sort_values(["account", "id"], kind="stable", ignore_index=True)
    same(lazy, both)


def test_the_analysis_of_two_stored_accounts_keeps_them_apart(two_account_store):
    store, accounts = two_account_store
    both, lazy = store.read("statements"), store.dask("statements", rows_per_partition=40)
    rolled = lk.roll_forward(both, freq="M")
    assert sorted(rolled["account"].astype(str).unique()) == accounts["statements"]
    assert lk.check_balances(both).empty  # two chains, each whole: concatenated as one they would break
    for account in accounts["statements"]:
        alone = lk.roll_forward(store.read("statements", account=account), freq="M")
        mine = rolled[rolled["account"] == account].drop(columns="account").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone)
    pd.testing.assert_frame_equal(lk.roll_forward(lazy, freq="M"), rolled)
    pd.testing.assert_frame_equal(lk.payout_groups(lazy), lk.payout_groups(both))


def test_first_copies_of_ids_read_in_several_arrow_chunks():
    """A partition's ids come from Parquet in chunks: each id's first row is kept, as on one chunk."""
    import pyarrow as pa

    from ledgerkit.store.lazy import _first_copies

    values = ["a", "b", None, "a", "c", None, "b", "d"]
    chunked = pa.chunked_array([pa.array(values[:3]), pa.array(values[3:6]), pa.array(values[6:])])
    ids = pd.Series(pd.array(chunked, dtype="str"))
    assert ids.array.__arrow_array__().num_chunks == 3
    assert _first_copies(ids).tolist() == [0, 1, 2, 4, 7]
    assert _first_copies(pd.Series(values, dtype="str")).tolist() == [0, 1, 2, 4, 7]


def chunked_ids(values: list, cuts: tuple[int, ...] = ()) -> pd.Series:
    """``values`` as an Arrow-backed ``str`` column read in chunks cut at ``cuts``, as Parquet gives it."""
    import pyarrow as pa

    bounds = [0, *sorted(c for c in cuts if 0 < c < len(values)), len(values)]
    chunks = [pa.array(values[a:b], type=pa.string()) for a, b in itertools.pairwise(bounds)]
    return pd.Series(pd.array(pa.chunked_array(chunks, type=pa.string()), dtype="str"))


def first_rows(ids: pd.Series) -> list[int]:
    """What ``_first_copies`` must give: pandas' first row of each id (missing ids equal each other)."""
    return [int(i) for i in (~ids.duplicated(keep="first")).to_numpy().nonzero()[0]]


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.text(alphabet="ab~é\x00", max_size=19)), max_size=60),
    cuts=st.tuples(st.integers(0, 60), st.integers(0, 60)),
)
def test_first_copies_are_those_of_pandas_whatever_the_ids(values, cuts):
    """Ids of many lengths (the empty one, 8 and 16 bytes: word edges), repeated, missing, in chunks."""
    from ledgerkit.store.lazy import _first_copies

    ids = chunked_ids(values, cuts)
    assert _first_copies(ids).tolist() == first_rows(ids)


def test_first_copies_never_trust_a_hash_alone(monkeypatch):
    """Ids whose hashes collide (all of them, here) are compared by value: no distinct id is dropped."""
    import numpy as np

    from ledgerkit.store import lazy

    ids = chunked_ids(["a", "b", "a", None, "c", None, "bb", "b"], (3,))
    monkeypatch.setattr(lazy, "_id_hashes", lambda values: np.zeros(len(values), dtype="uint64"))
    assert lazy._first_copies(ids).tolist() == [0, 1, 3, 4, 6]


def test_first_copies_of_ids_of_one_length_and_of_many_lengths():
    """One length (store ids: read without a gather), a few, and many (longer than hashed by words too)."""
    from ledgerkit.store import lazy

    one = chunked_ids([f"{i % 997:08x}" for i in range(3_000)], (1_000, 2_500))
    few = chunked_ids([f"r{i % 1_500}" for i in range(3_000)])
    many = chunked_ids(["x" * (i % 101) for i in range(300)] + ["y"])
    for ids in (one, few, many):
        assert lazy._first_copies(ids).tolist() == first_rows(ids)
    assert lazy._first_copies(one).tolist() == list(range(997))
    assert lazy._first_copies(many).tolist() == [*range(101), 300]
