"""What the fee analyses count: input checks and per-row fee / VAT / volume contributions.

Shared by :mod:`~ledgerkit.analysis.fees` (:func:`fee_breakdown`),
:mod:`~ledgerkit.analysis.fee_contracts` and :mod:`~ledgerkit.analysis.rate_change`.
A transactions or statements frame becomes one row per fee, VAT or volume
amount, labelled with its currency and group keys, by the rules in the
docstring of :mod:`ledgerkit.analysis.fees` ("What counts"); the analyses
only sum these rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._ingest.schema import STATEMENTS, TRANSACTIONS, OneOf, frame_kind
from ..errors import ConfigurationError
from ..money import is_currency
from ._common import empty_frame, plain_text, require_total_fits, require_utc
from ._invalid import Need, screen
from .categories import CATEGORIES, category_codes
from .vat import vat_owners

#: Transaction types whose amount is payment volume.
VOLUME_TYPES: tuple[str, ...] = ("payment", "capture")
#: The only transaction status whose fee and amount count.
SUCCESSFUL = "successful"
#: Statement type of payment volume.
INCOME = "INCOME"
#: Statement type of VAT on a fee.
VAT = "VAT"
#: Output column of a statement's fee type.
FEE_TYPE = "fee_type"

_TRANSACTION_NAMES: dict[str, tuple[str, ...]] = {
    "brand": ("credit_card.brand",),
    "product": ("credit_card.product",),
    "country": ("credit_card.issuer_country",),
    "gateway": ("payment.gateway_id", "payment.gateway_name"),
    "method": ("payment_method_type",),
    "channel": ("payment_method_type",),
    "type": ("type",),
    "currency": (),
}
_STATEMENT_NAMES: dict[str, tuple[str, ...]] = {
    "method": ("channel",),
    "channel": ("channel",),
    "type": (FEE_TYPE,),
    "fee_type": (FEE_TYPE,),
    "currency": (),
}
_DEFAULT_BY = {"transactions": ("gateway",), "statements": (FEE_TYPE,)}


# --------------------------------------------------------------------------
# Input checks


#: The columns that say which transaction a statement line belongs to, tried in this order.
TRANSACTION_KEYS: tuple[str, ...] = ("transaction_id", "transaction")
#: What the fee analyses need of each kind of frame, besides the group keys and the time column.
_NEEDS = {
    "transactions": TRANSACTIONS.required,
    "statements": (*STATEMENTS.required, OneOf(TRANSACTION_KEYS, "what ties a VAT line to the fee it taxes")),
}
_USES = {"transactions": ("id",), "statements": ()}
_MONEY = {"transactions": ("amount", "transaction_fee"), "statements": ("amount",)}
_SCHEMAS = {"transactions": TRANSACTIONS, "statements": STATEMENTS}


def _frame_kind(frame: pd.DataFrame, parameter: str) -> str:
    """``"transactions"`` or ``"statements"``: by the frame's manifest, else its columns (:func:`frame_kind`)."""
    return frame_kind(frame, parameter, (TRANSACTIONS, STATEMENTS)).name


def _check_money_values(frame: pd.DataFrame, columns: Iterable[str], parameter: str) -> None:
    """Money totals that fit a 64-bit sum, and currency codes with a known minor unit (types are checked already)."""
    for column in columns:
        require_total_fits(frame[column].to_numpy(dtype="int64", na_value=0), f"{parameter}[{column!r}]")
    if "currency" in frame.columns:  # minor units mean nothing without a known exponent
        unknown = sorted({str(c) for c in frame["currency"].dropna().unique() if not is_currency(str(c))})
        if unknown:
            raise ConfigurationError(
                f"{parameter}['currency']",
                unknown[0],
                "ISO 4217 or known crypto currency codes (the minor unit depends on them)",
            )


def _resolve_by(by: Any, frame: pd.DataFrame, kind: str) -> list[str]:
    """Friendly or raw ``by`` names -> the frame's key columns (currency left out)."""
    if by is None:
        by = _DEFAULT_BY[kind]
    names = (by,) if isinstance(by, str) else by
    if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) for n in names):
        raise ConfigurationError("by", by, "a column name or a tuple of column names")
    friendly = _TRANSACTION_NAMES if kind == "transactions" else _STATEMENT_NAMES
    keys: list[str] = []
    for name in names:
        if name in friendly:
            wanted = friendly[name]
            if wanted and wanted[0] != FEE_TYPE and wanted[0] not in frame.columns:
                raise ConfigurationError("by", name, f"a {kind} frame with the column {wanted[0]!r}")
            columns = tuple(c for c in wanted if c == FEE_TYPE or c in frame.columns)
        elif name in frame.columns:
            columns = (FEE_TYPE,) if kind == "statements" and name == "type" else (name,)
        else:
            raise ConfigurationError("by", name, f"one of {sorted(friendly)} or a column of the {kind} frame")
        keys.extend(c for c in columns if c != "currency" and c not in keys)
    return keys


def _time_name(frame: pd.DataFrame, kind: str, time: str | None) -> str:
    """The timestamp column ``time`` names (by default ``created_at`` or ``created``), refused when absent."""
    column = time if time is not None else ("created_at" if kind == "transactions" else "created")
    if not isinstance(column, str) or column not in frame.columns:
        raise ConfigurationError("time", column, f"a timestamp column of the {kind} frame")
    return column


def _time_column(frame: pd.DataFrame, kind: str, time: str | None, parameter: str) -> pd.Series:
    return require_utc(frame, _time_name(frame, kind, time), parameter)


def _plain_keys(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Key columns with categoricals turned into their plain values (for merging)."""
    out = frame.loc[:, list(keys)]
    for key in keys:
        dtype = out[key].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            plain = plain_text(out[key])
            out[key] = plain if plain is not None else out[key].astype(dtype.categories.dtype)
    return out


# --------------------------------------------------------------------------
# Per-row contributions: one row per fee / VAT / volume amount, keyed


def _transaction_parts(frame: pd.DataFrame, keys: list[str], times: pd.Series | None) -> pd.DataFrame:
    """Successful transactions as contributions: every fee, and volume from payments/captures."""
    successful = frame["status"].eq(SUCCESSFUL).fillna(False).to_numpy(dtype=bool)
    rows = frame.loc[successful].reset_index(drop=True)
    labels = _plain_keys(rows, ["currency", *keys])
    if times is not None:
        labels["_time"] = times.loc[successful].reset_index(drop=True)
    is_volume = rows["type"].isin(VOLUME_TYPES).to_numpy(dtype=bool)
    return _contribution(
        labels,
        count=1,
        fee=rows["transaction_fee"].astype("Int64"),  # complete on successful rows (screened)
        volume_count=pd.Series(is_volume.astype("int64"), dtype="Int64"),
        volume=rows["amount"].astype("Int64").where(is_volume, 0),
    )


def _statement_parts(frame: pd.DataFrame, keys: list[str], times: pd.Series | None, *, vat_line: bool) -> pd.DataFrame:
    """Statement rows as contributions; a VAT row moves to the group of the fee it taxes.

    Which fee a VAT row taxes is decided by :func:`~ledgerkit.analysis.vat.vat_owners`
    (same ``transaction_id``, else same ``transaction``; nearest first, before
    or after). With ``vat_line`` (grouping by fee type) a VAT row counts twice: as the
    ``vat`` of its fee's line (when it has one) and as a fee of the ``VAT``
    line. Otherwise VAT rows only fill the ``vat`` column.
    """
    types = plain_text(frame["type"])
    types = (frame["type"].astype("str") if types is None else types).reset_index(drop=True)
    category = category_codes(frame["type"], list(CATEGORIES))
    is_vat, is_fee, is_income = (category == CATEGORIES.index(c) for c in ("vat", "fees", "income"))
    amount = frame["amount"].astype("Int64").reset_index(drop=True)
    zero = amount.eq(0).fillna(False).to_numpy(dtype=bool)
    keys_of_rows = [frame[c].reset_index(drop=True) for c in TRANSACTION_KEYS if c in frame.columns]
    fee_of = vat_owners(is_fee, is_vat, zero & is_vat, keys_of_rows)
    attached = fee_of >= 0

    labels = _plain_keys(frame, ["currency", *[k for k in keys if k != FEE_TYPE]]).reset_index(drop=True)
    labels[FEE_TYPE] = types
    if times is not None:
        labels["_time"] = times.reset_index(drop=True)
    owner = labels.take(np.where(attached, fee_of, np.arange(len(labels)))).set_axis(labels.index)

    income = labels.loc[is_income].assign(**{FEE_TYPE: pd.NA}).astype({FEE_TYPE: "str"})
    pieces = [
        _contribution(owner.loc[is_fee], count=1, fee=-amount),
        _contribution(income, volume_count=1, volume=amount),
    ]
    if vat_line:
        pieces.append(_contribution(owner.loc[attached], vat=-amount))
        pieces.append(_contribution(owner.loc[is_vat].assign(**{FEE_TYPE: VAT}), count=1, fee=-amount))
    else:
        pieces.append(_contribution(owner.loc[is_vat], vat=-amount))
    return pd.concat(pieces, ignore_index=True)


def _contribution(labels: pd.DataFrame, **values: Any) -> pd.DataFrame:
    """``labels`` plus the five measure columns; those not given are 0."""
    out = labels.copy()
    for column in ("count", "fee", "vat", "volume_count", "volume"):
        value = values.get(column, 0)
        if isinstance(value, pd.Series):
            out[column] = value.loc[labels.index]
        else:
            out[column] = pd.Series(value, index=labels.index, dtype="Int64")
    return out


def _counted_rows(frame: pd.DataFrame, kind: str, time: str | None) -> list[Need]:
    """What each kind of frame needs, and on which rows (see the rules in :mod:`~ledgerkit.analysis.fees`).

    A transaction's ``status`` decides whether it counts and its ``type``
    whether its amount is volume: neither may be missing where it matters.
    """
    if kind == "transactions":
        successful = frame["status"].eq(SUCCESSFUL).fillna(False).to_numpy(dtype=bool)
        volume = successful & frame["type"].isin(VOLUME_TYPES).to_numpy(dtype=bool)
        needs = [
            Need("status", None, "every transaction"),
            Need("type", successful, "successful transactions"),
            Need("transaction_fee", successful, "successful transactions"),
            Need("amount", volume, "successful payments and captures"),
            Need("currency", successful, "successful transactions"),
        ]
        return needs + ([Need(time, successful, "successful transactions")] if time else [])
    category = category_codes(frame["type"], list(CATEGORIES))
    counted = np.isin(category, [CATEGORIES.index(c) for c in ("fees", "vat", "income")])
    what = "fee, VAT and income rows"
    return [Need("amount", counted, what), Need("currency", counted, what)] + (
        [Need(time, counted, what)] if time else []
    )


def _parts(
    frame: pd.DataFrame,
    kind: str,
    keys: list[str],
    *,
    time: str | None,
    with_time: bool,
    vat_line: bool = False,
    invalid: str = "raise",
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Check ``frame`` for what the analysis needs, then split it into contributions.

    Rows with missing money where it counts, and (transactions) rows
    repeating an ``id``, are refused or dropped as ``invalid`` says (see
    :mod:`~ledgerkit.analysis._invalid`); the counts come back with the parts.
    """
    plain_keys = [k for k in keys if k != FEE_TYPE]
    time_name = _time_name(frame, kind, time) if with_time else None
    columns = (*_NEEDS[kind], *([time_name] if time_name else []))
    _SCHEMAS[kind].check(frame, "frame", columns, uses=_USES[kind], labels=plain_keys)
    _check_money_values(frame, _MONEY[kind], "frame")
    if time_name is not None:
        require_utc(frame, time_name, "frame")  # also a time column the schema does not declare
    id_column = "id" if kind == "transactions" and "id" in frame.columns else None
    needs = _counted_rows(frame, kind, time_name)
    kept, dropped = screen(frame, "frame", money=needs, invalid=invalid, id_column=id_column)
    times = _time_column(kept, kind, time, "frame") if with_time else None
    if kind == "transactions":
        return _transaction_parts(kept, keys, times), dropped
    return _statement_parts(kept, keys, times, vat_line=vat_line), dropped


def _sum_by(parts: pd.DataFrame, group: list[str], measures: list[str]) -> pd.DataFrame:
    """Integer sums of ``measures`` per ``group`` (missing labels form their own group)."""
    if not len(parts):
        return parts.loc[:, [*group, *measures]].reset_index(drop=True)
    return parts.groupby(group, dropna=False, sort=True, observed=True, as_index=False)[measures].sum()


def _typed_frame(records: list[dict[str, Any]], dtypes: dict[str, Any]) -> pd.DataFrame:
    """Records (dicts, ``None`` for missing) as a frame with exactly these columns and dtypes."""
    if not records:
        return empty_frame(dtypes)
    return pd.DataFrame({c: pd.array([r.get(c) for r in records], dtype=d) for c, d in dtypes.items()})
