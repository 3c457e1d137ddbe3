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

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt  # noqa: F401 - the doctests close their figures with it
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from ..analysis._common import require_utc
from ..errors import ConfigurationError
from ..money import format_money
from ._layout import (
    COLORS,
    FIGSIZE,
    axes_for,
    bands,
    category_ticks,
    date_axis,
    group_labels,
    group_name,
    headroom,
    legend_outside,
    major,
    money_axis,
    naive_utc,
    no_data,
    one_currency,
    period_labels,
    require,
    title_over_legend,
    unit,
    waterfall_bars,
)

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

#: Columns of a ``fee_breakdown`` result that are measures, not group keys.
_FEE_MEASURES = frozenset(
    {
        "currency",
        "period",
        "count",
        "fee",
        "vat",
        "fee_incl_vat",
        "volume_count",
        "volume",
        "rate_bp",
        "rate_incl_vat_bp",
    }
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
        volume axis is ``ax.right_ax``. Bars and their value labels keep
        to the lower part of the axes and the volume dots to a band above
        them, so a dot never sits on a label.

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
    frame = require(breakdown, ["currency", rate, "volume"], "breakdown")
    if "period" in frame.columns:
        raise ConfigurationError(
            "breakdown",
            "<fee_breakdown with a 'period' column>",
            "a fee_breakdown computed without freq (use plot_fee_composition for periods)",
        )
    keys = _fee_keys(frame, by)
    currency, rows = one_currency(frame, currency)
    ax = axes_for(ax)
    title = f"Effective fee rate by {group_name(keys)} ({unit(currency)})"
    if rows.empty or currency is None:  # one_currency gives None for an empty frame only
        return no_data(ax, title)
    labels = group_labels(rows, keys)
    if len(set(labels)) != len(labels):
        raise ConfigurationError("by", by, f"columns naming one row each; with {keys} several rows share a label")
    positions = np.arange(len(rows))
    heights = rows[rate].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    bars = ax.bar(positions, heights, color=COLORS["total"], label=f"effective rate ({rate})")
    ax.bar_label(bars, labels=[f"{h:,.1f}" if np.isfinite(h) else "n/a" for h in heights], fontsize=8)
    category_ticks(ax, positions, labels)
    ax.set_ylabel("effective rate (bp of volume)")
    ax.set_xlabel(group_name(keys))
    title_over_legend(ax, title)
    right = ax.twinx()
    volumes = major(rows["volume"], currency)
    right.plot(positions, volumes, "o", color=COLORS["volume"], label=f"volume ({currency})")
    right.set_ylabel(f"volume ({currency})", loc="top")  # beside the band of dots
    bands(ax, heights, right, volumes)
    money_axis(right.yaxis, currency)
    ax.right_ax = right  # type: ignore[attr-defined]  # documented above: the volume axis, for the caller
    lines = right.get_lines()
    legend_outside(ax, above=True, handles=[bars, *lines], labels=[bars.get_label(), *(x.get_label() for x in lines)])
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
    frame = require(breakdown_with_period, ["currency", "period", value], "breakdown_with_period")
    keys = [c for c in frame.columns if c not in _FEE_MEASURES]
    currency, rows = one_currency(frame, currency)
    ax = axes_for(ax)
    title = f"Fees per period by {group_name(keys)} ({unit(currency)})"
    if rows.empty or currency is None:  # one_currency gives None for an empty frame only
        return no_data(ax, title)
    table = pd.DataFrame(
        {"period": rows["period"].array, "group": group_labels(rows, keys), "value": rows[value].astype("Int64").array}
    )
    if table.duplicated(["period", "group"]).any():
        raise ConfigurationError(
            "breakdown_with_period",
            "<several rows per group and period>",
            "one row per group and period, as fee_breakdown(..., by=..., freq=...) returns",
        )
    wide = table.pivot(index="period", columns="group", values="value").sort_index().fillna(0)
    positions = np.arange(len(wide))
    above, below = np.zeros(len(wide)), np.zeros(len(wide))
    for index, group in enumerate(wide.columns):
        heights = major(wide[group], currency)
        bottoms = np.where(heights >= 0, above, below)
        ax.bar(positions, heights, bottom=bottoms, label=str(group), color=f"C{index % 10}")
        above, below = np.where(heights >= 0, above + heights, above), np.where(heights < 0, below + heights, below)
    ax.set_xticks(positions, period_labels(wide.index.to_series()))
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("period (UTC)")
    ax.set_ylabel(f"{value} ({currency})")
    money_axis(ax.yaxis, currency)
    ax.set_title(title)
    legend_outside(ax)
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
    frame = require(statements, [time, "balance_after", "currency"], "statements")
    require_utc(frame, time, "statements")
    positioned = frame.assign(_position=np.arange(len(frame), dtype="int64"))
    currency, rows = one_currency(positioned, currency)
    ax = axes_for(ax)
    title = f"Balance after each row ({unit(currency)})"
    if rows.empty or currency is None:  # one_currency gives None for an empty frame only
        return no_data(ax, title)
    accounts = [c for c in ("merchant_id", "shop_id", "gateway_id") if c in rows.columns and time == "created_at"]
    chains = rows.groupby(accounts, sort=True, dropna=False) if accounts else [((), rows)]
    # name each chain by the account ids that tell the chains apart: "gateway 301", not all three ids
    named = [a for a in accounts if rows[a].nunique(dropna=False) > 1] or accounts[-1:]
    for key, chain in chains:
        ids = dict(zip(accounts, np.atleast_1d(key), strict=True))
        label = " ".join(f"{a.removesuffix('_id')} {ids[a]}" for a in named) if accounts else "balance"
        ax.plot(
            naive_utc(chain[time]),
            major(chain["balance_after"], currency),
            drawstyle="steps-post",
            color=COLORS["line"] if not accounts else None,
            label=label,
        )
    if breaks is not None:
        _mark_breaks(ax, rows, require(breaks, ["position", "kind"], "breaks"), currency, time)
    ax.set_title(title)
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(f"balance ({currency})")
    date_axis(ax.xaxis)
    money_axis(ax.yaxis, currency)
    legend_outside(ax)
    return ax


def _mark_breaks(ax: Axes, rows: pd.DataFrame, breaks: pd.DataFrame, currency: str, time: str) -> None:
    """Red markers at the rows ``check_balances`` names, each annotated with its difference.

    ``rows["_position"]`` holds each row's number in the frame given to
    ``check_balances``, so breaks of other currencies simply find no row.
    """
    where = pd.Series(np.arange(len(rows)), index=rows["_position"].to_numpy())
    found = [
        (int(where[p]), str(kind), difference)
        for p, kind, difference in zip(
            breaks["position"].astype("Int64"), breaks["kind"], _differences(breaks), strict=True
        )
        if not pd.isna(p) and int(p) in where.index
    ]
    if not found:
        return
    at = rows.iloc[[i for i, _, _ in found]]
    x, y = naive_utc(at[time]), major(at["balance_after"], currency)
    ax.plot(x, y, linestyle="none", marker="X", markersize=9, color=COLORS["break"], label="breaks")
    for xi, yi, (_, kind, difference) in zip(x, y, found, strict=True):
        amount = "" if difference is None else " " + format_money(difference, currency, sign=True)
        ax.annotate(
            kind.replace("_", " ") + amount,
            (xi, yi),
            xytext=(6, 8),
            textcoords="offset points",
            color=COLORS["break"],
            fontsize=8,
        )


def _differences(breaks: pd.DataFrame) -> list[int | None]:
    if "difference" not in breaks.columns:
        return [None] * len(breaks)
    return [None if pd.isna(d) else int(d) for d in breaks["difference"]]


def _roll_row(rollforward: pd.DataFrame, period: Any, currency: str | None) -> tuple[str, pd.Series]:
    """The roll-forward row of the period containing ``period`` (naive timestamps are UTC)."""
    frame = require(rollforward, ["currency", "period", "period_end", "opening", "closing"], "rollforward")
    currency, rows = one_currency(frame, currency)
    try:
        when = pd.Timestamp(period)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError("period", period, "a timestamp or date such as '2025-02-01'") from exc
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    inside = rows["period"].le(when) & rows["period_end"].gt(when)
    if currency is None or not inside.any():  # one_currency gives None for an empty frame only
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
    ax = axes_for(ax)
    waterfall_bars(ax, steps, currency)
    end = row["period_end"] - pd.Timedelta(days=1)
    span = row["period"].strftime("%Y-%m-%d") + ("" if end <= row["period"] else " to " + end.strftime("%Y-%m-%d"))
    title_over_legend(ax, f"Balance roll-forward {span} ({currency})")
    return ax


# --------------------------------------------------------------------------
# Payouts


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
        steps' amounts in major units); the residual bar is orange, hatched
        and labelled ``"residual (unexplained)"``. Each bar's amount is
        written on it (``ax.texts`` in step order), except steps of zero;
        a zero residual is stated once in the title (``residual 0.00 EUR,
        fully explained``), a non-zero one there too and on its bar.

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
    frame = require(waterfall, ["currency", "step", "amount", "start", "kind"], "waterfall")
    currency, rows = one_currency(frame, currency)
    ax = axes_for(ax)
    title = f"Payout waterfall ({unit(currency)})"
    if rows.empty or currency is None:  # one_currency gives None for an empty frame only
        return no_data(ax, title)
    steps = [
        (str(s), int(a), int(b), str(k))
        for s, a, b, k in zip(rows["step"], rows["start"], rows["amount"], rows["kind"], strict=True)
    ]
    waterfall_bars(ax, steps, currency)
    residual = [amount for _, _, amount, kind in steps if kind == "residual"]
    if residual and residual[0] != 0:
        title += f" — residual {format_money(residual[0], currency, sign=True)} unexplained"
    elif residual:  # the zero residual bar is unlabelled: say it once, it is the point of the chart
        title += f" — residual {format_money(0, currency)}, fully explained"
    title_over_legend(ax, title)
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
    frame = require(payout_groups, ["currency", "paid_at", "paid_out", "residual"], "payout_groups")
    currency, rows = one_currency(frame, currency)
    rows = rows.loc[rows["paid_at"].notna().to_numpy(dtype=bool) & rows["paid_out"].notna().to_numpy(dtype=bool)]
    rows = rows.sort_values("paid_at", kind="stable")
    ax = axes_for(ax)
    title = f"Payouts ({unit(currency)})"
    if rows.empty or currency is None:  # one_currency gives None for an empty frame only
        return no_data(ax, title)
    residual = rows["residual"].astype("Int64").fillna(0)
    odd = residual.ne(0).to_numpy(dtype=bool)
    x = naive_utc(rows["paid_at"])
    heights = major(rows["paid_out"], currency)
    colors = np.where(odd, COLORS["residual"], COLORS["total"])
    ax.bar(x, heights, width=0.8, color=colors, edgecolor=np.where(odd, "black", COLORS["total"]))
    headroom(ax, heights)
    for xi, hi, value, payout in zip(
        x[odd], heights[odd], residual[odd], rows["payout_id"].astype("str")[odd], strict=True
    ):
        ax.annotate(
            f"{payout}: residual {format_money(int(value), currency, sign=True)}",
            (xi, hi),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color="black",
        )
    if odd.any():
        title += f" — {int(odd.sum())} with an unexplained residual"
    legend = [
        Patch(color=COLORS["total"], label="paid out, fully explained"),
        Patch(facecolor=COLORS["residual"], edgecolor="black", label="paid out, residual ≠ 0"),
    ]
    # above the axes, not beside them: the chart keeps the figure's width (and so does a waterfall under it)
    legend_outside(ax, above=True, handles=legend)
    title_over_legend(ax, title)
    ax.set_xlabel("paid at (UTC)")
    ax.set_ylabel(f"paid out ({currency})")
    date_axis(ax.xaxis)
    money_axis(ax.yaxis, currency)
    return ax
