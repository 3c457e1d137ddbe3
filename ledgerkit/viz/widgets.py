"""Interactive explorers for notebooks: controls wired to analysis and plot functions.

Each ``explore_*`` function returns an :class:`Explorer` (an ``ipywidgets.VBox``)
with a row of controls, an output showing the chart and one showing the
table. Changing a control redraws both in place. The callbacks only filter
the input frame by the controls' values (:func:`_filter`), call the analysis
function and the plot function: every number shown comes from
:mod:`ledgerkit.analysis`, every chart from :mod:`ledgerkit.viz.plots`.

The state is open for tests and for further work in the notebook:
``explorer.controls`` (name -> widget), ``explorer.table`` (the analysis
result currently shown, numeric), ``explorer.results`` (every frame the view
was drawn from), ``explorer.figure`` and ``explorer.refresh()``. Money is
formatted for people only in the displayed copy (``explorer.display_table``,
made by :func:`ledgerkit.viz.display.show`, exactly as the notebooks' tables:
``1,234.56``, periods as ``2025-01``, no index, no personal data). The
displayed table keeps to what fits beside the chart (:data:`MAX_ROWS` rows,
``explorer.note`` says which); a date range that holds nothing shows a
sentence saying why (``explorer.message``) instead of an empty chart.

Examples
--------
>>> from ledgerkit.analysis import fee_breakdown
>>> tx = pd.DataFrame({
...     "type": ["payment"] * 2, "status": ["successful"] * 2,
...     "amount": pd.array([10_000, 3_000], dtype="Int64"),
...     "transaction_fee": pd.array([300, 90], dtype="Int64"), "currency": ["EUR", "JPY"],
...     "credit_card.brand": ["visa", "visa"],
...     "created_at": pd.to_datetime(["2025-01-05", "2025-01-07"], utc=True)})
>>> w = explore_fees(tx)
>>> w.controls["currency"].value = "JPY"
>>> w.table[["currency", "credit_card.brand", "fee", "volume"]].values.tolist()
[['JPY', 'visa', 90, 3000]]
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis import check_balances, fee_breakdown, payout_groups, payout_waterfall, roll_forward
from ..analysis._common import require_columns, require_frame, require_utc
from ..analysis.periods import check_freq
from ..errors import ConfigurationError, LedgerkitError
from ._layout import one_account, title_over_legend
from .display import show, table_html
from .plots import FIGSIZE, plot_balance, plot_effective_rate, plot_payout_waterfall, plot_payouts

__all__ = ["Explorer", "View", "explore_fees", "explore_balance", "explore_payouts", "GROUPINGS", "MAX_ROWS"]

#: Rows of an explorer's table: what fits under its chart without scrolling.
MAX_ROWS = 12

#: What a picked row of an explorer's table looks like (inline: it shows in JupyterLab and in saved HTML alike).
_PICKED_STYLE = "background: #fff3c4; font-weight: bold"

#: Grouping choices of :func:`explore_fees` -> the column that must be in the frame.
GROUPINGS: dict[str, tuple[str, ...]] = {
    "brand": ("credit_card.brand",),
    "country": ("credit_card.issuer_country",),
    "channel": ("payment_method_type", "channel"),
    "gateway": ("payment.gateway_id",),
    "fee_type": ("type",),
}

_TIME_COLUMNS = ("created_at", "created")
#: The period choices of :func:`explore_balance`: (label, freq); any freq of the analysis works the same.
_FREQS = (("day", "D"), ("week", "W"), ("month", "M"), ("quarter", "QS"), ("year", "YS"))
_OPEN = "open balance"


# --------------------------------------------------------------------------
# Pure helpers


def _time_column(frame: pd.DataFrame) -> str:
    for column in _TIME_COLUMNS:
        if column in frame.columns:
            return column
    raise ConfigurationError(
        "frame", f"<DataFrame with columns {list(frame.columns)}>", f"a timestamp column, one of {_TIME_COLUMNS}"
    )


def _utc(day: Any) -> pd.Timestamp:
    """A date (or timestamp) as the UTC timestamp of its start."""
    stamp = pd.Timestamp(day)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _filter(frame: pd.DataFrame, start: Any, end: Any, currency: str | None) -> pd.DataFrame:
    """The rows in ``[start, end)`` (UTC, either bound optional) and in ``currency`` (all if None).

    Examples
    --------
    >>> f = pd.DataFrame({"created": pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True),
    ...                   "currency": ["EUR", "EUR"]})
    >>> len(_filter(f, dt.date(2025, 1, 1), dt.date(2025, 1, 2), "EUR"))
    1
    """
    times = frame[_time_column(frame)]
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= times.ge(_utc(start)).fillna(False).to_numpy(dtype=bool)
    if end is not None:
        keep &= times.lt(_utc(end)).fillna(False).to_numpy(dtype=bool)
    if currency is not None:
        keep &= frame["currency"].astype("str").eq(currency).fillna(False).to_numpy(dtype=bool)
    return frame.loc[keep]


def _whole_payouts(statements: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Every row of the payouts that have a row in ``rows``, plus the open-balance rows of ``rows``.

    A date range cuts through payouts; showing a cut payout would invent a
    residual, so a payout is kept whole as soon as one of its rows is in range.
    """
    paid = statements["payout_id"].isin(rows["payout_id"].dropna()).fillna(False).to_numpy(dtype=bool)
    open_in_range = statements.index.isin(rows.index[rows["payout_id"].isna().to_numpy(dtype=bool)])
    return statements.loc[paid | open_in_range]


def _currencies(frame: pd.DataFrame) -> list[str]:
    """Currencies of the frame, the one with most rows first."""
    counts = frame["currency"].astype("str").value_counts(sort=False)
    return sorted(counts.index, key=lambda code: (-int(counts[code]), code))


def _date_bounds(frame: pd.DataFrame) -> tuple[dt.date | None, dt.date | None]:
    """The first day with a row and the day after the last one (the range is half-open)."""
    times = frame[_time_column(frame)].dropna()
    if times.empty:
        return None, None
    return times.min().date(), times.max().date() + dt.timedelta(days=1)


def _day(value: Any) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _range_message(frame: pd.DataFrame, rows: pd.DataFrame, values: dict) -> str | None:
    """Why a view has nothing to show (an inverted range, or no rows in it), else None.

    Examples
    --------
    >>> f = pd.DataFrame({"created": pd.to_datetime(["2025-01-05"], utc=True), "currency": ["EUR"]})
    >>> _range_message(f, f.iloc[:0], {"start": dt.date(2025, 2, 1), "end": dt.date(2025, 1, 1), "currency": "EUR"})
    "Nothing to show: the range runs from 2025-02-01 to before 2025-01-01, which is no time at all. Pick a 'before' date after the 'from' date."
    """  # noqa: E501 - a doctest's output is one line
    start, end = values.get("start"), values.get("end")
    if start is not None and end is not None and _utc(start) >= _utc(end):
        return (
            f"Nothing to show: the range runs from {_day(start)} to before {_day(end)}, which is no time at all. "
            "Pick a 'before' date after the 'from' date."
        )
    if not rows.empty:
        return None
    currency = values.get("currency")
    span = (
        " ".join(
            filter(
                None,
                [f"from {_day(start)}" if start is not None else "", f"before {_day(end)}" if end is not None else ""],
            )
        )
        or "at all"
    )
    first, after_last = _date_bounds(_filter(frame, None, None, currency))
    where = (
        f"the {currency} rows run from {_day(first)} to {_day(after_last - dt.timedelta(days=1))}"
        if first is not None and after_last is not None
        else f"the data has no {currency} rows"
    )
    return f"No {currency} rows {span}: {where}. Widen the date range."


def _table_html(table: pd.DataFrame, picked: int | None) -> str:
    """An HTML table without the index; the row at position ``picked`` highlighted."""
    markup = table_html(table)
    if picked is None:
        return markup
    head, body = markup.split("<tbody>", 1)
    first, *rows = body.split("<tr>")
    opening = ["<tr>"] * len(rows)
    opening[picked] = f'<tr class="picked" style="{_PICKED_STYLE}">'
    return head + "<tbody>" + first + "".join(o + r for o, r in zip(opening, rows, strict=True))


def _fees_shown(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The groups with the most volume when there are more than fit, in the breakdown's order."""
    if len(table) <= MAX_ROWS:
        return table, ""
    top = table.sort_values("volume", ascending=False, na_position="last", kind="stable").head(MAX_ROWS)
    return table.loc[top.index.sort_values()], (
        f"The {MAX_ROWS} groups with the most volume, of {len(table)}; the chart shows every group."
    )


def _balance_shown(table: pd.DataFrame, freq: str) -> tuple[pd.DataFrame, str]:
    """The last periods when there are more than fit, and every period that does not tie out."""
    if len(table) <= MAX_ROWS:
        return table, ""
    off = table["unexplained"].ne(0).fillna(True).to_numpy(dtype=bool)
    last = np.zeros(len(table), dtype=bool)
    last[-max(MAX_ROWS - int(off.sum()), 1) :] = True
    unit = check_freq(freq).name
    earlier = int((off & ~last).sum())
    note = f"The last {int(last.sum())} of {len(table)} {unit}s"
    if earlier:
        note += (
            f", and the earlier {unit} that does not tie out."
            if earlier == 1
            else f", and the {earlier} earlier {unit}s that do not tie out."
        )
    return table.loc[off | last], note + ("" if earlier else ".")


#: Columns of ``payout_groups`` the payouts explorer leaves out of its table (the chart and picker say them).
_PAYOUT_HIDDEN = ("is_open", "first_created", "last_created")


def _payouts_shown(table: pd.DataFrame, picked: Any) -> tuple[pd.DataFrame, int | None, str]:
    """The payouts around the picked one (at most :data:`MAX_ROWS`), its position among them, a note."""
    table = table.drop(columns=[c for c in _PAYOUT_HIDDEN if c in table.columns])
    is_open = table["payout_id"].isna().to_numpy(dtype=bool)
    hits = np.flatnonzero(is_open if picked == _OPEN else table["payout_id"].eq(picked).fillna(False).to_numpy(bool))
    at = int(hits[0]) if len(hits) else None
    if len(table) <= MAX_ROWS:
        return table, at, ""
    first = 0 if at is None else min(max(at - MAX_ROWS // 2, 0), len(table) - MAX_ROWS)
    window = table.iloc[first : first + MAX_ROWS]
    note = f"Payouts {first + 1}–{first + len(window)} of {len(table)} (the open balance last)"
    return (
        window,
        (None if at is None else at - first),
        note + (", the picked one highlighted." if at is not None else "."),
    )


def _note_html(note: str) -> str:
    return f'<p class="ledgerkit-note">{html.escape(note)}</p>' if note else ""


def _html_output(markup: str, text: str) -> dict:
    return {"output_type": "display_data", "data": {"text/html": markup, "text/plain": text}, "metadata": {}}


def _png_output(figure: Figure) -> dict:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"output_type": "display_data", "data": {"image/png": data, "text/plain": "<chart>"}, "metadata": {}}


# --------------------------------------------------------------------------
# The explorer


@dataclass
class View:
    """What one refresh shows: the table, the frames behind it and how to draw the chart.

    ``shown`` is the part of ``table`` displayed (all of it by default),
    ``picked`` the position in ``shown`` of the highlighted row, ``note`` a
    sentence above the table (which rows are shown). ``message`` replaces
    chart and table when there is nothing to show, saying why.
    """

    table: pd.DataFrame
    draw: Callable[[Figure], None]
    results: dict[str, pd.DataFrame] = field(default_factory=dict)
    shown: pd.DataFrame | None = None
    picked: int | None = None
    note: str = ""
    message: str | None = None


class Explorer(widgets.VBox):
    """Controls, a chart and a table, redrawn whenever a control changes.

    Parameters
    ----------
    title : str
        Shown above the controls.
    controls : dict
        Name -> value widget; their values are passed to ``view`` by name.
    view : callable
        ``view(values) -> View``: filters, calls analysis and plot functions.
    sync : callable, optional
        ``sync(controls)`` run before each view, to update dependent
        controls (the payout choices follow the date range) without
        triggering a second redraw.

    Attributes
    ----------
    controls, table, display_table, results, figure, note, message, error
        The current state; ``message`` says why there is nothing to show
        (an empty or inverted range), ``error`` is the message of a failed
        redraw (shown in place of the table), else None.
    """

    def __init__(
        self,
        title: str,
        controls: Mapping[str, widgets.ValueWidget],
        view: Callable[[dict], View],
        sync: Callable[[dict], None] | None = None,
    ) -> None:
        self.controls = dict(controls)
        self.table: pd.DataFrame | None = None
        self.display_table: pd.DataFrame | None = None
        self.results: dict[str, pd.DataFrame] = {}
        self.figure: Figure | None = None
        self.note = ""
        self.message: str | None = None
        self.error: str | None = None
        self.table_output = widgets.Output()
        self.plot_output = widgets.Output()
        self._view, self._sync, self._syncing = view, sync, False
        header = widgets.HTML(f"<b>{html.escape(title)}</b>")
        super().__init__([header, widgets.HBox(list(self.controls.values())), self.plot_output, self.table_output])
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        self.refresh()

    def values(self) -> dict[str, Any]:
        """The controls' current values by name."""
        return {name: control.value for name, control in self.controls.items()}

    def refresh(self) -> None:
        """Recompute the view from the controls and redraw the chart and the table.

        Raises the ledgerkit error of a failed view; a control change shows
        it in place instead.
        """
        if self._sync is not None:
            self._syncing = True
            try:
                self._sync(self.controls)
            finally:
                self._syncing = False
        view = self._view(self.values())
        self.table, self.results, self.error = view.table, view.results, None
        self.note, self.message = view.note, view.message
        if view.message is not None:
            self.figure, self.display_table = None, None
            self.table_output.outputs = (_html_output(_note_html(view.message), view.message),)
            self.plot_output.outputs = ()
            return
        self.figure = Figure(figsize=FIGSIZE, layout="constrained")
        view.draw(self.figure)
        self.display_table = show(view.table if view.shown is None else view.shown)
        markup = _note_html(view.note) + _table_html(self.display_table, view.picked)
        self.table_output.outputs = (_html_output(markup, f"<table: {len(self.display_table)} rows>"),)
        self.plot_output.outputs = (_png_output(self.figure),)

    def _changed(self, _change: dict) -> None:
        if self._syncing:
            return
        try:
            self.refresh()
        except LedgerkitError as exc:
            self.error = str(exc)
            self.table_output.outputs = (_html_output(f"<pre>{html.escape(self.error)}</pre>", self.error),)
            self.plot_output.outputs = ()


def _date_controls(frame: pd.DataFrame) -> dict[str, widgets.ValueWidget]:
    first, after_last = _date_bounds(frame)
    return {
        "start": widgets.DatePicker(description="from", value=first),
        "end": widgets.DatePicker(
            description="before", value=after_last, tooltip="end of the range, exclusive (periods are half-open)"
        ),
    }


def _currency_control(frame: pd.DataFrame) -> widgets.Dropdown:
    options = _currencies(frame)
    return widgets.Dropdown(description="currency", options=options, value=options[0] if options else None)


def _checked(frame: Any, columns: tuple[str, ...], parameter: str) -> pd.DataFrame:
    require_columns(require_frame(frame, parameter), columns, parameter)
    one_account(frame, parameter)
    require_utc(frame, _time_column(frame), parameter)
    return frame


# --------------------------------------------------------------------------
# The three explorers


def _groupings(frame: pd.DataFrame) -> list[str]:
    """The :data:`GROUPINGS` whose column is in the frame with at least one value.

    ``fee_type`` is offered for statements only (transactions have no fee types).
    """
    is_statements = "transaction_fee" not in frame.columns
    present = []
    for name, columns in GROUPINGS.items():
        if name == "fee_type":
            if is_statements and "type" in frame.columns:
                present.append(name)
        elif any(c in frame.columns and frame[c].notna().any() for c in columns):
            present.append(name)
    return present


def explore_fees(frame: pd.DataFrame) -> Explorer:
    """Fees and effective rate by brand / country / channel / gateway, for a date range and currency.

    Parameters
    ----------
    frame : DataFrame
        A transactions frame (``created_at``) or an account-statements frame
        (``created``), as :func:`ledgerkit.analysis.fee_breakdown` takes.

    Returns
    -------
    Explorer
        Controls ``start``, ``end`` (dates, half-open range), ``currency``,
        ``group`` (only groupings present in the frame); ``.table`` is
        ``fee_breakdown(rows, by=group)`` of the filtered rows, drawn with
        :func:`ledgerkit.viz.plots.plot_effective_rate`.

    Examples
    --------
    >>> tx = pd.DataFrame({
    ...     "type": ["payment"], "status": ["successful"], "amount": pd.array([10_000], dtype="Int64"),
    ...     "transaction_fee": pd.array([300], dtype="Int64"), "currency": ["EUR"],
    ...     "payment.gateway_id": pd.array([7], dtype="Int64"),
    ...     "created_at": pd.to_datetime(["2025-01-05"], utc=True)})
    >>> w = explore_fees(tx)
    >>> w.controls["group"].options, w.table["rate_bp"].tolist()
    (('gateway',), [300.0])
    """
    frame = _checked(frame, ("currency", "amount"), "frame")
    options = _groupings(frame)
    if not options:
        raise ConfigurationError(
            "frame", "<DataFrame without group columns>", f"at least one grouping column: {GROUPINGS}"
        )
    controls = {
        **_date_controls(frame),
        "currency": _currency_control(frame),
        "group": widgets.Dropdown(description="group by", options=options, value=options[0]),
    }

    def view(values: dict) -> View:
        rows = _filter(frame, values["start"], values["end"], values["currency"])
        table = fee_breakdown(rows, by=values["group"])

        def draw(figure: Figure) -> None:
            plot_effective_rate(table, currency=values["currency"], ax=figure.add_subplot())

        shown, note = _fees_shown(table)
        return View(table, draw, {"rows": rows}, shown=shown, note=note, message=_range_message(frame, rows, values))

    return Explorer("Fees and effective rate", controls, view)


def explore_balance(statements: pd.DataFrame) -> Explorer:
    """Balance roll-forward per period (day to year) and the chain's breaks, for a date range and currency.

    Parameters
    ----------
    statements : DataFrame
        Account statements (``created``) or DWH balance records (``created_at``).

    Returns
    -------
    Explorer
        Controls ``start``, ``end``, ``currency``, ``freq`` ("D", "W", "M",
        "QS", "YS": day, week, month, quarter, year);
        ``.table`` is ``roll_forward(rows, freq=freq)`` and
        ``.results["breaks"]`` is ``check_balances(rows)``, drawn with
        :func:`ledgerkit.viz.plots.plot_balance`.

    Examples
    --------
    >>> s = pd.DataFrame({
    ...     "created": pd.to_datetime(["2025-01-05", "2025-02-05"], utc=True), "type": ["INCOME", "TRX_FEE"],
    ...     "amount": pd.array([1000, -30], dtype="Int64"), "balance_before": pd.array([0, 1000], dtype="Int64"),
    ...     "balance_after": pd.array([1000, 970], dtype="Int64"), "currency": ["EUR", "EUR"]})
    >>> explore_balance(s).table[["opening", "income", "fees", "closing"]].values.tolist()
    [[0, 1000, 0, 1000], [1000, 0, -30, 970]]
    """
    statements = _checked(statements, ("currency", "balance_after"), "statements")
    controls = {
        **_date_controls(statements),
        "currency": _currency_control(statements),
        "freq": widgets.Dropdown(description="period", options=_FREQS, value="M"),
    }

    def view(values: dict) -> View:
        rows = _filter(statements, values["start"], values["end"], values["currency"])
        table = roll_forward(rows, freq=values["freq"])
        breaks = check_balances(rows)

        def draw(figure: Figure) -> None:
            plot_balance(rows, breaks=breaks, currency=values["currency"], ax=figure.add_subplot())

        shown, note = _balance_shown(table, values["freq"])
        return View(
            table,
            draw,
            {"rows": rows, "breaks": breaks},
            shown=shown,
            note=note,
            message=_range_message(statements, rows, values),
        )

    return Explorer("Balance roll-forward", controls, view)


def _payout_choices(rows: pd.DataFrame) -> list[tuple[str, Any]]:
    """Dropdown options: each payout id in chain order, then the open balance when there is one."""
    ids = rows["payout_id"]
    choices = [(str(i), str(i)) for i in dict.fromkeys(ids.dropna())]
    return choices + ([(_OPEN, _OPEN)] if ids.isna().any() else [])


def explore_payouts(statements: pd.DataFrame) -> Explorer:
    """Payouts over time with their residuals, and the waterfall of one picked payout.

    A payout is shown whole as soon as one of its rows falls in the date
    range (cutting it would invent a residual).

    Parameters
    ----------
    statements : DataFrame
        Account statements with ``payout_id``.

    Returns
    -------
    Explorer
        Controls ``start``, ``end``, ``currency`` and ``payout`` (the payouts
        in range, then ``"open balance"``); ``.table`` is
        ``payout_groups(rows)`` and ``.results["waterfall"]`` is
        ``payout_waterfall(rows, payout)``, drawn with
        :func:`ledgerkit.viz.plots.plot_payouts` and
        :func:`ledgerkit.viz.plots.plot_payout_waterfall`.

    Examples
    --------
    >>> s = pd.DataFrame({
    ...     "created": pd.to_datetime(["2025-01-06", "2025-01-06", "2025-01-07"], utc=True),
    ...     "type": ["INCOME", "TRX_FEE", "PAYOUT"], "amount": pd.array([1000, -25, -975], dtype="Int64"),
    ...     "currency": "EUR", "payout_id": pd.array(["7", "7", "7"], dtype="str")})
    >>> w = explore_payouts(s)
    >>> w.controls["payout"].value, w.table["residual"].tolist()
    ('7', [0])
    """
    statements = _checked(statements, ("currency", "payout_id", "amount"), "statements")
    controls = {
        **_date_controls(statements),
        "currency": _currency_control(statements),
        "payout": widgets.Dropdown(description="payout", options=[]),
    }

    def rows_of(values: dict) -> pd.DataFrame:
        in_range = _filter(statements, values["start"], values["end"], values["currency"])
        return _whole_payouts(_filter(statements, None, None, values["currency"]), in_range)

    def sync(widgets_: dict) -> None:
        picker = widgets_["payout"]
        choices = _payout_choices(rows_of({name: w.value for name, w in widgets_.items()}))
        keep = picker.value if picker.value in [value for _, value in choices] else None
        picker.options = choices
        picker.value = keep if keep is not None else (choices[0][1] if choices else None)

    def view(values: dict) -> View:
        rows = rows_of(values)
        table = payout_groups(rows)
        picked = values["payout"]
        waterfall = payout_waterfall(rows, None if picked == _OPEN else picked) if picked is not None else None

        def draw(figure: Figure) -> None:
            figure.set_size_inches(FIGSIZE[0], 2 * FIGSIZE[1])
            over_time, steps = figure.subplots(2, 1)
            plot_payouts(table, currency=values["currency"], ax=over_time)
            if waterfall is not None:
                plot_payout_waterfall(waterfall, currency=values["currency"], ax=steps)
                name = "Open balance" if picked == _OPEN else f"Payout {picked}"
                title_over_legend(steps, f"{name}: " + steps.get_title())

        results = {"rows": rows} if waterfall is None else {"rows": rows, "waterfall": waterfall}
        shown, at, note = _payouts_shown(table, picked)
        in_range = _filter(statements, values["start"], values["end"], values["currency"])
        return View(
            table,
            draw,
            results,
            shown=shown,
            picked=at,
            note=note,
            message=_range_message(statements, in_range, values),
        )

    return Explorer("Payouts", controls, view, sync=sync)
