"""An offline sandbox of the three provider APIs, on 127.0.0.1.

``Sandbox`` is a real HTTP server serving a deterministic ``World``, with
switchable ``Faults``, in one of the ``DIALECTS`` of the real deployments;
``python -m ledgerkit.sandbox`` runs it from a shell. ``Replay`` serves
recorded answers of the real services as they are.

Examples
--------
>>> from ledgerkit.sandbox import Sandbox
>>> with Sandbox(seed=0) as sb:                    # doctest: +SKIP
...     print(sb.transactions_url)
http://127.0.0.1:...
"""

from __future__ import annotations

from typing import Any

from .dialects import DIALECTS, Dialect
from .faults import Faults
from .replay import Recorded, Replay
from .server import RequestRecord, Sandbox

__all__ = ["Sandbox", "World", "Faults", "RequestRecord", "DIALECTS", "Dialect", "Replay", "Recorded"]


def __getattr__(name: str) -> Any:
    # World is imported lazily so that the server can be imported (and the
    # CLI parser built) without generating or even importing the world.
    if name == "World":
        from .world import World

        return World
    raise AttributeError(name)
