"""Dialects of the sandbox's v3 transactions report, over raw HTTP (no loader).

bepaid serves the world's alternative-method transactions as ``erip`` and
refuses ``alternative``; ecomcharge offers ``credit_card`` only and writes the
report total in ``count``; every dialect serves the same card transactions.
"""

from __future__ import annotations

import dataclasses

import pytest
import requests

from ledgerkit.errors import ConfigurationError
from ledgerkit.sandbox import Sandbox
from ledgerkit.sandbox.dialects import DIALECTS, PROFILES, get_dialect

SMALL = dict(seed=0, size=200, page_size=20, report_seconds=0.05)
WINDOW = {
    "date_type": "created_at",
    "from": "2025-01-01 00:00:00",
    "to": "2025-03-31 23:59:59",
    "status": "all",
    "time_zone": "UTC",
}


def post(sb, shop=None, **params):
    shop = shop or sb.world.shops[0]
    return requests.post(
        sb.transactions_url + "/api/reports",
        json={"report_params": {**WINDOW, **params}},
        auth=(str(shop["id"]), shop["secret"]),
        headers={"X-Api-Version": "3"},
        timeout=10,
    )


def walk(sb, **params):
    """Every page of a report from the first, following ``starting_after``."""
    pages = [post(sb, **params).json()]
    while pages[-1]["has_more"]:
        pages.append(post(sb, starting_after=pages[-1]["last_object_id"], **params).json())
        assert len(pages) < 100
    return pages


def world_ids(sb, method, shop=None):
    shop = shop or sb.world.shops[0]
    return [t["id"] for t in sb.world.shop_transactions(shop["id"]) if t["payment_method_type"] == method]


@pytest.fixture(scope="module")
def bepaid():
    with Sandbox(**SMALL, dialect="bepaid") as sb:
        yield sb


@pytest.fixture(scope="module")
def ecomcharge():
    with Sandbox(**SMALL, dialect="ecomcharge") as sb:
        yield sb


# -- profiles -------------------------------------------------------------------


def test_unknown_dialect_is_a_configuration_error_listing_the_known_ones():
    with pytest.raises(ConfigurationError) as err:
        Sandbox(size=20, dialect="paypal")
    assert err.value.parameter == "dialect" and err.value.value == "paypal"
    assert err.value.expected == "one of: " + ", ".join(DIALECTS)
    assert DIALECTS == ("begateway", "bepaid", "ecomcharge", "makecommerce-recorded", "dwh-official-client")


def test_profiles_are_frozen_and_the_default_is_begateway():
    assert Sandbox(size=20).dialect is PROFILES["begateway"] == get_dialect("begateway")
    assert [PROFILES[name].name for name in DIALECTS] == list(DIALECTS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROFILES["bepaid"].count = "report"
    assert get_dialect("ecomcharge").payment_methods == ("credit_card",)
    assert get_dialect("begateway").payment_methods == ("credit_card", "alternative")


def test_every_dialect_serves_the_worlds_card_transactions(dialect_sandbox):
    pages = walk(dialect_sandbox, payment_method_type="credit_card")
    assert [t["id"] for p in pages for t in p["transactions"]] == world_ids(dialect_sandbox, "credit_card")
    assert len(pages) > 1 and all(t["payment_method_type"] == "credit_card" for p in pages for t in p["transactions"])


# -- bepaid ------------------------------------------------------------------------


def test_bepaid_refuses_alternative_with_the_422_envelope_naming_payment_method_type(bepaid):
    r = post(bepaid, payment_method_type="alternative")
    assert r.status_code == 422
    assert r.json() == {
        "message": "report_params.payment_method_type is invalid",
        "errors": {"payment_method_type": ["must be one of: credit_card, erip"]},
    }


def test_bepaid_serves_the_alternative_method_transactions_as_erip(bepaid):
    pages = walk(bepaid, payment_method_type="erip")
    rows = [t for p in pages for t in p["transactions"]]
    assert [t["id"] for t in rows] == world_ids(bepaid, "alternative") and len(rows) == 24
    world = {t["id"]: t for t in bepaid.world.transactions}
    for row in rows:
        assert row["payment_method_type"] == "erip" and "alternative" not in row
        assert row["erip"] == world[row["id"]]["alternative"] and row["amount"] == world[row["id"]]["amount"]
        assert list(row) == ["erip" if k == "alternative" else k for k in world[row["id"]]]  # renamed, nothing else


def test_begateway_refuses_erip(fresh_sandbox):
    r = post(fresh_sandbox, payment_method_type="erip")
    assert r.status_code == 422 and r.json()["errors"] == {
        "payment_method_type": ["must be one of: credit_card, alternative"]
    }


# -- ecomcharge ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["alternative", "erip"])
def test_ecomcharge_offers_credit_card_only(ecomcharge, method):
    r = post(ecomcharge, payment_method_type=method)
    assert r.status_code == 422
    assert r.json() == {
        "message": "report_params.payment_method_type is invalid",
        "errors": {"payment_method_type": ["must be one of: credit_card"]},
    }


def test_ecomcharge_count_is_the_report_total_on_every_page(ecomcharge):
    pages = walk(ecomcharge, payment_method_type="credit_card")
    total = sum(len(p["transactions"]) for p in pages)
    assert total == len(world_ids(ecomcharge, "credit_card")) == 66 and len(pages) == 4
    assert [p["count"] for p in pages] == [total] * 4
    assert len(pages[-1]["transactions"]) == 6  # a page's own rows differ from its count


def test_ecomcharge_count_is_the_total_of_the_selection_backwards_too(ecomcharge):
    ids = world_ids(ecomcharge, "credit_card")
    page = post(ecomcharge, payment_method_type="credit_card", ending_before=ids[30]).json()
    assert [t["id"] for t in page["transactions"]] == ids[10:30] and page["has_more"] is True
    assert page["count"] == 66
    narrow = post(ecomcharge, payment_method_type="credit_card", status="failed").json()
    assert (
        narrow["count"]
        == len(narrow["transactions"])
        == sum(
            1
            for t in ecomcharge.world.shop_transactions(ecomcharge.world.shops[0]["id"])
            if t["payment_method_type"] == "credit_card" and t["status"] == "failed"
        )
    )


def test_begateway_count_is_the_pages_rows(fresh_sandbox):
    pages = walk(fresh_sandbox, payment_method_type="credit_card")
    assert [p["count"] for p in pages] == [len(p["transactions"]) for p in pages] == [20, 20, 20, 6]
