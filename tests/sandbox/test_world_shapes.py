"""The sandbox world's time shapes.

The default world untouched, sparse and burst spread as named, every chain intact.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, defaultdict
from datetime import timedelta

import orjson
import pytest

import ledgerkit as lk
from ledgerkit.errors import ConfigurationError
from ledgerkit.sandbox import Sandbox
from ledgerkit.sandbox.__main__ import build_parser
from ledgerkit.sandbox.world import WORLD_END, WORLD_START, World
from ledgerkit.sandbox.world_shapes import BURST_AT, BURST_SECONDS, SPARSE_START

#: Digests of the default worlds as drawn before shapes existed (notebook outputs are pinned to them).
DEFAULT_WORLD = "6175a8ce12f5c558d5a37b0311a9679eaa17642654d46c12de9630bef29d0642"
SEED_3_OF_500 = "c0c7254a082228450f6f05e24e744bd21a868e0596e25765ad3f18d4b3ce14d5"
TX_TIMES = ("created_at", "paid_at", "settled_at", "manually_corrected_at")


def digest(world: World) -> str:
    parts = [
        world.transactions,
        world.balance_records,
        world.opening_balances,
        world.statements,
        world.payouts,
        world.planted,
        world.shops,
        world.psp,
        world.mc_shop,
        [world.start, world.end],
    ]
    return hashlib.sha256(orjson.dumps(parts, default=str, option=orjson.OPT_NON_STR_KEYS)).hexdigest()


@pytest.fixture(scope="module")
def sparse() -> World:
    return World.generate(seed=0, n_transactions=2000, shape="sparse")


@pytest.fixture(scope="module")
def burst() -> World:
    return World.generate(seed=0, n_transactions=3000, shape="burst")


def every_time(world: World) -> list:
    times = [t[f] for t in world.transactions for f in TX_TIMES if t[f] is not None]
    return times + [r["created_at"] for r in world.balance_records] + [s["created"] for s in world.statements]


def test_the_default_world_is_byte_identical():
    assert digest(World.generate()) == DEFAULT_WORLD
    assert digest(World.generate(seed=3, n_transactions=500, shape="uniform")) == SEED_3_OF_500


@pytest.mark.parametrize("shape", ["sparse", "burst"])
def test_a_shaped_world_is_a_function_of_its_seed(shape):
    first, second = (World.generate(seed=7, n_transactions=300, shape=shape) for _ in range(2))
    assert digest(first) == digest(second)
    assert digest(first) != digest(World.generate(seed=7, n_transactions=300))


def test_sparse_spreads_evenly_over_two_years(sparse):
    assert (sparse.start, sparse.end) == (SPARSE_START, WORLD_END)
    assert len(sparse.transactions) == 2000
    span = WORLD_END - SPARSE_START
    eighths = Counter(int((t["created_at"] - SPARSE_START) / span * 8) for t in sparse.transactions)
    assert sorted(eighths) == list(range(8))
    assert min(eighths.values()) > 150  # 250 expected in each


def test_burst_puts_most_rows_inside_its_hour_and_some_around_it(burst):
    assert (burst.start, burst.end) == (WORLD_START, WORLD_END)
    hour_end = BURST_AT + timedelta(seconds=BURST_SECONDS)
    where = Counter(
        "before" if t["created_at"] < BURST_AT else "inside" if t["created_at"] < hour_end else "after"
        for t in burst.transactions
    )
    assert where["inside"] / len(burst.transactions) > 0.85
    assert where["before"] > 0 and where["after"] > 0


@pytest.mark.parametrize("name", ["sparse", "burst"])
def test_every_time_lies_inside_the_world(request, name):
    world = request.getfixturevalue(name)
    times = every_time(world)
    assert world.start <= min(times) and max(times) < world.end


@pytest.mark.parametrize("name", ["sparse", "burst"])
def test_ids_ascend_with_creation_and_follow_ups_come_after_their_parent(request, name):
    world = request.getfixturevalue(name)
    txns = world.transactions
    assert [t["id"] for t in txns] == sorted(t["id"] for t in txns)
    assert all(a["created_at"] <= b["created_at"] for a, b in itertools.pairwise(txns))
    assert all(t["created_at"] <= t["paid_at"] for t in txns if t["paid_at"] is not None)
    created = {t["uid"]: t["created_at"] for t in txns}
    children = [t for t in txns if t["parent_uid"] is not None]
    assert children and all(created[t["parent_uid"]] <= t["created_at"] for t in children)


@pytest.mark.parametrize("name", ["sparse", "burst"])
def test_balance_records_chain_per_account_from_the_opening_balance(request, name):
    world = request.getfixturevalue(name)
    chains = defaultdict(list)
    for record in world.balance_records:
        chains[world.book.key_of(record)].append(record)
    assert sum(map(len, chains.values())) > 0
    for key, records in chains.items():
        balance = world.book.opening[key]
        for r in records:
            assert (r["balance_before"], r["balance_after"]) == (balance, balance + r["net"])
            balance = r["balance_after"]


@pytest.mark.parametrize("name", ["sparse", "burst"])
def test_statements_chain_and_payouts_explain_their_rows(request, name):
    world = request.getfixturevalue(name)
    balance = world.mc_opening_balance
    for row in world.statements:
        assert (row["balance_before"], row["balance_after"]) == (balance, balance + row["amount"])
        balance = row["balance_after"]
    paid = defaultdict(int)
    for row in world.statements:
        if row["type"] != "PAYOUT" and row.get("payout_id"):
            paid[row["payout_id"]] += row["amount"]
    assert world.payouts and all(p["amount"] == -paid[p["payout_id"]] for p in world.payouts)


@pytest.mark.parametrize("shape", ["wavy", None, 3])
def test_an_unknown_shape_is_refused_naming_the_choices(shape):
    with pytest.raises(ConfigurationError, match="shape") as caught:
        World.generate(seed=0, n_transactions=100, shape=shape)
    assert caught.value.parameter == "shape" and "'burst'" in caught.value.expected
    with pytest.raises(ConfigurationError, match="shape"):
        Sandbox(size=100, shape=shape)


def test_the_command_line_takes_a_shape():
    assert build_parser().parse_args([]).shape == "uniform"
    assert build_parser().parse_args(["--shape", "sparse"]).shape == "sparse"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--shape", "wavy"])


@pytest.mark.parametrize(
    "shape, period", [("burst", ("2025-01-01", "2025-04-01")), ("sparse", ("2023-04-01", "2025-04-01"))]
)
@pytest.mark.parametrize("workers", [1, 4])
def test_a_pull_over_a_shaped_world_gets_exactly_the_shop_rows(shape, period, workers):
    with Sandbox(seed=1, size=400, page_size=25, shape=shape) as sb:
        df = lk.load_transactions(
            *period,
            payment_method_type=("credit_card", "alternative"),
            max_workers=workers,
            progress=False,
            **sb.kwargs("transactions"),
        )
        expected = [t["id"] for t in sb.world.shop_transactions(sb.world.shops[0]["id"])]
    assert df["id"].tolist() == expected
