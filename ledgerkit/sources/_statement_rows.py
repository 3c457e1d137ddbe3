"""Which statement rows are new: identity by place in the server's order, repeats found by the chain.

A statement row has no id. Two rows with the same content are two rows (a
zero-amount VAT line can appear twice in a row), so a row is identified by
its place in the server's ordering, and its ``row_id`` is a hash of its
content with ``~2``, ``~3``, ... for the second, third identical line.

Rows a server sends twice -- its offset moved back between two pages -- are
recognised from the balance chain: a page whose first row does not take the
balance on from the last row kept, while its first ``k`` rows repeat the
last ``k`` rows kept and its row ``k`` does take it on, starts with ``k``
repeats. Where the chain cannot tell (the rows of one payout are not a
chain; repeated lines that move the balance by nothing), the first rows
that repeat the previous page's last rows are only *candidates*: the
server's ``X-Total-Count`` decides at the end (see :meth:`Rows.settle`).

Examples
--------
>>> from decimal import Decimal as D
>>> rows = Rows(chained=True)
>>> page1 = [{"type": "INCOME", "amount": D("5"), "balance_before": D("0"), "balance_after": D("5")},
...          {"type": "VAT", "amount": D("0"), "balance_before": D("5"), "balance_after": D("5")}]
>>> [r["row_id"][-2:] != "~2" for r in rows.take(page1)]
[True, True]
>>> page2 = [dict(page1[1]), {"type": "FEE", "amount": D("-1"), "balance_before": D("5"), "balance_after": D("4")}]
>>> len(rows.take(page2)), rows.repeats, rows.candidates       # the identical VAT line is a second line...
(2, 0, [(1, 1)])
>>> rows.settle(received=4, expected=4)                        # ... and the count agrees: keep both
[]
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd

from .._ingest.records import row_id

__all__ = ["Rows", "continues", "renumber"]

#: Balances closer than this (in major units) are equal: floats written out in full differ by ~1e-14.
_SAME = Decimal("1e-9")


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def continues(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether ``after`` takes the balance on from ``before`` (True when either balance is missing).

    Examples
    --------
    >>> from decimal import Decimal as D
    >>> continues({"balance_after": D("142.01")}, {"balance_before": D("142.01000000000002")})
    True
    >>> continues({"balance_after": D("1")}, {"balance_before": D("2")})
    False
    """
    a, b = _number(before.get("balance_after")), _number(after.get("balance_before"))
    return a is None or b is None or abs(a - b) <= _SAME


class Rows:
    """The rows kept so far in server order: their ``row_id``, the repeats dropped, the candidates.

    Parameters
    ----------
    chained : bool
        Whether the rows are one balance chain (a period of the account);
        the rows of one payout are not.

    Attributes
    ----------
    kept : int
        Rows kept (candidates included).
    repeats : int
        Rows dropped as repeats found by the chain.
    candidates : list of (int, int)
        ``(page, k)``: the first ``k`` rows of page number ``page`` (0-based,
        in the order pages were taken) repeat the rows before them but the
        chain cannot tell whether the server sent them twice.
    """

    def __init__(self, *, chained: bool, memory: int = 2000) -> None:
        self.chained = chained
        self.kept = 0
        self.repeats = 0
        self.candidates: list[tuple[int, int]] = []
        self.pages = 0
        self._last: dict[str, Any] | None = None
        self._tail: deque[str] = deque(maxlen=memory)  # content keys of the last rows kept
        self._seen: Counter[str] = Counter()

    @property
    def last(self) -> dict[str, Any] | None:
        """The last row kept (None before the first)."""
        return self._last

    def take(self, rows: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
        """The rows of the next page that are new, each with its ``row_id`` (copies of the dicts)."""
        keys = [row_id(r) for r in rows]
        skip = self._repeated(rows, keys)
        self.repeats += skip
        rows, keys = rows[skip:], keys[skip:]
        if skip == 0 and (shared := self._shared(keys)):
            self.candidates.append((self.pages, shared))
        self.pages += 1
        out: list[Mapping[str, Any]] = []
        for row, key in zip(rows, keys, strict=True):
            self._seen[key] += 1
            n = self._seen[key]
            out.append({"row_id": key if n == 1 else f"{key}~{n}", **row})
            self._tail.append(key)
        if rows:
            self._last = rows[-1]
        self.kept += len(out)
        return out

    def breaks_chain(self, rows: list[dict[str, Any]], before: dict[str, Any] | None) -> bool:
        """Whether the first of ``rows`` fails to take the balance on from ``before`` (chained pulls only)."""
        return bool(self.chained and before is not None and rows and not continues(before, rows[0]))

    def _repeated(self, rows: list[dict[str, Any]], keys: list[str]) -> int:
        """How many first rows the chain shows to be repeats (0 when it shows none)."""
        if not self.breaks_chain(rows, self._last):
            return 0
        tail = list(self._tail)
        for k in range(1, min(len(keys), len(tail)) + 1):
            if keys[:k] == tail[-k:] and (k == len(rows) or continues(rows[k - 1], rows[k])):
                return k
        return 0

    def _shared(self, keys: list[str]) -> int:
        """The longest run of first ``keys`` equal to the last keys kept (0 when none)."""
        tail = list(self._tail)
        for k in range(min(len(keys), len(tail)), 0, -1):
            if keys[:k] == tail[-k:]:
                return k
        return 0

    def settle(self, *, received: int, expected: int) -> list[tuple[int, int]]:
        """The candidates to drop so that ``received`` rows match the server's ``expected`` count.

        All of them when that makes the count exact, else none (the count
        check then says what is wrong).
        """
        extra = received - expected
        if extra > 0 and extra == sum(k for _, k in self.candidates):
            return list(self.candidates)
        return []


def renumber(row_ids: pd.Series) -> pd.Series:
    """``row_id`` values with their ``~n`` suffixes counted afresh over these rows, in order.

    Rows stored from several pulls (a store re-reads the tail of a chain)
    were numbered by each pull; read back together, the second of two
    identical lines must still be ``~2``.

    Examples
    --------
    >>> renumber(pd.Series(["a", "b", "a", "a~2"])).tolist()
    ['a', 'b', 'a~2', 'a~3']
    """
    base = row_ids.astype(str).str.replace(r"~\d+$", "", regex=True)
    n = base.groupby(base, sort=False).cumcount() + 1
    return base.where(n == 1, base + "~" + n.astype(str))
