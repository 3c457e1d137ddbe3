"""The sandbox world: deterministic, varied, and tying out exactly everywhere."""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ledgerkit.errors import ConfigurationError
from ledgerkit.sandbox.world import World
from ledgerkit.sandbox.world_transactions import MONEY_SIGN, PERCENT_FEE_TYPES

MONEY_TYPES = set(MONEY_SIGN)


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(seed=0, n_transactions=3000)


@pytest.fixture(scope="module")
def default_world() -> World:
    """What the sandbox, the demo and the notebooks serve."""
    return World.generate(seed=0)


@pytest.fixture
def fresh() -> World:
    return World.generate(seed=7, n_transactions=400)


def account_key(row: dict) -> tuple:
    return row["merchant_id"], row["shop_id"], row["gateway_id"], row["currency"]


# -- determinism ------------------------------------------------------------------


def test_same_seed_gives_the_same_world():
    a, b = World.generate(seed=11, n_transactions=300), World.generate(seed=11, n_transactions=300)
    assert a.transactions == b.transactions
    assert a.balance_records == b.balance_records
    assert a.opening_balances == b.opening_balances
    assert a.statements == b.statements and a.payouts == b.payouts
    assert (a.psp, a.shops, a.mc_shop) == (b.psp, b.shops, b.mc_shop)
    assert a.planted == b.planted


def test_other_seed_gives_another_world():
    a, b = World.generate(seed=11, n_transactions=300), World.generate(seed=12, n_transactions=300)
    assert [t["uid"] for t in a.transactions] != [t["uid"] for t in b.transactions]
    assert [t["amount"] for t in a.transactions] != [t["amount"] for t in b.transactions]
    assert a.statements != b.statements
    assert a.shops[0]["secret"] != b.shops[0]["secret"]


# -- transactions -------------------------------------------------------------------


def test_exactly_n_transactions_in_ascending_id_order(world):
    ids = [t["id"] for t in world.transactions]
    assert len(ids) == 3000
    assert all(a < b for a, b in itertools.pairwise(ids))


def test_transactions_have_the_seed_shape(world):
    top = {
        "billing_address",
        "customer",
        "payment",
        "credit_card",
        "shop",
        "gateway_note",
        "uid",
        "id",
        "payment_method_type",
        "status",
        "message",
        "amount",
        "discount_rate",
        "transaction_rate",
        "pay_to_merchant",
        "transaction_fee",
        "test",
        "currency",
        "description",
        "tracking_id",
        "type",
        "order_id",
        "created_at",
        "paid_at",
        "settled_at",
        "manually_corrected_at",
        "additional_data",
        "three_d_secure_verification",
        "parent_uid",
    }
    for t in world.transactions:
        extra = {"alternative"} if t["payment_method_type"] == "alternative" else set()
        assert set(t) == top | extra
        assert set(t["additional_data"]) == {"request_id", "browser", "vendor", "tdsecure", "avs_cvc"}
        assert len(t["credit_card"]) == 11 and len(t["billing_address"]) == 9 and len(t["payment"]) == 9
        assert len(t["additional_data"]["tdsecure"]) == 14 and len(t["three_d_secure_verification"]) == 8
        assert isinstance(t["amount"], int) and isinstance(t["transaction_fee"], float)
        assert t["transaction_fee"] == int(t["transaction_fee"]) and t["pay_to_merchant"] == int(t["pay_to_merchant"])
        for name in ("created_at", "paid_at", "settled_at", "manually_corrected_at"):
            value = t[name]
            assert value is None or (value.tzinfo is UTC and value.microsecond == 0)
        assert world.start <= t["created_at"] < world.end


def test_alternative_methods_have_a_null_card_and_an_alternative_object(world):
    alternative = [t for t in world.transactions if t["payment_method_type"] == "alternative"]
    assert alternative
    for t in alternative:
        assert all(v is None for v in t["credit_card"].values())
        assert t["alternative"]["method"] in {"ideal", "knet", "bancontact"}
        assert len(t["alternative"]["account_country"]) == 2
    assert {t["alternative"]["method"] for t in alternative} == {"ideal", "knet", "bancontact"}


def test_required_variety(world):
    txns = world.transactions
    assert {t["currency"] for t in txns} == {"EUR", "USD", "JPY", "KWD"}
    assert {
        "payment",
        "authorization",
        "capture",
        "void",
        "refund",
        "chargeback",
        "credit",
        "payout",
        "tokenization",
    } <= {t["type"] for t in txns}
    assert {t["status"] for t in txns} == {"successful", "failed", "incomplete", "pending", "error"}
    assert {"visa", "master", "amex", "jcb"} <= {t["credit_card"]["brand"] for t in txns}
    assert len({t["credit_card"]["issuer_country"] for t in txns} - {None}) >= 5
    assert {g["currency"] for g in world.gateways} == {"EUR", "USD", "JPY", "KWD"}
    assert len(world.merchants) >= 2 and len(world.shops) >= 3


def test_uids_come_in_both_forms_old_first(world):
    old = re.compile(r"^\d{5}-[0-9a-f]{10}$")
    new = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    forms = ["old" if old.match(t["uid"]) else "new" if new.match(t["uid"]) else "bad" for t in world.transactions]
    assert "bad" not in forms
    first_new = forms.index("new")
    assert first_new > 0 and "old" not in forms[first_new:]
    assert len({t["uid"] for t in world.transactions}) == len(world.transactions)


def test_follow_ups_refer_to_an_earlier_parent(world):
    by_uid = {t["uid"]: t for t in world.transactions}
    parents = {
        "capture": {"authorization"},
        "void": {"authorization"},
        "refund": {"payment", "capture"},
        "chargeback": {"payment", "capture"},
    }
    for t in world.transactions:
        if t["type"] in parents:
            parent = by_uid[t["parent_uid"]]
            assert parent["type"] in parents[t["type"]] and parent["status"] == "successful"
            assert parent["id"] < t["id"] and parent["created_at"] < t["created_at"]
            assert t["amount"] <= parent["amount"] and t["shop"]["id"] == parent["shop"]["id"]
        else:
            assert t["parent_uid"] is None


def test_paid_and_settled_only_for_successful_money_movers(world):
    for t in world.transactions:
        moves = t["status"] == "successful" and t["type"] in MONEY_TYPES
        assert (t["paid_at"] is not None) == moves
        if t["settled_at"] is not None:
            assert moves and timedelta(hours=3) <= t["settled_at"] - t["paid_at"] < timedelta(days=3)
    assert sum(t["settled_at"] is not None for t in world.transactions) > 100


def test_fees_follow_the_schedule_except_the_planted_ones(world):
    off = {t["id"]: t for t in world.transactions if int(t["transaction_fee"]) != world.expected_fee(t)}
    assert set(off) == world.off_schedule_ids == set(world.planted["off_schedule_ids"])
    assert 5 <= len(off) <= 10
    for t in off.values():
        assert t["type"] in PERCENT_FEE_TYPES and t["status"] == "successful"
        assert int(t["transaction_fee"]) - world.expected_fee(t) >= 20


def test_fee_rules_by_type(world):
    for t in world.transactions:
        fee = int(t["transaction_fee"])
        percent, fixed = world.fee_schedule[(t["payment"]["gateway_id"], t["credit_card"]["brand"])]
        if t["status"] != "successful" or t["type"] not in MONEY_TYPES:
            assert fee == 0 and t["pay_to_merchant"] == 0
        elif t["type"] in ("refund", "chargeback", "credit", "payout"):
            assert fee == fixed and t["pay_to_merchant"] == -(t["amount"] + fee)
        else:
            assert t["pay_to_merchant"] == t["amount"] - fee
            if t["id"] not in world.off_schedule_ids:
                assert t["discount_rate"] == float(percent)


def test_a_known_fee_exactly(world):
    # 1.40 % of 98.92 EUR = 1.38488 -> 1.38, plus 0.25 fixed
    t = next(
        t
        for t in world.transactions
        if t["payment"]["gateway_id"] == 301
        and t["credit_card"]["brand"] == "visa"
        and t["type"] == "payment"
        and t["status"] == "successful"
        and t["id"] not in world.off_schedule_ids
    )
    percent, fixed = world.fee_schedule[(301, "visa")]
    assert (percent, fixed) == (Decimal("1.40"), 25)
    expected = int((Decimal(t["amount"]) * Decimal("1.40") / 100).quantize(Decimal(1), "ROUND_HALF_EVEN")) + 25
    assert int(t["transaction_fee"]) == expected


def test_eur_card_mix_moves_to_the_dearer_gateway_in_march(world):
    march = datetime(2025, 3, 1, tzinfo=UTC)
    eur_cards = [
        t
        for t in world.transactions
        if t["currency"] == "EUR" and t["payment_method_type"] == "credit_card" and t["type"] == "payment"
    ]
    before = Counter(t["payment"]["gateway_id"] for t in eur_cards if t["created_at"] < march)
    after = Counter(t["payment"]["gateway_id"] for t in eur_cards if t["created_at"] >= march)
    assert before[302] == 0 and before[301] > 0
    assert 0.3 < after[302] / (after[301] + after[302]) < 0.6
    assert all(
        world.fee_schedule[(302, b)][0] > world.fee_schedule[(301, b)][0] for b in ("visa", "master", "amex", "maestro")
    )


def test_manually_corrected_ones_are_marked(world):
    corrected = {t["id"] for t in world.transactions if t["manually_corrected_at"] is not None}
    assert corrected == world.manually_corrected_ids and 3 <= len(corrected) <= 10
    for t in world.transactions:
        if t["id"] in corrected:
            assert t["created_at"] < t["manually_corrected_at"] < world.end


# -- balance records ------------------------------------------------------------------


def test_one_record_per_money_moving_transaction_agreeing_with_it(world):
    moving = {t["id"]: t for t in world.transactions if t["status"] == "successful" and t["type"] in MONEY_TYPES}
    records = world.balance_records
    assert sorted(r["transaction_id"] for r in records) == sorted(moving)
    for r in records:
        t = moving[r["transaction_id"]]
        assert r["transaction_uid"] == t["uid"] and r["transaction_type"] == t["type"]
        assert r["amount"] == MONEY_SIGN[t["type"]] * t["amount"] and r["fee"] == int(t["transaction_fee"])
        assert r["net"] == r["amount"] - r["fee"] == int(t["pay_to_merchant"])
        assert r["created_at"] == t["paid_at"] and r["currency"] == t["currency"]
        assert (r["shop_id"], r["gateway_id"]) == (t["shop"]["id"], t["payment"]["gateway_id"])


def test_records_are_chained_per_account_from_the_opening_balance(world):
    opening = {account_key(o): o["opening_balance"] for o in world.opening_balances}
    balance = dict(opening)
    order = [(r["created_at"], r["record_id"]) for r in world.balance_records]
    assert order == sorted(order) and len({r["record_id"] for r in world.balance_records}) == len(order)
    for r in world.balance_records:
        key = account_key(r)
        assert r["balance_before"] == balance[key]
        assert r["balance_after"] == r["balance_before"] + r["net"]
        balance[key] = r["balance_after"]
    assert sum(1 for v in opening.values() if v != 0) >= len(opening) - 1


def test_exactly_the_planted_account_goes_negative(world):
    negative = world.planted["negative_balance"]
    key = (negative["merchant_id"], negative["shop_id"], negative["gateway_id"], negative["currency"])
    gone = {account_key(r) for r in world.balance_records if r["balance_after"] < 0}
    assert gone == {key} and world.planted["negative_balance_accounts"] == [key]
    first = next(r for r in world.balance_records if r["balance_after"] < 0)
    assert first["record_id"] == negative["record_id"] and first["transaction_id"] == negative["transaction_id"]
    assert first["transaction_type"] == "payout" and first["balance_after"] == negative["balance_after"]


def nets_between(world, key, lo, hi):
    return sum(r["net"] for r in world.balance_records if account_key(r) == key and lo <= r["created_at"] < hi)


@pytest.mark.parametrize("currency", ["EUR", "USD", "JPY", "KWD"])
def test_records_in_split_periods_add_up(world, currency):
    a, b, c = world.start, datetime(2025, 2, 11, 13, 0, 7, tzinfo=UTC), world.end
    whole, open_a = world.balance_records_in(a, c, currency)
    left, open_a2 = world.balance_records_in(a, b, currency)
    right, open_b = world.balance_records_in(b, c, currency)
    assert whole == left + right and whole
    assert open_a == open_a2
    for oa, ob in zip(open_a, open_b, strict=True):
        key = account_key(oa)
        assert account_key(ob) == key and ob["date"] == b
        assert ob["opening_balance"] == oa["opening_balance"] + nets_between(world, key, a, b)
    assert {account_key(o) for o in open_a} == {
        account_key(o) for o in world.opening_balances if o["currency"] == currency
    }


def test_records_in_filters_and_keeps_idle_accounts(world):
    feb = datetime(2025, 2, 1, tzinfo=UTC)
    records, opening = world.balance_records_in(world.start, feb, "EUR", gateway_id=302)
    assert records == []  # the premium gateway only gets volume from March
    assert [o["gateway_id"] for o in opening] == [302, 302] and all(o["opening_balance"] > 0 for o in opening)
    records, opening = world.balance_records_in(world.start, world.end, "EUR", merchant_id=21, shop_id=2102)
    assert records and {(r["merchant_id"], r["shop_id"]) for r in records} == {(21, 2102)}
    assert world.balance_records_in(world.start, world.end, "EUR", merchant_id=22) == ([], [])


def test_records_in_rejects_bad_input(world):
    with pytest.raises(ConfigurationError, match="date_from"):
        world.balance_records_in(datetime(2025, 1, 1), world.end, "EUR")
    with pytest.raises(ConfigurationError, match="date_to"):
        world.balance_records_in(world.end, world.start, "EUR")
    with pytest.raises(ConfigurationError, match="currency"):
        world.balance_records_in(world.start, world.end, "EURO")


# -- statements -----------------------------------------------------------------------


def test_statement_chain_ties(world):
    rows = world.statements
    assert rows[0]["balance_before"] == world.mc_opening_balance
    for prev, row in zip([None, *rows], rows, strict=False):
        if prev is not None:
            assert row["balance_before"] == prev["balance_after"] and row["created"] >= prev["created"]
        assert row["balance_after"] == row["balance_before"] + row["amount"]
        assert row["amount"] == row["amount"].quantize(Decimal("0.01"))
    assert world.mc_opening_balance + sum(r["amount"] for r in rows) == rows[-1]["balance_after"]


def test_every_payout_is_minus_the_sum_of_its_rows(world):
    members = defaultdict(Decimal)
    payout_rows = {}
    for row in world.statements:
        if row["type"] == "PAYOUT":
            payout_rows[row["payout_id"]] = row
        elif "payout_id" in row:
            assert row["payout_id"] not in payout_rows  # a row comes before the payout that pays it
            members[row["payout_id"]] += row["amount"]
    assert len(world.payouts) == len(payout_rows) >= 50
    for payout in world.payouts:
        assert payout["amount"] == -members[payout["payout_id"]] == payout_rows[payout["payout_id"]]["amount"]
        assert payout["amount"] < 0 and payout["created"].weekday() < 5
        assert (payout["created"].hour, payout["created"].minute, payout["created"].second) == (0, 0, 2)


def test_open_balance_rows_come_after_the_last_payout_without_payout_id(world):
    rows = world.statements
    last = max(i for i, r in enumerate(rows) if r["type"] == "PAYOUT")
    assert all("payout_id" not in r for r in rows[last + 1 :]) and rows[last + 1 :]
    assert all("payout_id" in r for r in rows[:last])


@pytest.mark.parametrize("name", ["world", "default_world"])
def test_statement_rows_follow_the_seed_pattern(request, name):
    world = request.getfixturevalue(name)
    rows = world.statements
    types = Counter(r["type"] for r in rows)
    assert {"INCOME", "TRX_FEE_FIX", "VAT", "TRX_FEE", "REFUND", "CHARGEBACK", "CHARGEBACK_FEE", "PAYOUT"} == set(types)
    assert types["INCOME"] == world.n_transactions // 4
    for i, row in enumerate(rows):
        if row["type"] in ("TRX_FEE_FIX", "TRX_FEE", "CHARGEBACK_FEE"):
            tax = rows[i + 1]
            assert tax["type"] == "VAT" and tax["transaction_id"] == row["transaction_id"]
            assert tax["amount"] == (row["amount"] * Decimal("0.22")).quantize(Decimal("0.01"), "ROUND_DOWN")
        if row["type"] == "INCOME":
            assert [r["type"] for r in rows[i : i + 5]] == ["INCOME", "TRX_FEE_FIX", "VAT", "TRX_FEE", "VAT"]
            assert re.fullmatch(r"\d+", row["transaction"]) and len(row["transaction_id"]) == 36
            assert row["channel"] in world.mc_fee_schedule
    foreign = [r for r in rows if "original_currency" in r]
    assert {r["transaction"] for r in foreign} == set(world.planted["statement_foreign_transactions"])
    for r in foreign:
        assert r["amount"] == (r["original_amount"] / r["exchange_rate"]).quantize(Decimal("0.01"))


@pytest.mark.parametrize(("seed", "n", "drawn"), [(0, 2000, 0), (0, 40, 0), (0, 3000, 4)])
def test_every_world_has_a_whole_chargeback(seed, n, drawn):
    world = World.generate(seed=seed, n_transactions=n)
    rows = world.statements
    charged = world.planted["statement_chargebacks"]
    assert len(charged) == max(drawn, 1)
    assert [r["transaction"] for r in rows if r["type"] == "CHARGEBACK"] == charged
    for i, row in enumerate(rows):
        if row["type"] != "CHARGEBACK":
            continue
        income = next(r for r in rows if r["type"] == "INCOME" and r["transaction"] == row["transaction"])
        fee, tax = rows[i + 1], rows[i + 2]
        assert row["amount"] == -income["amount"] and row["created"] > income["created"]
        assert (fee["type"], fee["amount"], tax["type"], tax["amount"]) == (
            "CHARGEBACK_FEE",
            -Decimal("5.00"),
            "VAT",
            -Decimal("1.10"),
        )
        assert fee["transaction_id"] == tax["transaction_id"] == income["transaction_id"]
        assert row["channel"].startswith("CARD_")
    if drawn == 0:
        row = next(r for r in rows if r["type"] == "CHARGEBACK")
        income = next(r for r in rows if r["type"] == "INCOME" and r["transaction"] == row["transaction"])
        assert row["created"] - income["created"] == timedelta(days=10)


# -- growth during paging -----------------------------------------------------------------


def test_add_transactions_keeps_every_chain(fresh):
    top = fresh.transactions[-1]["id"]
    lo, hi = datetime(2025, 1, 20, tzinfo=UTC), datetime(2025, 1, 21, tzinfo=UTC)
    new = fresh.add_transactions(25, within=(lo, hi), shop_id=2102, payment_method_type="credit_card")
    assert len(new) == 25 and fresh.transactions[-25:] == new
    assert all(t["id"] > top for t in new) and all(lo <= t["created_at"] < hi for t in new)
    assert all(t["shop"]["id"] == 2102 and t["payment_method_type"] == "credit_card" for t in new)
    assert fresh.shop_transactions(2102)[-25:] == new
    assert all(int(t["transaction_fee"]) == fresh.expected_fee(t) for t in new)
    balance = {account_key(o): o["opening_balance"] for o in fresh.opening_balances}
    for r in fresh.balance_records:
        assert r["balance_before"] == balance[account_key(r)]
        balance[account_key(r)] = r["balance_after"] == r["balance_before"] + r["net"] and r["balance_after"]
    assert len({r["transaction_id"] for r in fresh.balance_records} & {t["id"] for t in new}) == 25


def test_append_statements_adds_exactly_n_chained_open_rows(fresh):
    before = len(fresh.statements)
    new = fresh.append_statements(13)
    assert len(new) == 13 and fresh.statements[before:] == new
    assert [r["type"] for r in new].count("INCOME") == 2 and [r["type"] for r in new][-3:] == ["REFUND"] * 3
    rows = fresh.statements
    for prev, row in itertools.pairwise(rows[before - 1 :]):
        assert row["balance_before"] == prev["balance_after"] and "payout_id" not in row
        assert row["balance_after"] == row["balance_before"] + row["amount"]


# -- credentials, repr, input ----------------------------------------------------------------


def test_credentials_and_secrets(world):
    shop = world.shops[1]
    assert world.shop_by_credentials(str(shop["id"]), shop["secret"]) is shop
    assert world.shop_by_credentials(str(shop["id"]), world.shops[0]["secret"]) is None
    assert world.shop_by_credentials(shop["id"], shop["secret"]) is None
    assert world.is_psp("1", world.psp["secret"]) and not world.is_psp("1", "x")
    assert world.is_mc_shop(world.mc_shop["id"], world.mc_shop["secret"])
    secrets = [s["secret"] for s in world.shops] + [world.mc_shop["secret"]]
    assert all(re.fullmatch(r"sk_sandbox_[0-9a-f]{32}", s) for s in secrets)
    assert world.psp["secret"].startswith("psp-sandbox-secret-")
    text = repr(world)
    assert "World(seed=0" in text and not any(s in text for s in [*secrets, world.psp["secret"]])


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"seed": "0"}, "seed"),
        ({"n_transactions": 5}, "n_transactions"),
        ({"n_transactions": 2.5}, "n_transactions"),
    ],
)
def test_generate_rejects_bad_input(kwargs, parameter):
    with pytest.raises(ConfigurationError, match=parameter):
        World.generate(**kwargs)


def test_scaled_generation():
    big = World.generate(seed=3, n_transactions=20_000)
    assert len(big.transactions) == 20_000
    assert sum(r["type"] == "INCOME" for r in big.statements) == 5_000
    assert len(big.off_schedule_ids) == 8
    last = big.balance_records[-1]
    assert last["balance_after"] == last["balance_before"] + last["net"]
