"""Plots of the analysis frames: ``plot_*(frame, *, ax=None, ...) -> Axes``.

Each function draws one chart of one analysis result (see
:mod:`ledgerkit.analysis`) on the Axes it is given, or on a new figure of
notebook width when ``ax`` is None, and returns the Axes. It never calls
``show()`` and never prints, so charts compose into reports and subplots.

Money is shown in major units with its currency (``1234`` EUR minor units is
drawn as 12.34 EUR), converted with :func:`ledgerkit.money.minor_to_major`
for display only. One currency per chart: a frame holding several needs
``currency=``; amounts of two currencies are never added or stacked.

=======================  ==================================================
function                 draws
=======================  ==================================================
plot_effective_rate      effective fee rate (bp) per group, volume on a twin axis
plot_fee_composition     fees per period, stacked by group / fee type
plot_balance             balance after each row (step line), breaks marked
plot_roll_forward        opening -> activity by category -> closing, one period
plot_payout_waterfall    gross -> fees -> VAT -> ... -> paid out, residual highlighted
plot_payouts             payout amounts over time, residuals highlighted
=======================  ==================================================
"""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from .analysis._common import require_columns, require_frame
from .errors import ConfigurationError
from .money import check_currency, exponent, format_money, minor_to_major

__all__ = [
    "plot_effective_rate",
    "plot_fee_composition",
    "plot_balance",
    "plot_roll_forward",
    "plot_payout_waterfall",
    "plot_payouts",
    "FIGSIZE",
    "COLORS",
]

#: Size of a new figure: the width of a notebook cell.
FIGSIZE: tuple[float, float] = (9.0, 4.5)

#: Colours by meaning, shared by every chart.
COLORS: dict[str, str] = {
    "total": "#4c72b0",
    "increase": "#55a868",
    "decrease": "#c44e52",
    "residual": "#ff7f0e",
    "volume": "#8172b2",
    "line": "#4c72b0",
    "break": "#d62728",
}

#: Columns of a ``fee_breakdown`` result that are measures, not group keys.
_FEE_MEASURES = frozenset(
    {"currency", "period", "count", "fee", "vat", "fee_incl_vat", "volume_count", "volume", "rate_bp",
     "rate_incl_vat_bp"}
)

#: Friendly group names of ``fee_breakdown`` -> the columns they become.
_FRIENDLY_KEYS: dict[str, tuple[str, ...]] = {
    "brand": ("credit_card.brand",),
    "product": ("credit_card.product",),
    "country": ("credit_card.issuer_country",),
    "gateway": ("payment.gateway_id", "payment.gateway_name"),
    "channel": ("channel", "payment_method_type"),
    "method": ("channel", "payment_method_type"),
    "type": ("fee_type", "type"),
    "fee_type": ("fee_type",),
}

#: Group columns -> the short name shown in titles and axis labels.
_KEY_NAMES: dict[str, str] = {
    "credit_card.brand": "brand",
    "credit_card.product": "product",
    "credit_card.issuer_country": "issuer country",
    "payment.gateway_id": "gateway",
    "payment.gateway_name": "gateway",
    "payment_method_type": "payment method",
    "fee_type": "fee type",
}


# --------------------------------------------------------------------------
# Shared helpers


def _axes(ax: Axes | None) -> Axes:
    """The Axes to draw on: ``ax`` itself, or the single Axes of a new figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    elif not isinstance(ax, Axes):
        raise ConfigurationError("ax", type(ax).__name__, "a matplotlib Axes or None")
    return ax


def _require(frame: Any, columns: Sequence[str], parameter: str) -> pd.DataFrame:
    frame = require_frame(frame, parameter)
    require_columns(frame, columns, parameter)
    return frame


def _one_currency(frame: pd.DataFrame, currency: str | None) -> tuple[str | None, pd.DataFrame]:
    """The currency to draw and the frame's rows in it; several currencies need ``currency=``.

    An empty frame gives ``(currency, frame)`` unchanged, so that an empty
    selection in a widget draws an empty chart instead of failing.
    """
    codes = frame["currency"].astype("str")
    present = sorted(set(codes.dropna()))
    if currency is not None:
        currency = check_currency(currency)
        if frame.empty:
            return currency, frame
        if currency not in present:
            raise ConfigurationError("currency", currency, f"one of the currencies in the frame: {present}")
        return currency, frame.loc[codes.eq(currency).fillna(False).to_numpy(dtype=bool)]
    if len(present) > 1:
        raise ConfigurationError(
            "currency", None, f"one of {present}",
            "The frame holds several currencies and one chart shows one (amounts are never added across them).",
        )
    return (present[0] if present else None), frame


def _major(values: pd.Series, currency: str) -> np.ndarray:
    """Minor units -> float major units, for drawing only (NA becomes NaN)."""
    return minor_to_major(values.astype("Int64"), currency).to_numpy(dtype="float64", na_value=np.nan)


def _unit(currency: str | None) -> str:
    return currency if currency is not None else "no currency"


def _money_axis(axis: Any, currency: str | None) -> None:
    """Tick labels with thousands separators and at most the currency's decimals."""
    decimals = exponent(currency) if currency is not None else 2

    def label(value: float, _position: int) -> str:
        text = f"{value:,.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text

    axis.set_major_formatter(FuncFormatter(label))


def _date_axis(axis: Any) -> None:
    locator = mdates.AutoDateLocator()
    axis.set_major_locator(locator)
    axis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _naive_utc(values: pd.Series) -> np.ndarray:
    """UTC timestamps as naive ``datetime64`` for matplotlib (the axis says UTC)."""
    return values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def _headroom(ax: Axes, *values: np.ndarray, share: float = 0.2) -> None:
    """Y limits from 0 and ``values`` with room above (and below) for labels and the legend."""
    finite = np.concatenate([np.ravel(v) for v in values] + [np.zeros(1)])
    finite = finite[np.isfinite(finite)]
    low, high = float(finite.min()), float(finite.max())
    pad = (high - low) * share or 1.0
    ax.set_ylim(low - (pad if low < 0 else 0), high + pad)


def _no_data(ax: Axes, title: str) -> Axes:
    ax.set_title(title)
    ax.text(0.5, 0.5, "no rows to show", ha="center", va="center", transform=ax.transAxes, color="grey")
    return ax


def _period_labels(periods: pd.Series) -> list[str]:
    """Short labels: ``Jan 2025`` when every period starts a month, else ``2025-01-06``."""
    stamps = pd.DatetimeIndex(periods)
    monthly = bool(len(stamps)) and bool(((stamps.day == 1) & (stamps.hour == 0)).all())
    return list(stamps.strftime("%b %Y" if monthly else "%Y-%m-%d"))


def _group_name(keys: Sequence[str]) -> str:
    """A readable name of the group columns for titles: ``gateway`` for ``payment.gateway_id``."""
    names = [_KEY_NAMES.get(k, k) for k in keys]
    return ", ".join(dict.fromkeys(names)) or "currency"


def _group_labels(frame: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """One text label per row from its key columns (missing values shown as ``(none)``)."""
    if not keys:
        return list(frame["currency"].astype("str"))
    parts = [frame[k].astype("object").where(frame[k].notna(), "(none)").astype("str") for k in keys]
    return [" · ".join(values) for values in zip(*parts)]


# --------------------------------------------------------------------------
# Fees


def _fee_keys(breakdown: pd.DataFrame, by: str | Sequence[str] | None) -> list[str]:
    """The key columns to label groups with: all of them by default, else ``by`` resolved."""
    keys = [c for c in breakdown.columns if c not in _FEE_MEASURES]
    if by is None:
        return keys
    names = [by] if isinstance(by, str) else list(by)
    chosen: list[str] = []
    for name in names:
        candidates = _FRIENDLY_KEYS.get(name, (name,)) if isinstance(name, str) else ()
        found = [c for c in candidates if c in keys]
        if not found:
            raise ConfigurationError("by", name, f"a group column of the breakdown: {keys}")
        chosen.extend(c for c in found if c not in chosen)
    return chosen


def plot_effective_rate(
    breakdown: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    currency: str | None = None,
    rate: str = "rate_bp",
    ax: Axes | None = None,
) -> Axes:
    """Effective fee rate per group as bars, with the group's volume on a twin axis.

    Parameters
    ----------
    breakdown : DataFrame
        The result of :func:`ledgerkit.analysis.fee_breakdown` without
        ``freq`` (one row per group and currency).
    by : str or sequence of str, optional
        Which key columns label the bars (friendly names such as ``"brand"``
        or column names); default every key column of the breakdown. The
        labels must name one row each.
    currency : str, optional
        Required when the breakdown holds several currencies.
    rate : {"rate_bp", "rate_incl_vat_bp"}
        The rate drawn (statements also have the rate including VAT).
    ax : Axes, optional
        Where to draw; a new figure is created when None.

    Returns
    -------
    Axes
        The bars are ``ax.containers[0]`` (heights in basis points); the
        volume axis is ``ax.right_ax``.

    Examples
    --------
    >>> from ledgerkit.analysis import fee_breakdown
    >>> tx = pd.DataFrame({
    ...     "type": ["payment", "payment"], "status": ["successful"] * 2,
    ...     "amount": pd.array([10_000, 20_000], dtype="Int64"),
    ...     "transaction_fee": pd.array([300, 400], dtype="Int64"),
    ...     "currency": ["EUR", "EUR"], "credit_card.brand": ["visa", "master"]})
    >>> ax = plot_effective_rate(fee_breakdown(tx, by="brand"))
    >>> [float(bar.get_height()) for bar in ax.containers[0]]
    [200.0, 300.0]
    >>> plt.close("all")
    """
    frame = _require(breakdown, ["currency", rate, "volume"], "breakdown")
    if "period" in frame.columns:
        raise ConfigurationError(
            "breakdown", "<fee_breakdown with a 'period' column>",
            "a fee_breakdown computed without freq (use plot_fee_composition for periods)",
        )
    keys = _fee_keys(frame, by)
    currency, rows = _one_currency(frame, currency)
    ax = _axes(ax)
    title = f"Effective fee rate by {_group_name(keys)} ({_unit(currency)})"
    if rows.empty:
        return _no_data(ax, title)
    labels = _group_labels(rows, keys)
    if len(set(labels)) != len(labels):
        raise ConfigurationError("by", by, f"columns naming one row each; with {keys} several rows share a label")
    positions = np.arange(len(rows))
    heights = rows[rate].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    bars = ax.bar(positions, heights, color=COLORS["total"], label=f"effective rate ({rate})")
    ax.bar_label(bars, labels=[f"{h:,.1f}" if np.isfinite(h) else "n/a" for h in heights], fontsize=8)
    ax.set_xticks(positions, labels, rotation=30 if len(labels) > 5 else 0, ha="right" if len(labels) > 5 else "center")
    ax.set_ylabel("effective rate (bp of volume)")
    ax.set_xlabel(_group_name(keys))
    _headroom(ax, heights)
    ax.set_title(title)
    right = ax.twinx()
    right.plot(positions, _major(rows["volume"], currency), "o", color=COLORS["volume"], label=f"volume ({currency})")
    right.set_ylabel(f"volume ({currency})")
    _headroom(right, _major(rows["volume"], currency))
    _money_axis(right.yaxis, currency)
    ax.right_ax = right
    handles = [bars, *right.get_lines()]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8)
    return ax


def plot_fee_composition(
    breakdown_with_period: pd.DataFrame,
    *,
    currency: str | None = None,
    value: str = "fee",
    ax: Axes | None = None,
) -> Axes:
    """Fees per period as stacked bars, one segment per group (fee type, gateway, ...).

    Parameters
    ----------
    breakdown_with_period : DataFrame
        The result of ``fee_breakdown(frame, by=..., freq=...)``: one row
        per group, period and currency. For statements grouped by fee type
        the segments (charge types and the ``VAT`` line) add up to the total
        cost of the period.
    currency : str, optional
        Required when the breakdown holds several currencies.
    value : str
        The money column stacked, default ``"fee"``.
    ax : Axes, optional
        Where to draw; a new figure is created when None.

    Returns
    -------
    Axes
        One bar container per group (``container.get_label()`` is the
        group), bars in period order, heights in major units.

    Examples
    --------
    >>> b = pd.DataFrame({
    ...     "currency": ["EUR"] * 3, "fee_type": ["TRX_FEE", "VAT", "TRX_FEE"],
    ...     "period": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-02-01"], utc=True),
    ...     "fee": pd.array([250, 55, 300], dtype="Int64")})
    >>> ax = plot_fee_composition(b)
    >>> {c.get_label(): [round(float(bar.get_height()), 9) for bar in c] for c in ax.containers}
    {'TRX_FEE': [2.5, 3.0], 'VAT': [0.55, 0.0]}
    >>> plt.close("all")
    """
    frame = _require(breakdown_with_period, ["currency", "period", value], "breakdown_with_period")
    keys = [c for c in frame.columns if c not in _FEE_MEASURES]
    currency, rows = _one_currency(frame, currency)
    ax = _axes(ax)
    title = f"Fees per period by {_group_name(keys)} ({_unit(currency)})"
    if rows.empty:
        return _no_data(ax, title)
    table = pd.DataFrame({"period": rows["period"].array, "group": _group_labels(rows, keys),
                          "value": rows[value].astype("Int64").array})
    if table.duplicated(["period", "group"]).any():
        raise ConfigurationError(
            "breakdown_with_period", "<several rows per group and period>",
            "one row per group and period, as fee_breakdown(..., by=..., freq=...) returns",
        )
    wide = table.pivot(index="period", columns="group", values="value").sort_index().fillna(0)
    positions = np.arange(len(wide))
    above, below = np.zeros(len(wide)), np.zeros(len(wide))
    for index, group in enumerate(wide.columns):
        heights = _major(wide[group], currency)
        bottoms = np.where(heights >= 0, above, below)
        ax.bar(positions, heights, bottom=bottoms, label=str(group), color=f"C{index % 10}")
        above, below = np.where(heights >= 0, above + heights, above), np.where(heights < 0, below + heights, below)
    ax.set_xticks(positions, _period_labels(wide.index.to_series()))
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("period (UTC)")
    ax.set_ylabel(f"{value} ({currency})")
    _money_axis(ax.yaxis, currency)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    return ax


# --------------------------------------------------------------------------
# Balance


def plot_balance(
    statements: pd.DataFrame,
    *,
    breaks: pd.DataFrame | None = None,
    currency: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """The balance after each row over time, as a step line, with chain breaks marked.

    Parameters
    ----------
    statements : DataFrame
        Account statements (``created``) or DWH balance records
        (``created_at``; one line per account) with ``balance_after`` and
        ``currency``.
    breaks : DataFrame, optional
        The result of :func:`ledgerkit.analysis.check_balances` on the same
        frame: each break is a red marker at its row with its difference.
    currency : str, optional
        Required when the frame holds several currencies.
    ax : Axes, optional
        Where to draw; a new figure is created when None.

    Returns
    -------
    Axes
        One step line per account (``ax.get_lines()``, y in major units);
        breaks are the line labelled ``"breaks"`` plus one annotation each.

    Examples
    --------
    >>> s = pd.DataFrame({
    ...     "created": pd.to_datetime(["2025-01-05", "2025-01-06"], utc=True),
    ...     "balance_after": pd.array([1000, 970], dtype="Int64"), "currency": ["EUR", "EUR"]})
    >>> plot_balance(s).get_lines()[0].get_ydata().tolist()
    [10.0, 9.7]
    >>> plt.close("all")
    """
    time = "created_at" if "created_at" in getattr(statements, "columns", ()) else "created"
    frame = _require(statements, [time, "balance_after", "currency"], "statements")
    positioned = frame.assign(_position=np.arange(len(frame), dtype="int64"))
    currency, rows = _one_currency(positioned, currency)
    ax = _axes(ax)
    title = f"Balance after each row ({_unit(currency)})"
    if rows.empty:
        return _no_data(ax, title)
    accounts = [c for c in ("merchant_id", "shop_id", "gateway_id") if c in rows.columns and time == "created_at"]
    chains = rows.groupby(accounts, sort=True, dropna=False) if accounts else [((), rows)]
    for key, chain in chains:
        label = "balance" if not accounts else " ".join(f"{a}={k}" for a, k in zip(accounts, np.atleast_1d(key)))
        ax.plot(_naive_utc(chain[time]), _major(chain["balance_after"], currency), drawstyle="steps-post",
                color=COLORS["line"] if not accounts else None, label=label)
    if breaks is not None:
        _mark_breaks(ax, rows, _require(breaks, ["position", "kind"], "breaks"), currency, time)
    ax.set_title(title)
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(f"balance ({currency})")
    _date_axis(ax.xaxis)
    _money_axis(ax.yaxis, currency)
    ax.legend(fontsize=8, loc="best")
    return ax


def _mark_breaks(ax: Axes, rows: pd.DataFrame, breaks: pd.DataFrame, currency: str, time: str) -> None:
    """Red markers at the rows ``check_balances`` names, each annotated with its difference.

    ``rows["_position"]`` holds each row's number in the frame given to
    ``check_balances``, so breaks of other currencies simply find no row.
    """
    where = pd.Series(np.arange(len(rows)), index=rows["_position"].to_numpy())
    found = [
        (int(where[p]), str(kind), difference)
        for p, kind, difference in zip(breaks["position"].astype("Int64"), breaks["kind"], _differences(breaks))
        if not pd.isna(p) and int(p) in where.index
    ]
    if not found:
        return
    at = rows.iloc[[i for i, _, _ in found]]
    x, y = _naive_utc(at[time]), _major(at["balance_after"], currency)
    ax.plot(x, y, linestyle="none", marker="X", markersize=9, color=COLORS["break"], label="breaks")
    for xi, yi, (_, kind, difference) in zip(x, y, found):
        amount = "" if difference is None else " " + format_money(difference, currency, sign=True)
        ax.annotate(kind.replace("_", " ") + amount, (xi, yi), xytext=(6, 8), textcoords="offset points",
                    color=COLORS["break"], fontsize=8)


def _differences(breaks: pd.DataFrame) -> list[int | None]:
    if "difference" not in breaks.columns:
        return [None] * len(breaks)
    return [None if pd.isna(d) else int(d) for d in breaks["difference"]]


def _roll_row(rollforward: pd.DataFrame, period: Any, currency: str | None) -> tuple[str, pd.Series]:
    """The roll-forward row of the period containing ``period`` (naive timestamps are UTC)."""
    frame = _require(rollforward, ["currency", "period", "period_end", "opening", "closing"], "rollforward")
    currency, rows = _one_currency(frame, currency)
    try:
        when = pd.Timestamp(period)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError("period", period, "a timestamp or date such as '2025-02-01'") from exc
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    inside = rows["period"].le(when) & rows["period_end"].gt(when)
    if not inside.any():
        available = [p.strftime("%Y-%m-%d") for p in rows["period"]]
        raise ConfigurationError("period", period, f"a date inside one of the periods starting {available}")
    return currency, rows.loc[inside].iloc[0]


def plot_roll_forward(
    rollforward: pd.DataFrame, period: Any, *, currency: str | None = None, ax: Axes | None = None
) -> Axes:
    """Waterfall of one period: opening -> each activity category -> closing.

    When the reported balances disagree with opening + activity
    (``unexplained != 0``), the unexplained amount follows as a highlighted
    floating bar and the reported closing as a last total.

    Parameters
    ----------
    rollforward : DataFrame
        The result of :func:`ledgerkit.analysis.roll_forward`.
    period : str or Timestamp
        Any moment inside the period (``"2025-02-01"`` for February when
        monthly); naive values are UTC.
    currency : str, optional
        Required when the roll-forward holds several currencies.
    ax : Axes, optional
        Where to draw; a new figure is created when None.

    Returns
    -------
    Axes
        The bars are ``ax.containers[0]`` in step order; ``ax.get_xticklabels()``
        names the steps. Totals start at 0, categories float.

    Examples
    --------
    >>> r = pd.DataFrame({
    ...     "currency": ["EUR"], "period": pd.to_datetime(["2025-01-01"], utc=True),
    ...     "period_end": pd.to_datetime(["2025-02-01"], utc=True),
    ...     "opening": pd.array([500], dtype="Int64"), "income": pd.array([1000], dtype="Int64"),
    ...     "fees": pd.array([-30], dtype="Int64"), "closing": pd.array([1470], dtype="Int64")})
    >>> [t.get_text() for t in plot_roll_forward(r, "2025-01-01").texts]
    ['5.00 EUR', '+10.00 EUR', '-0.30 EUR', '14.70 EUR']
    >>> plt.close("all")
    """
    currency, row = _roll_row(rollforward, period, currency)
    columns = list(rollforward.columns)
    categories = columns[columns.index("opening") + 1 : columns.index("closing")]
    steps: list[tuple[str, int, int, str]] = [("opening", 0, int(row["opening"]), "total")]
    level = int(row["opening"])
    for category in categories:
        steps.append((category, level, int(row[category]), "delta"))
        level += int(row[category])
    steps.append(("closing", 0, int(row["closing"]), "total"))
    unexplained = row.get("unexplained", 0)
    if not pd.isna(unexplained) and int(unexplained) != 0:
        steps.append(("unexplained", int(row["closing"]), int(unexplained), "residual"))
        steps.append(("reported closing", 0, int(row["reported_closing"]), "total"))
    ax = _axes(ax)
    _waterfall(ax, steps, currency)
    end = row["period_end"] - pd.Timedelta(days=1)
    span = row["period"].strftime("%Y-%m-%d") + ("" if end <= row["period"] else " to " + end.strftime("%Y-%m-%d"))
    ax.set_title(f"Balance roll-forward {span} ({currency})")
    return ax


# --------------------------------------------------------------------------
# Payouts


def _waterfall(ax: Axes, steps: Sequence[tuple[str, int, int, str]], currency: str) -> None:
    """Draw ``(label, start, amount, kind)`` steps in minor units: totals from 0, deltas floating.

    Each bar is labelled with its exact amount (``format_money``); a
    floating bar's ``get_height()`` is matplotlib's top − bottom, which may
    differ from the amount in the last bit. The residual gets its own
    colour, hatching and legend entry.
    """
    labels = [s[0] for s in steps]
    starts = _major(pd.Series([s[1] for s in steps], dtype="Int64"), currency)
    amounts = _major(pd.Series([s[2] for s in steps], dtype="Int64"), currency)
    colors = [
        COLORS["residual"] if kind == "residual" else COLORS["total"] if kind == "total"
        else COLORS["increase"] if amount >= 0 else COLORS["decrease"]
        for (_, _, amount, kind) in steps
    ]
    positions = np.arange(len(steps))
    bars = ax.bar(positions, amounts, bottom=starts, color=colors, edgecolor="black", linewidth=0.5)
    for bar, (_, _, _, kind) in zip(bars, steps):
        if kind == "residual":
            bar.set_hatch("//")
            bar.set_label("residual (unexplained)")
    ax.bar_label(bars, labels=[format_money(s[2], currency, sign=s[3] != "total") for s in steps], fontsize=8)
    ax.set_xticks(positions, labels, rotation=30, ha="right")
    _headroom(ax, starts, starts + amounts, share=0.12)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel(f"amount ({currency})")
    _money_axis(ax.yaxis, currency)
    legend = [Patch(color=COLORS["total"], label="total"), Patch(color=COLORS["increase"], label="increase"),
              Patch(color=COLORS["decrease"], label="decrease")]
    if any(kind == "residual" for *_, kind in steps):
        legend.append(Patch(facecolor=COLORS["residual"], hatch="//", edgecolor="black", label="residual (unexplained)"))
    ax.legend(handles=legend, fontsize=8, loc="best")


def plot_payout_waterfall(waterfall: pd.DataFrame, *, currency: str | None = None, ax: Axes | None = None) -> Axes:
    """Gross income -> fees -> VAT -> refunds/chargebacks -> net -> paid out, residual highlighted.

    Parameters
    ----------
    waterfall : DataFrame
        The result of :func:`ledgerkit.analysis.payout_waterfall` for one payout.
    currency : str, optional
        Required when the waterfall holds several currencies.
    ax : Axes, optional
        Where to draw; a new figure is created when None.

    Returns
    -------
    Axes
        The bars are ``ax.containers[0]`` in step order (heights = the
        steps' amounts in major units); the residual bar, when there is one,
        is orange, hatched and labelled ``"residual (unexplained)"``.

    Examples
    --------
    >>> from ledgerkit.analysis import payout_waterfall
    >>> s = pd.DataFrame({
    ...     "created": pd.to_datetime(["2025-01-06", "2025-01-06", "2025-01-07"], utc=True),
    ...     "type": ["INCOME", "TRX_FEE", "PAYOUT"],
    ...     "amount": pd.array([1000, -25, -970], dtype="Int64"),
    ...     "currency": "EUR", "payout_id": pd.array(["7", "7", "7"], dtype="str")})
    >>> ax = plot_payout_waterfall(payout_waterfall(s, "7"))
    >>> [t.get_text() for t in ax.texts][-3:]
    ['9.75 EUR', '9.70 EUR', '-0.05 EUR']
    >>> plt.close("all")
    """
    frame = _require(waterfall, ["currency", "step", "amount", "start", "kind"], "waterfall")
    currency, rows = _one_currency(frame, currency)
    ax = _axes(ax)
    title = f"Payout waterfall ({_unit(currency)})"
    if rows.empty:
        return _no_data(ax, title)
    steps = [(str(s), int(a), int(b), str(k)) for s, a, b, k in
             zip(rows["step"], rows["start"], rows["amount"], rows["kind"])]
    _waterfall(ax, steps, currency)
    residual = [amount for _, _, amount, kind in steps if kind == "residual"]
    if residual and residual[0] != 0:
        title += f" — residual {format_money(residual[0], currency, sign=True)} unexplained"
    ax.set_title(title)
    return ax


def plot_payouts(payout_groups: pd.DataFrame, *, currency: str | None = None, ax: Axes | None = None) -> Axes:
    """Payout amounts over time as bars; payouts with a residual highlighted and annotated.

    The open balance (no ``PAYOUT`` row, so no ``paid_at``) is not drawn.

    Parameters
    ----------
    payout_groups : DataFrame
        The result of :func:`ledgerkit.analysis.payout_groups`.
    currency : str, optional
        Required when the payouts are in several currencies.
    ax : Axes, optional
        Where to draw; a new figure is created when None.

    Returns
    -------
    Axes
        The bars are ``ax.containers[0]`` in ``paid_at`` order, heights the
        amounts paid out in major units; a payout with ``residual != 0`` has
        the residual colour and an annotation with the residual.

    Examples
    --------
    >>> g = pd.DataFrame({
    ...     "payout_id": ["1", "2"], "currency": ["EUR", "EUR"],
    ...     "paid_at": pd.to_datetime(["2025-01-06", "2025-01-07"], utc=True),
    ...     "paid_out": pd.array([964, 500], dtype="Int64"), "residual": pd.array([0, -5], dtype="Int64")})
    >>> [float(bar.get_height()) for bar in plot_payouts(g).containers[0]]
    [9.64, 5.0]
    >>> plt.close("all")
    """
    frame = _require(payout_groups, ["currency", "paid_at", "paid_out", "residual"], "payout_groups")
    currency, rows = _one_currency(frame, currency)
    rows = rows.loc[rows["paid_at"].notna().to_numpy(dtype=bool) & rows["paid_out"].notna().to_numpy(dtype=bool)]
    rows = rows.sort_values("paid_at", kind="stable")
    ax = _axes(ax)
    title = f"Payouts ({_unit(currency)})"
    if rows.empty:
        return _no_data(ax, title)
    residual = rows["residual"].astype("Int64").fillna(0)
    odd = residual.ne(0).to_numpy(dtype=bool)
    x = _naive_utc(rows["paid_at"])
    heights = _major(rows["paid_out"], currency)
    colors = np.where(odd, COLORS["residual"], COLORS["total"])
    ax.bar(x, heights, width=0.8, color=colors, edgecolor=np.where(odd, "black", COLORS["total"]))
    _headroom(ax, heights)
    for xi, hi, value, payout in zip(x[odd], heights[odd], residual[odd], rows["payout_id"].astype("str")[odd]):
        ax.annotate(f"{payout}: residual {format_money(int(value), currency, sign=True)}", (xi, hi),
                    xytext=(0, 6), textcoords="offset points", ha="center", fontsize=8, color="black")
    if odd.any():
        title += f" — {int(odd.sum())} with an unexplained residual"
    legend = [Patch(color=COLORS["total"], label="paid out, fully explained"),
              Patch(facecolor=COLORS["residual"], edgecolor="black", label="paid out, residual ≠ 0")]
    ax.legend(handles=legend, fontsize=8, loc="best")
    ax.set_title(title)
    ax.set_xlabel("paid at (UTC)")
    ax.set_ylabel(f"paid out ({currency})")
    _date_axis(ax.xaxis)
    _money_axis(ax.yaxis, currency)
    return ax
