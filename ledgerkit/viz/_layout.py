"""Drawing helpers shared by :mod:`ledgerkit.viz.plots` (private: names may change).

Axes handling (given or new), the one-currency rule, minor units to major
units for drawing, tick formatters, and the waterfall bars used by the
roll-forward and payout charts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib.textpath import TextToPath
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from ..analysis._common import require_columns, require_frame
from ..errors import ConfigurationError
from ..money import check_currency, exponent, format_money, minor_to_major
from .display import NONE_LABEL
from .display import period_labels as _display_period_labels

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


def axes_for(ax: Axes | None) -> Axes:
    """The Axes to draw on: ``ax`` itself, or the single Axes of a new figure.

    A new figure uses the constrained layout, which keeps room for a legend
    placed beside the axes (:func:`legend_outside`) and for long tick labels.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    elif not isinstance(ax, Axes):
        raise ConfigurationError("ax", type(ax).__name__, "a matplotlib Axes or None")
    return ax


def require(frame: Any, columns: Sequence[str], parameter: str) -> pd.DataFrame:
    frame = require_frame(frame, parameter)
    require_columns(frame, columns, parameter)
    one_account(frame, parameter)
    return frame


def one_account(frame: pd.DataFrame, parameter: str) -> None:
    """Refuse a frame holding several accounts' rows (an ``account`` column): a chart shows one account.

    Two accounts' balances, fees or payouts are never drawn as one line or
    stacked together; the message says how to pick one.

    Examples
    --------
    >>> one_account(pd.DataFrame({"account": ["eu", "us"]}), "statements")
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: statements='<rows of the accounts eu, us>' is not valid: expected the rows \
of one account, e.g. statements[statements['account'] == 'eu'] (a chart shows one account: their money is never \
drawn together)
    """
    if "account" not in frame.columns:
        return
    present = sorted({str(a) for a in frame["account"].dropna().unique()})
    if len(present) + bool(frame["account"].isna().any()) > 1:
        raise ConfigurationError(
            parameter,
            f"<rows of the accounts {', '.join(present)}>",
            f"the rows of one account, e.g. {parameter}[{parameter}['account'] == {present[0]!r}] "
            "(a chart shows one account: their money is never drawn together)",
        )


def one_currency(frame: pd.DataFrame, currency: str | None) -> tuple[str | None, pd.DataFrame]:
    """The currency to draw and the frame's rows in it; several currencies need ``currency=``.

    An empty frame gives ``(currency, frame)`` unchanged, so that an empty
    selection in a widget draws an empty chart instead of failing; the
    currency is None only then.
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
            "currency",
            None,
            f"one of {present}",
            "The frame holds several currencies and one chart shows one (amounts are never added across them).",
        )
    if not present and not frame.empty:
        raise ConfigurationError(
            "currency", None, "rows with a currency: every row's 'currency' is missing, and amounts need one"
        )
    return (present[0] if present else None), frame


def major(values: pd.Series, currency: str) -> np.ndarray:
    """Minor units -> float major units, for drawing only (NA becomes NaN)."""
    return minor_to_major(values.astype("Int64"), currency).to_numpy(dtype="float64", na_value=np.nan)


def unit(currency: str | None) -> str:
    return currency if currency is not None else "no currency"


def money_axis(axis: Any, currency: str | None) -> None:
    """Tick labels with thousands separators and at most the currency's decimals."""
    decimals = exponent(currency) if currency is not None else 2

    def label(value: float, _position: int) -> str:
        text = f"{value:,.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text

    axis.set_major_formatter(FuncFormatter(label))


def date_axis(axis: Any) -> None:
    locator = mdates.AutoDateLocator()
    axis.set_major_locator(locator)
    axis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def naive_utc(values: pd.Series) -> np.ndarray:
    """UTC timestamps as naive ``datetime64`` for matplotlib (the axis says UTC)."""
    return values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def headroom(ax: Axes, *values: np.ndarray, share: float = 0.2) -> None:
    """Y limits from 0 and ``values`` with room above (and below) for labels and the legend."""
    finite = np.concatenate([np.ravel(v) for v in values] + [np.zeros(1)])
    finite = finite[np.isfinite(finite)]
    low, high = float(finite.min()), float(finite.max())
    pad = (high - low) * share or 1.0
    ax.set_ylim(low - (pad if low < 0 else 0), high + pad)


#: Where :func:`bands` puts things, as shares of the axes height: bars and
#: their labels below ``_BARS_TOP`` (labels need about 0.05 more), the twin
#: axis's dots between ``_DOTS`` (their bottom and top).
_BARS_TOP = 0.55
_DOTS = (0.70, 0.95)


def bands(ax: Axes, bars: np.ndarray, right: Axes, dots: np.ndarray) -> None:
    """Y limits that keep bars (and their labels) low and the twin axis's dots in a band above them.

    Bars of ``ax`` reach at most :data:`_BARS_TOP` of the axes height; dots
    of ``right`` span :data:`_DOTS`. The right axis ticks only the range
    the dots take, so no negative volume is ever suggested.
    """
    values = np.concatenate([np.ravel(bars), np.zeros(1)])
    values = values[np.isfinite(values)]
    low, high = float(values.min()), float(values.max())
    ax.set_ylim(low, low + ((high - low) or 1.0) / _BARS_TOP)
    finite = np.ravel(dots)[np.isfinite(np.ravel(dots))]
    bottom, top = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    bottom = min(bottom, 0.0)
    span = (top - bottom) or 1.0
    height = span / (_DOTS[1] - _DOTS[0])
    right.set_ylim(bottom - _DOTS[0] * height, bottom - _DOTS[0] * height + height)
    ticks = MaxNLocator(nbins=3).tick_values(bottom, top)
    right.yaxis.set_major_locator(FixedLocator([t for t in ticks if bottom <= t <= top + 1e-9 * span]))


def no_data(ax: Axes, title: str) -> Axes:
    ax.set_title(title)
    ax.text(0.5, 0.5, "no rows to show", ha="center", va="center", transform=ax.transAxes, color="grey")
    return ax


def period_labels(periods: pd.Series) -> list[str]:
    """The periods named as in the tables (:func:`~ledgerkit.viz.display.period_labels`): ``2025-01``,
    ``2025-W03``, ``2025-Q1``, ``2025`` or ``2025-01-06``."""
    return _display_period_labels(pd.Series(periods))


def group_name(keys: Sequence[str]) -> str:
    """A readable name of the group columns for titles: ``gateway`` for ``payment.gateway_id``."""
    names = [_KEY_NAMES.get(k, k) for k in keys]
    return ", ".join(dict.fromkeys(names)) or "currency"


def group_labels(frame: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """One text label per row from its key columns (missing values shown as ``(none)``, as in the tables)."""
    if not keys:
        return list(frame["currency"].astype("str"))
    parts = [frame[k].astype("object").where(frame[k].notna(), NONE_LABEL).astype("str") for k in keys]
    return [" · ".join(values) for values in zip(*parts, strict=True)]


def legend_outside(ax: Axes, *, above: bool = False, **kwargs: Any) -> None:
    """The legend outside the data area, so it never covers a bar, a line or a label.

    To the right of the axes, top-aligned; or, for charts with a twin axis
    on the right (``above=True``), in one row between the axes and the title
    (the title is set with :func:`title_over_legend`).
    """
    if above:
        ax.legend(
            loc="lower left", bbox_to_anchor=(0.0, 1.0), borderaxespad=0.3, ncols=4, frameon=False, fontsize=8, **kwargs
        )
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8, **kwargs)


def title_over_legend(ax: Axes, title: str) -> None:
    """The title, lifted to leave a row for a legend placed ``above`` the axes."""
    ax.set_title(title, pad=22)


def category_ticks(ax: Axes, positions: np.ndarray, labels: Sequence[str]) -> None:
    """Tick labels under bars that never run into each other.

    Each label is measured at the tick label font size against the width of
    one bar slot (the axes width over the number of bars). Labels that fit
    stay upright on one line; otherwise multi-part labels (``301 · EU Cards
    Standard``) are wrapped one part per line; labels still too wide are
    turned upright (90°), which needs only a line height per slot.
    """
    size = FontProperties(size=plt.rcParams["xtick.labelsize"]).get_size_in_points()
    slot = _slot_width(ax, len(labels))

    def widest(texts: Sequence[str]) -> float:
        lines = [line for text in texts for line in text.split("\n")]
        return max((_text_width(line, size) for line in lines), default=0.0)

    if widest(labels) <= 0.9 * slot:
        ax.set_xticks(positions, labels)
        return
    wrapped = [label.replace(" · ", "\n") for label in labels]
    if widest(wrapped) <= 0.9 * slot:
        ax.set_xticks(positions, wrapped)
        return
    ax.set_xticks(positions, labels, rotation=90)


def _slot_width(ax: Axes, count: int) -> float:
    """Width in points of one of ``count`` bar slots across the axes."""
    figure = ax.get_figure(root=True)  # the Figure itself, also for an Axes on a SubFigure
    assert figure is not None, "an Axes being drawn on belongs to a figure"
    return figure.get_size_inches()[0] * 72.0 * ax.get_position().width / max(count, 1)


def _text_width(text: str, size: float) -> float:
    """Width of ``text`` in points at font ``size``, without a renderer."""
    width, _, _ = TextToPath().get_text_width_height_descent(text, FontProperties(size=size), ismath=False)
    return float(width)


def waterfall_bars(ax: Axes, steps: Sequence[tuple[str, int, int, str]], currency: str) -> None:
    """Draw ``(label, start, amount, kind)`` steps in minor units: totals from 0, deltas floating.

    Each bar is labelled with its exact amount (``format_money``), except a
    delta or residual of zero (nothing happened there: no ``+0.00 EUR``
    clutter). A tall bar has its label upright inside its end; a short one
    just beyond its end, upright for a total or when wider than a bar slot,
    so that the labels of neighbouring bars (``net``, ``paid out``; two small
    fees) never collide. The legend sits above the axes, leaving them the
    figure's width (set the title with :func:`title_over_legend`). A
    floating bar's ``get_height()`` is matplotlib's top − bottom, which may
    differ from the amount in the last bit. The residual gets its own
    colour and hatching, and a legend entry when it is not zero.
    """
    labels = [s[0] for s in steps]
    starts = major(pd.Series([s[1] for s in steps], dtype="Int64"), currency)
    amounts = major(pd.Series([s[2] for s in steps], dtype="Int64"), currency)
    colors = [
        COLORS["residual"]
        if kind == "residual"
        else COLORS["total"]
        if kind == "total"
        else COLORS["increase"]
        if amount >= 0
        else COLORS["decrease"]
        for (_, _, amount, kind) in steps
    ]
    positions = np.arange(len(steps))
    bars = ax.bar(positions, amounts, bottom=starts, color=colors, edgecolor="black", linewidth=0.5)
    for bar, (_, _, _, kind) in zip(bars, steps, strict=True):
        if kind == "residual":
            bar.set_hatch("//")
            bar.set_label("residual (unexplained)")
    ax.set_xticks(positions, labels, rotation=30, ha="right")
    headroom(ax, starts, starts + amounts, share=0.12)
    low, high = ax.get_ylim()
    slot = _slot_width(ax, len(steps))
    for x, start, amount, (_, _, minor, kind) in zip(positions, starts, amounts, steps, strict=True):
        if kind != "total" and minor == 0:
            continue
        text = format_money(minor, currency, sign=kind != "total")
        if abs(amount) >= 0.4 * (high - low):
            _inside_label(ax, float(x), start + amount, amount, text)
        else:
            upright = kind == "total" or _text_width(text, 8) > 0.9 * slot
            _end_label(ax, float(x), start + amount, amount, text, rotation=90 if upright else 0)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel(f"amount ({currency})")
    money_axis(ax.yaxis, currency)
    legend = [
        Patch(color=COLORS["total"], label="total"),
        Patch(color=COLORS["increase"], label="increase"),
        Patch(color=COLORS["decrease"], label="decrease"),
    ]
    if any(kind == "residual" and amount != 0 for _, _, amount, kind in steps):
        legend.append(
            Patch(facecolor=COLORS["residual"], hatch="//", edgecolor="black", label="residual (unexplained)")
        )
    legend_outside(ax, above=True, handles=legend)


def _end_label(ax: Axes, x: float, end: float, amount: float, text: str, **style: Any) -> None:
    """``text`` just beyond the end of a bar: above a bar going up, below one going down."""
    up = amount >= 0
    ax.annotate(
        text,
        (x, end),
        xytext=(0, 3 if up else -3),
        textcoords="offset points",
        ha="center",
        va="bottom" if up else "top",
        fontsize=8,
        **style,
    )


def _inside_label(ax: Axes, x: float, end: float, amount: float, text: str) -> None:
    """``text`` upright in white inside the end of a tall bar."""
    up = amount >= 0
    ax.annotate(
        text,
        (x, end),
        xytext=(0, -4 if up else 4),
        textcoords="offset points",
        ha="center",
        va="top" if up else "bottom",
        fontsize=8,
        rotation=90,
        color="white",
        fontweight="bold",
    )
