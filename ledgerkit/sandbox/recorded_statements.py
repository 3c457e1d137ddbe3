"""The statement chain as the ``makecommerce-recorded`` dialect serves it.

A live-recorded MakeCommerce page (``tests/data/real-world/``) differs from
the world's tidy chain in ways a loader must take as normal; this module
derives that shape from the unchanged world chain:

* **VAT lines move and multiply.** Payments are counted in chain order
  (``k = 0, 1, ...``); the VAT of ``TRX_FEE`` comes *before* its fee for
  every ``k % 4 == 1``; a zero-amount VAT line sits between the fixed fee's
  VAT and ``TRX_FEE`` for every ``k % 6 == 3``, and payment ``k == 2`` gets
  two of them in a row (identical lines: same time, transaction, balance).
  Zero lines move no money, so payouts and totals stay as in the world.
* **Binary floats.** Numbers are written as floats (``0.0``, ``-0.3``);
  ``balance_after`` is the exact balance as the nearest float, while
  ``balance_before`` is the previous row's ``balance_before + amount``
  added in floats, so some print as ``141.70999999999998`` (the recorded
  page has ``142.01000000000002``). The exact
  values (:func:`recorded_chain`) still chain to the cent.

Examples
--------
>>> from decimal import Decimal as D
>>> rows = [{"amount": D("-0.3"), "type": "TRX_FEE_FIX", "balance_before": D("142.01"), "balance_after": D("141.71")},
...         {"amount": D("-0.06"), "type": "VAT", "balance_before": D("141.71"), "balance_after": D("141.65")}]
>>> [(r["amount"], r["balance_before"], r["balance_after"]) for r in float_rows(rows)]
[(-0.3, 142.01, 141.71), (-0.06, 141.70999999999998, 141.65)]
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["recorded_chain", "float_rows", "TWIN_ZERO_VAT_PAYMENT"]

_PAYMENT_SHAPE = ("INCOME", "TRX_FEE_FIX", "VAT", "TRX_FEE", "VAT")
#: The payment (0-based, chain order) whose fee is preceded by two identical zero-amount VAT lines.
TWIN_ZERO_VAT_PAYMENT = 2
_VAT_FIRST_EVERY, _VAT_FIRST_AT = 4, 1
_ZERO_VAT_EVERY, _ZERO_VAT_AT = 6, 3


def _payment_at(rows: list[dict], i: int) -> bool:
    """Whether ``rows[i:i + 5]`` are one payment: INCOME, its fixed fee and VAT, its fee and VAT."""
    group = rows[i : i + len(_PAYMENT_SHAPE)]
    return tuple(r["type"] for r in group) == _PAYMENT_SHAPE and len({r.get("transaction") for r in group}) == 1


def _recorded_payment(group: list[dict], k: int) -> list[dict]:
    """One payment's five rows in the recorded shape (payment number ``k``)."""
    income, fix, fix_vat, fee, fee_vat = group
    zero = {**fix_vat, "amount": Decimal(0)}
    zeros = 2 if k == TWIN_ZERO_VAT_PAYMENT else int(k % _ZERO_VAT_EVERY == _ZERO_VAT_AT)
    tail = [fee_vat, fee] if k % _VAT_FIRST_EVERY == _VAT_FIRST_AT else [fee, fee_vat]
    return [income, fix, fix_vat] + [dict(zero) for _ in range(zeros)] + tail


def recorded_chain(rows: list[dict]) -> list[dict]:
    """The world chain ``rows`` in the recorded shape, as new dicts with exact ``Decimal`` balances.

    Row order, VAT lines and balances change (see the module docstring);
    ``balance_before + amount == balance_after`` holds on every row, and
    the chain starts where the world's does.
    """
    out: list[dict] = []
    i, k = 0, 0
    while i < len(rows):
        if _payment_at(rows, i):
            out.extend(_recorded_payment([dict(r) for r in rows[i : i + len(_PAYMENT_SHAPE)]], k))
            i, k = i + len(_PAYMENT_SHAPE), k + 1
        else:
            out.append(dict(rows[i]))
            i += 1
    balance = rows[0]["balance_before"] if rows else Decimal(0)
    for row in out:
        row["balance_before"] = balance
        balance += row["amount"]
        row["balance_after"] = balance
    return out


def float_rows(rows: list[dict]) -> list[dict]:
    """``rows`` with every ``Decimal`` as a binary float, ``balance_before`` added up in floats.

    Each printed value is within one float rounding of the exact one, so the
    noise never reaches a cent (it is representation, not rounding).
    """
    out: list[dict] = []
    previous: dict[str, Any] | None = None
    for row in rows:
        served = {k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()}
        if previous is not None:
            served["balance_before"] = float(previous["balance_before"]) + float(previous["amount"])
        out.append(served)
        previous = row
    return out
