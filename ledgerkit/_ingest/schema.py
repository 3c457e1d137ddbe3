"""The frame contracts, declared once as code: :class:`Column`, :class:`Schema` and one schema per frame.

A schema lists, in frame order, each known column of one kind of frame: its
*kind* (how its values are typed, see :mod:`ledgerkit._ingest.kinds`),
whether the contract requires it, its headers in the DWH report sheets
(English and Russian) and whether it is personal data, dropped unless the
caller asks for it. It also names the frame's currency column and the
columns that identify the frame.

The loaders read pages and report sheets by these schemas, and the analysis
checks its input against them (:meth:`Schema.check`, :func:`frame_kind`):
docs/CONTRACTS.md §3 and §4 show the same tables (:meth:`Schema.markdown`).

Examples
--------
>>> TRANSACTIONS.columns["amount"], STATEMENTS.columns["amount"], BALANCE_RECORDS.columns["amount"]
('minor', 'major', 'major')
>>> TRANSACTIONS.is_pii("customer.email"), TRANSACTIONS.is_pii("billing_address.country")
(True, False)
>>> STATEMENTS.check(pd.DataFrame({"created": [1]}), "statements", needs=("created", "amount"))
Traceback (most recent call last):
ledgerkit.errors.ConfigurationError: statements="<DataFrame with columns ['created']>" is not valid: \
expected a DataFrame with the columns ['amount'] as well; also statements['created']='int64': \
expected tz-aware datetimes (datetime64[ns, UTC])
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pandas as pd

from ..errors import ConfigurationError
from .kinds import KINDS, UTC_NS, dtype_of, mistyped

__all__ = [
    "Column",
    "OneOf",
    "Schema",
    "UTC_NS",
    "ACCOUNT_IDS",
    "ACCOUNT",
    "ACCOUNT_COLUMN",
    "TRANSACTIONS",
    "STATEMENTS",
    "BALANCE_RECORDS",
    "OPENING_BALANCE",
    "FEE_MODEL",
    "RECONCILIATION",
    "LOADER_SCHEMAS",
    "require_frame",
    "frame_kind",
    "MAX_DEPTH",
    "MONEY_LIMIT",
    "CURRENCY_CODE",
]

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
class Column:
    """One known column of a frame.

    Parameters
    ----------
    name : str
        The column's name in the frame (``credit_card.brand``).
    kind : str
        How its values are typed (:data:`~ledgerkit._ingest.kinds.KINDS`).
    english, russian : str
        Its headers in a DWH report sheet (``""``: not a report column, or no
        Russian header known).
    required : bool
        Whether the contract requires it: a report sheet without it is
        refused, and every analysis of the frame needs it.
    aliases : tuple of str
        Further headers, used only when none of its own is in the file
        (``Type`` is ``transaction_type`` unless the file also has
        ``Transaction type``).
    pii : bool
        Personal data: dropped by the loaders unless ``include_pii=True``.
    """

    name: str
    kind: str
    english: str = ""
    russian: str = ""
    required: bool = False
    aliases: tuple[str, ...] = ()
    pii: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name!r}: unknown kind {self.kind!r}; known: {sorted(KINDS)}")

    @property
    def dtype(self) -> str:
        """The pandas dtype of the column in a frame."""
        return dtype_of(self.kind)


@dataclass(frozen=True)
class OneOf:
    """A requirement met by any one of several columns (``transaction_id`` or ``transaction``)."""

    columns: tuple[str, ...]
    why: str = ""

    def describe(self) -> str:
        """The requirement in words, for messages.

        Examples
        --------
        >>> OneOf(("transaction_id", "transaction_uid")).describe()
        "at least one of the columns 'transaction_id' or 'transaction_uid'"
        """
        names = [repr(c) for c in self.columns]
        text = f"at least one of the columns {', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
        return f"{text} ({self.why})" if self.why else text


Need = str | OneOf


@dataclass(frozen=True)
class Schema:
    """The declared columns of one kind of frame, in frame order, and what identifies it.

    Parameters
    ----------
    name : str
        The frame's name: the loader's source (``"transactions"``, the
        manifest's ``source``) or the report sheet's name.
    title : str
        The frame in words, for messages (``"a transactions frame"``).
    fields : tuple of Column
        The known columns, in frame order.
    pii : tuple of str
        ``fnmatch`` patterns of columns not declared here that are personal
        data (the fields of a nested object that may grow).
    currency_column : str
        The column giving each row's currency (the exponent of its money).
    identity : tuple of str
        Columns that together say a frame is of this kind.
    one_of : tuple of OneOf
        Requirements met by any one of several columns (the account ids of a
        balance report); part of the contract and of the identity.

    Attributes
    ----------
    columns : mapping
        Column name -> kind, in frame order (how the loaders type a page).
    """

    name: str
    title: str
    fields: tuple[Column, ...]
    pii: tuple[str, ...] = ()
    currency_column: str = "currency"
    identity: tuple[str, ...] = ()
    one_of: tuple[OneOf, ...] = ()
    columns: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _by_name: Mapping[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {c.name: c for c in self.fields}
        if len(by_name) != len(self.fields):
            raise ValueError(f"schema {self.name!r}: a column is declared twice")
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))
        object.__setattr__(self, "columns", MappingProxyType({c.name: c.kind for c in self.fields}))

    def __getitem__(self, name: str) -> Column:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def required(self) -> tuple[Need, ...]:
        """What every frame of this kind must have: the required columns and the ``one_of`` requirements."""
        return (*(c.name for c in self.fields if c.required), *self.one_of)

    @property
    def dtypes(self) -> dict[str, str]:
        """Column name -> pandas dtype, in frame order."""
        return {c.name: c.dtype for c in self.fields}

    def is_pii(self, column: str) -> bool:
        """Whether ``column`` is personal data under this schema (declared, else by the ``pii`` patterns)."""
        declared = self._by_name.get(column)
        if declared is not None:
            return declared.pii
        return _matches(column, self.pii)

    def identifies(self, frame: pd.DataFrame) -> bool:
        """Whether ``frame`` has the columns that identify this kind of frame."""
        present = set(frame.columns)
        return set(self.identity) <= present and all(set(g.columns) & present for g in self.one_of)

    def describe(self) -> str:
        """The frame and the columns that identify it, for messages.

        Examples
        --------
        >>> TRANSACTIONS.describe()
        "a transactions frame (with the column 'transaction_fee')"
        """
        parts = [f"the column {c!r}" for c in self.identity] + [g.describe() for g in self.one_of]
        return f"{self.title} (with {' and '.join(parts)})" if parts else self.title

    def check(
        self,
        frame: Any,
        parameter: str,
        needs: Iterable[Need] = (),
        *,
        uses: Iterable[str] = (),
        labels: Iterable[str] = (),
    ) -> pd.DataFrame:
        """``frame`` if it has every column of ``needs``, each of its kind; else a ``ConfigurationError``.

        Parameters
        ----------
        frame : DataFrame
            The caller's frame.
        parameter : str
            The argument's name, for messages.
        needs : iterable of str or OneOf
            Columns the caller cannot do without (a :class:`OneOf`: any one of
            several).
        uses : iterable of str
            Columns the caller reads when they are there: checked for their
            kind only.
        labels : iterable of str
            Columns the caller needs as labels (group keys): any values.

        Raises
        ------
        ConfigurationError
            Naming every missing column and every column not of its kind:
            money that is not an integer dtype (float amounts), times that are
            not tz-aware, ids that are not whole numbers, rates that are not
            numbers.

        Examples
        --------
        >>> f = pd.DataFrame({"amount": [1.5], "currency": ["EUR"]})
        >>> STATEMENTS.check(f, "frame", needs=("amount",))
        Traceback (most recent call last):
        ledgerkit.errors.ConfigurationError: frame['amount']='float64' is not valid: \
expected integer minor units (Int64), never floats
        """
        frame = require_frame(frame, parameter)
        names = [n for n in needs if isinstance(n, str)]
        groups = [n for n in needs if isinstance(n, OneOf)]
        present = set(frame.columns)
        missing = [n for n in dict.fromkeys([*names, *labels]) if n not in present]
        unmet = [g for g in groups if not set(g.columns) & present]
        looked_at = dict.fromkeys([*names, *(c for g in groups for c in g.columns), *uses])
        wrong = self.mistyped(frame, [c for c in looked_at if c in present])
        also = [f"; also {parameter}[{c!r}]={v!r}: expected {e}" for c, v, e in wrong]
        if missing or unmet:
            wanted = ([f"the columns {missing} as well"] if missing else []) + [g.describe() for g in unmet]
            raise ConfigurationError(
                parameter,
                f"<DataFrame with columns {list(frame.columns)}>",
                f"a DataFrame with {' and '.join(wanted)}{''.join(also)}",
            )
        if wrong:
            column, value, expected = wrong[0]
            raise ConfigurationError(f"{parameter}[{column!r}]", value, expected + "".join(also[1:]))
        return frame

    def mistyped(self, frame: pd.DataFrame, columns: Iterable[str]) -> list[tuple[str, Any, str]]:
        """``(column, value or dtype found, what is expected)`` for each of ``columns`` not of its declared kind.

        Columns this schema does not declare are not checked.
        """
        found = []
        for column in columns:
            declared = self._by_name.get(column)
            problem = mistyped(frame[column], declared.kind) if declared is not None else None
            if problem is not None:
                found.append((column, *problem))
        return found

    def markdown(self) -> str:
        """The contract as a Markdown table (docs/CONTRACTS.md shows it as generated here).

        Examples
        --------
        >>> print(FEE_MODEL.markdown().splitlines()[2])
        | `currency` | category | `category` | yes |  |
        """
        sheet = any(c.english for c in self.fields)
        header = "| column | kind | dtype | required | " + ("headers (English / Russian) |" if sheet else "note |")
        lines = [header, "|---|---|---|---|---|"]
        for c in self.fields:
            note = " / ".join(f"`{h}`" for h in (c.english, c.russian, *c.aliases) if h) if sheet else ""
            note = "; ".join(x for x in (note, "personal data" if c.pii else "") if x)
            lines.append(f"| `{c.name}` | {c.kind} | `{c.dtype}` | {'yes' if c.required else ''} | {note} |")
        lines += [f"\nAlso required: {g.describe()}." for g in self.one_of]
        told = [f"`{c}`" for c in self.identity] + [" or ".join(f"`{c}`" for c in g.columns) for g in self.one_of]
        if told:
            lines.append(f"\nWithout a manifest, told apart from the other frames by: {' and '.join(told)}.")
        if self.pii:
            lines.append(f"\nPersonal data besides the columns marked: {', '.join(f'`{p}`' for p in self.pii)}.")
        return "\n".join(lines)


@functools.lru_cache(maxsize=4096)
def _matches(column: str, patterns: tuple[str, ...]) -> bool:
    """Cached: asked once per column of every page."""
    return any(fnmatch.fnmatchcase(column, p) for p in patterns)


def require_frame(frame: Any, parameter: str) -> pd.DataFrame:
    """Return ``frame`` if it is a DataFrame with unique column names, else raise ``ConfigurationError``.

    A column name given twice makes ``frame[name]`` a DataFrame, so every
    later step would fail or read the wrong values.

    Examples
    --------
    >>> require_frame(pd.DataFrame([[1, 2]], columns=["amount", "amount"]), "frame")
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: frame="<DataFrame with the column 'amount' 2 times>" is not valid: \
expected a DataFrame whose column names are unique
    """
    if not isinstance(frame, pd.DataFrame):
        raise ConfigurationError(parameter, type(frame).__name__, "a pandas DataFrame")
    repeated = frame.columns[frame.columns.duplicated()]
    if len(repeated):
        name = repeated[0]
        count = int((frame.columns == name).sum())
        raise ConfigurationError(
            parameter,
            f"<DataFrame with the column {name!r} {count} times>",
            "a DataFrame whose column names are unique",
        )
    return frame


def _source(frame: pd.DataFrame) -> str | None:
    """The ``source`` of the frame's manifest (``attrs["ledgerkit"]``), when a loader left one."""
    manifest = frame.attrs.get("ledgerkit")
    source = manifest.get("source") if isinstance(manifest, Mapping) else None
    return source if isinstance(source, str) else None


def frame_kind(frame: Any, parameter: str, accepted: Sequence[Schema]) -> Schema:
    """Which of the ``accepted`` kinds of frame ``frame`` is.

    The frame's manifest says it when a loader made it
    (``attrs["ledgerkit"]["source"]``); otherwise its columns do, by the
    ``identity`` of every loader schema (:data:`LOADER_SCHEMAS`). A frame of
    a kind not accepted, of no kind, or of more than one kind is refused
    with a ``ConfigurationError`` saying what it looks like; when only one
    kind is accepted, a frame of no kind is taken as that kind (its
    :meth:`Schema.check` then names what it lacks).

    Examples
    --------
    >>> tx = pd.DataFrame({"transaction_fee": [1]})
    >>> frame_kind(tx, "frame", (TRANSACTIONS, STATEMENTS)).name
    'transactions'
    >>> frame_kind(tx, "statements", (STATEMENTS,))
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: statements='<a transactions frame>' is not valid: \
expected a statements frame (with the column 'created'); it has the columns of a transactions frame \
(with the column 'transaction_fee')
    """
    frame = require_frame(frame, parameter)
    source = _source(frame)
    if source in _BY_SOURCE:
        found = _BY_SOURCE[source]
        if found in accepted:
            return found
        raise ConfigurationError(
            parameter,
            f"<{found.title}>",
            f"{_either(accepted)}; its manifest (attrs['ledgerkit']['source'] = {source!r}) says it is {found.title}",
        )
    matches = [s for s in LOADER_SCHEMAS if s.identifies(frame)]
    if len(matches) == 1 and matches[0] in accepted:
        return matches[0]
    if len(matches) == 1:
        raise ConfigurationError(
            parameter, f"<{matches[0].title}>", f"{_either(accepted)}; it has the columns of {matches[0].describe()}"
        )
    if len(matches) > 1:
        raise ConfigurationError(
            parameter,
            f"<DataFrame with columns {list(frame.columns)}>",
            f"{_either(accepted)}, told apart by their columns; this frame has the columns "
            f"of {' and of '.join(s.describe() for s in matches)}",
        )
    if len(accepted) == 1:
        return accepted[0]
    raise ConfigurationError(parameter, f"<DataFrame with columns {list(frame.columns)}>", _either(accepted))


def _either(schemas: Sequence[Schema]) -> str:
    return " or ".join(s.describe() for s in schemas)


# --------------------------------------------------------------------------- the declarations


def _nested(prefix: str, kind: str, names: str, *, pii: str = "") -> tuple[Column, ...]:
    """Columns ``prefix.name`` of one kind; ``pii`` names those that are personal data (``"*"``: all)."""
    private = set(pii.split())
    return tuple(Column(f"{prefix}.{n}", kind, pii="*" in private or n in private) for n in names.split())


def _required(names: str, kind: str) -> tuple[Column, ...]:
    return tuple(Column(n, kind, required=True) for n in names.split())


#: The account id columns of a DWH balance report.
ACCOUNT_IDS: tuple[str, ...] = ("merchant_id", "shop_id", "gateway_id")
#: A balance report's sheets name the account by at least one of its ids.
ACCOUNT = OneOf(ACCOUNT_IDS, "the account ids: they say which balance a row moves")

#: The optional first column of any frame of a many-account call (``load_*(accounts=...)``): the account's
#: name in the accounts file. Not a provider field (no sheet has it); the analysis groups by it as by currency
#: (:mod:`ledgerkit.analysis._accounts`).
ACCOUNT_COLUMN = Column("account", "category")

#: beGateway shop report v3 (docs/CONTRACTS.md §3): one row per transaction.
TRANSACTIONS = Schema(
    name="transactions",
    title="a transactions frame",
    fields=(
        Column("id", "int"),
        Column("uid", "str"),
        Column("type", "category", required=True),
        Column("status", "category", required=True),
        Column("payment_method_type", "category"),
        Column("amount", "minor", required=True),
        Column("transaction_fee", "minor_float", required=True),
        Column("pay_to_merchant", "minor_float"),
        Column("currency", "category", required=True),
        Column("discount_rate", "float"),
        Column("transaction_rate", "float"),
        Column("test", "bool"),
        *(Column(n, "time") for n in ("created_at", "paid_at", "settled_at", "manually_corrected_at")),
        *(Column(n, "str") for n in ("description", "tracking_id", "order_id", "message", "gateway_note")),
        Column("shop.id", "int"),
        Column("payment.gateway_id", "int"),
        Column("payment.gateway_name", "category"),
        *_nested("payment", "category", "status"),
        *_nested("payment", "str", "ref_id message auth_code bank_code rrn billing_descriptor"),
        *_nested("credit_card", "category", "brand product issuer_country issuer_name"),
        *_nested("credit_card", "str", "bin first_1 last_4 holder token", pii="holder token"),
        *_nested("credit_card", "int", "exp_month exp_year"),
        Column("billing_address.country", "category"),
        *_nested("billing_address", "str", "first_name last_name address city zip state phone birth_date", pii="*"),
        *_nested("customer", "str", "ip email", pii="*"),
        Column("additional_data.request_id", "str"),
        *_nested(
            "additional_data.browser",
            "int",
            "screen_width screen_height screen_color_depth time_zone window_height window_width",
        ),
        *_nested("additional_data.browser", "category", "language time_zone_name accept_header"),
        Column("additional_data.browser.java_enabled", "bool"),
        Column("additional_data.browser.user_agent", "str"),
        Column("additional_data.vendor.name", "category"),
        Column("additional_data.vendor.token", "str", pii=True),
        *_nested(
            "additional_data.tdsecure",
            "str",
            "status message ve_status acs_url pa_req md pa_res_url eci pa_status xid cavv cavv_algorithm "
            "fail_reason method_process_url",
            pii="*",
        ),
        Column("additional_data.avs_cvc.avs_verification.result_code", "str"),
        Column("additional_data.avs_cvc.cvc_verification.result_code", "str"),
        *_nested("three_d_secure_verification", "category", "status ve_status eci pa_status"),
        *_nested("three_d_secure_verification", "str", "message xid cavv cavv_algorithm", pii="xid cavv"),
    ),
    pii=("billing_address.*", "additional_data.tdsecure.*"),
    identity=("transaction_fee",),
)

#: MakeCommerce account statement rows (docs/CONTRACTS.md §3), in chain order;
#: ``currency`` is the account currency, added by the loader.
STATEMENTS = Schema(
    name="statements",
    title="a statements frame",
    fields=(
        Column("row_id", "str"),
        Column("created", "time", required=True),
        Column("type", "category", required=True),
        Column("amount", "major", required=True),
        Column("balance_before", "major"),
        Column("balance_after", "major"),
        Column("original_amount", "major"),
        Column("currency", "category", required=True),
        Column("original_currency", "str"),
        Column("exchange_rate", "float"),
        Column("transaction", "str"),
        Column("transaction_id", "str"),
        Column("channel", "category"),
        Column("merchant_reference", "str"),
        Column("payout_id", "str"),
    ),
    identity=("created",),
)

_ACCOUNT_COLUMNS = (
    Column("merchant_id", "int", "Merchant ID", "ID мерчанта"),
    Column("merchant_name", "str", "Merchant name", "Название мерчанта"),
    Column("shop_id", "int", "Shop ID", "ID магазина"),
    Column("shop_name", "str", "Shop name", "Название магазина"),
    Column("gateway_id", "int", "Gateway ID", "ID шлюза"),
    Column("gateway_name", "str", "Gateway name", "Название шлюза"),
)

#: The ``balance_records`` sheet of a beGateway DWH balance report (docs/CONTRACTS.md §2.3, §3).
BALANCE_RECORDS = Schema(
    name="balance_records",
    title="balance records",
    fields=(
        *_ACCOUNT_COLUMNS,
        Column("record_id", "int", "Record ID", "ID записи"),
        Column("created_at", "time", "Created at", "Дата создания", required=True),
        Column("transaction_uid", "str", "Transaction UID", "UID транзакции"),
        Column("transaction_id", "int", "Transaction ID", "ID транзакции"),
        Column("transaction_type", "category", "Transaction type", "Тип транзакции", aliases=("Type",)),
        Column("description", "str", "Description", ""),
        Column("currency", "currency", "Currency", "Валюта", required=True),
        Column("amount", "major", "Amount", "Сумма", required=True),
        Column("fee", "major", "Fee", "Комиссия"),
        Column("net", "major", "Net", "Итого"),
        Column("balance_before", "major", "Balance before", "Баланс до"),
        Column("balance_after", "major", "Balance after", "Баланс после"),
    ),
    identity=("created_at",),
    one_of=(ACCOUNT,),
)

#: The ``opening_balance`` sheet of the same report: one row per account.
OPENING_BALANCE = Schema(
    name="opening_balance",
    title="an opening balance frame",
    fields=(
        *_ACCOUNT_COLUMNS,
        Column("currency", "currency", "Currency", "Валюта", required=True),
        Column("date", "time", "Date", "Дата"),
        Column("opening_balance", "major", "Opening balance", "Входящий остаток", required=True),
    ),
    identity=("opening_balance",),
    one_of=(ACCOUNT,),
)

#: The result of ``fee_model``, the input of ``fee_anomalies``; its other columns are the group keys.
FEE_MODEL = Schema(
    name="fee_model",
    title="a fee model",
    fields=(
        Column("currency", "category", required=True),
        Column("percent", "float", required=True),
        Column("fixed", "minor", required=True),
        Column("n", "int"),
        Column("n_explained", "int"),
        Column("share_explained", "float"),
    ),
)

#: The result of ``reconcile_transactions``, the input of ``reconciliation_summary``.
RECONCILIATION = Schema(
    name="reconciliation",
    title="a reconciliation result",
    fields=(
        Column("status", "str", required=True),
        Column("transaction_id", "int"),
        Column("transaction_uid", "str"),
        Column("type", "str"),
        Column("currency", "str", required=True),
        Column("records", "int"),
        *_required("transaction_amount record_amount amount_difference", "minor"),
        Column("transaction_fee", "minor"),
        Column("record_fee", "minor"),
        *_required("fee_difference", "minor"),
    ),
)

#: The frames the loaders make, told apart by their manifest or their identifying columns.
LOADER_SCHEMAS: tuple[Schema, ...] = (TRANSACTIONS, STATEMENTS, BALANCE_RECORDS)
_BY_SOURCE: dict[str, Schema] = {s.name: s for s in LOADER_SCHEMAS}
