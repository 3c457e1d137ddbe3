"""The declared columns of each loader's frame: :class:`Schema` and one schema per API.

A schema lists, in frame order, each known column and its *kind* (how its
values are typed: see :mod:`ledgerkit._ingest.records`), and which columns
are personal data, dropped unless the caller asks for them.

Examples
--------
>>> TRANSACTIONS.columns["amount"], STATEMENTS.columns["amount"]
('minor', 'major')
>>> TRANSACTIONS.is_pii("customer.email"), TRANSACTIONS.is_pii("billing_address.country")
(True, False)
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass
from typing import Mapping

__all__ = ["Schema", "TRANSACTIONS", "STATEMENTS", "UTC_NS", "MAX_DEPTH", "MONEY_LIMIT", "CURRENCY_CODE"]

UTC_NS = "datetime64[ns, UTC]"

#: Levels of nesting one record may have (objects and lists): the documented
#: shapes have four (``additional_data.avs_cvc.avs_verification.result_code``).
MAX_DEPTH = 32

#: The largest amount, in minor units, a money field may hold: 2**53, so that a
#: float carries it exactly and a million of them still sum inside int64.
MONEY_LIMIT = 2**53

#: What a currency code looks like. Codes are an open set (a crypto code we do
#: not know yet is kept); ``"euro"``, ``""`` or ``5`` are not codes.
CURRENCY_CODE = re.compile(r"[A-Z][A-Z0-9]{2,9}")


@dataclass(frozen=True)
class Schema:
    """The declared columns of one source, in frame order, and what is private.

    Parameters
    ----------
    name : str
        The source name (``"transactions"``).
    columns : mapping
        Column name -> kind (see the module docstring), in frame order.
    pii : tuple of str
        ``fnmatch`` patterns of columns dropped unless ``include_pii=True``.
    pii_keep : tuple of str
        Columns matched by ``pii`` that are nevertheless not personal.
    currency_column : str
        The column giving each row's currency (for ``major`` and ``minor_float``).
    """

    name: str
    columns: Mapping[str, str]
    pii: tuple[str, ...] = ()
    pii_keep: tuple[str, ...] = ()
    currency_column: str = "currency"

    def is_pii(self, column: str) -> bool:
        """Whether ``column`` is personal data under this schema."""
        return _is_pii(column, self.pii, self.pii_keep)


@functools.lru_cache(maxsize=4096)
def _is_pii(column: str, pii: tuple[str, ...], keep: tuple[str, ...]) -> bool:
    """Cached: asked once per column of every page."""
    return column not in keep and any(fnmatch.fnmatchcase(column, p) for p in pii)


def _nested(prefix: str, kind: str, names: str) -> dict[str, str]:
    return {f"{prefix}.{n}": kind for n in names.split()}


#: beGateway shop report v3 (docs/CONTRACTS.md §3).
TRANSACTIONS = Schema(
    name="transactions",
    columns={
        "id": "int",
        "uid": "str",
        "type": "category",
        "status": "category",
        "payment_method_type": "category",
        "amount": "minor",
        "transaction_fee": "minor_float",
        "pay_to_merchant": "minor_float",
        "currency": "category",
        "discount_rate": "float",
        "transaction_rate": "float",
        "test": "bool",
        "created_at": "time",
        "paid_at": "time",
        "settled_at": "time",
        "manually_corrected_at": "time",
        "description": "str",
        "tracking_id": "str",
        "order_id": "str",
        "message": "str",
        "gateway_note": "str",
        "shop.id": "int",
        "payment.gateway_id": "int",
        "payment.gateway_name": "category",
        **_nested("payment", "category", "status"),
        **_nested("payment", "str", "ref_id message auth_code bank_code rrn billing_descriptor"),
        **_nested("credit_card", "category", "brand product issuer_country issuer_name"),
        **_nested("credit_card", "str", "bin first_1 last_4 holder token"),
        **_nested("credit_card", "int", "exp_month exp_year"),
        "billing_address.country": "category",
        **_nested("billing_address", "str", "first_name last_name address city zip state phone birth_date"),
        **_nested("customer", "str", "ip email"),
        "additional_data.request_id": "str",
        **_nested("additional_data.browser", "int", "screen_width screen_height screen_color_depth time_zone window_height window_width"),
        **_nested("additional_data.browser", "category", "language time_zone_name accept_header"),
        "additional_data.browser.java_enabled": "bool",
        "additional_data.browser.user_agent": "str",
        "additional_data.vendor.name": "category",
        "additional_data.vendor.token": "str",
        **_nested(
            "additional_data.tdsecure",
            "str",
            "status message ve_status acs_url pa_req md pa_res_url eci pa_status xid cavv cavv_algorithm "
            "fail_reason method_process_url",
        ),
        "additional_data.avs_cvc.avs_verification.result_code": "str",
        "additional_data.avs_cvc.cvc_verification.result_code": "str",
        **_nested("three_d_secure_verification", "category", "status ve_status eci pa_status"),
        **_nested("three_d_secure_verification", "str", "message xid cavv cavv_algorithm"),
    },
    pii=(
        "credit_card.holder",
        "credit_card.token",
        "customer.ip",
        "customer.email",
        "billing_address.*",
        "additional_data.vendor.token",
        "additional_data.tdsecure.*",
        "three_d_secure_verification.xid",
        "three_d_secure_verification.cavv",
    ),
    pii_keep=("billing_address.country",),
)

#: MakeCommerce account statement rows (docs/CONTRACTS.md §3); ``currency`` is
#: the account currency, added by the loader.
STATEMENTS = Schema(
    name="statements",
    columns={
        "row_id": "str",
        "created": "time",
        "type": "category",
        "amount": "major",
        "balance_before": "major",
        "balance_after": "major",
        "original_amount": "major",
        "currency": "category",
        "original_currency": "str",
        "exchange_rate": "float",
        "transaction": "str",
        "transaction_id": "str",
        "channel": "category",
        "merchant_reference": "str",
        "payout_id": "str",
    },
)

