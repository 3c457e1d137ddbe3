"""How the sandbox world's transactions are spread in time: ``uniform``, ``sparse`` or ``burst``.

The default world (``uniform``) spreads its transactions evenly over
``[2025-01-01, 2025-04-01)``. Two other shapes exist for measuring how a
pull copes with data that is not spread evenly (``benchmarks/``):

* ``sparse`` -- the same even spread over two years,
  ``[2023-04-01, 2025-04-01)``: with few transactions, most time windows of a
  pull are empty or nearly so.
* ``burst`` -- the usual three months, but the middle 90 % of the drawing
  period is squeezed into one hour (:data:`BURST_AT` to one hour later), so
  that most transactions are created inside that hour.

A shape gives the world its period and, for ``burst``, warps every drawn
time through one monotone map before the transactions are numbered: order
is kept (follow-ups still come after their parent, paid after created), so
ids still ascend with creation time and the balance records and statements
chain as in any world. The statement ledger is not warped. ``uniform`` warps
nothing and draws exactly what the world always drew.

Examples
--------
>>> utc = UTC
>>> shape = world_shape("burst", datetime(2025, 1, 1, tzinfo=utc), datetime(2025, 4, 1, tzinfo=utc))
>>> middle = datetime(2025, 2, 15, tzinfo=utc)  # the middle of the drawing period ...
>>> datetime.fromtimestamp(shape.warp_time(int(middle.timestamp())), utc).isoformat()  # ... the middle of the hour
'2025-02-12T14:30:00+00:00'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import ConfigurationError

__all__ = ["SHAPES", "SPARSE_START", "BURST_AT", "BURST_SECONDS", "WorldShape", "world_shape"]

SHAPES = ("uniform", "sparse", "burst")
#: Where the ``sparse`` world starts (it ends where the default world does).
SPARSE_START = datetime(2023, 4, 1, tzinfo=UTC)
#: The start of the ``burst`` world's busy hour (a Wednesday afternoon in mid-February).
BURST_AT = datetime(2025, 2, 12, 14, 0, tzinfo=UTC)
BURST_SECONDS = 3600
#: The slice of the drawing period, in percent of it, that the burst squeezes into its hour.
_BURST_FROM, _BURST_TO = 5, 95


@dataclass(frozen=True)
class WorldShape:
    """A world's period and the map its drawn times go through (see the module docstring)."""

    name: str
    start: datetime
    end: datetime

    def warp_time(self, t: int) -> int:
        """Where a time drawn in ``[start, end)`` (POSIX seconds) lands in this shape."""
        if self.name != "burst":
            return t
        start, end = int(self.start.timestamp()), int(self.end.timestamp())
        at = int(BURST_AT.timestamp())
        a = start + (end - start) * _BURST_FROM // 100
        b = start + (end - start) * _BURST_TO // 100
        if t < a:
            return start + (t - start) * (at - start) // (a - start)
        if t < b:
            return at + (t - a) * BURST_SECONDS // (b - a)
        return at + BURST_SECONDS + (t - b) * (end - at - BURST_SECONDS) // (end - b)

    def warp(self, drafts: Iterable) -> None:
        """Move the ``created``, ``paid`` and ``settled`` times of transaction drafts (no-op unless ``burst``)."""
        if self.name != "burst":
            return
        for d in drafts:
            d.created = self.warp_time(d.created)
            d.paid = None if d.paid is None else self.warp_time(d.paid)
            d.settled = None if d.settled is None else self.warp_time(d.settled)


def world_shape(name: object, start: datetime, end: datetime) -> WorldShape:
    """The shape called ``name`` for a world whose default period is ``[start, end)``.

    Raises
    ------
    ConfigurationError
        When ``name`` is not one of :data:`SHAPES`.

    Examples
    --------
    >>> utc = UTC
    >>> world_shape("sparse", datetime(2025, 1, 1, tzinfo=utc), datetime(2025, 4, 1, tzinfo=utc)).start.isoformat()
    '2023-04-01T00:00:00+00:00'
    """
    if name not in SHAPES:
        raise ConfigurationError("shape", name, "one of " + ", ".join(repr(s) for s in SHAPES))
    return WorldShape(name, SPARSE_START if name == "sparse" else start, end)
