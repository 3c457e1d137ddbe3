"""Worker processes for ``test_concurrency``: spawned once, they run loads into a store on command.

Importable without pytest (a spawned process imports it afresh). Each
worker waits at the shared start barrier before every load, so the loads of
one round begin together.
"""

from __future__ import annotations

from typing import Any


def serve(tasks: Any, results: Any, barrier: Any, kwargs: dict[str, dict[str, Any]]) -> None:
    """Run ``(source, (start, end), root)`` tasks until ``None``.

    Puts ``("ok", ids, complete)`` or ``("error", text, None)`` for each.
    """
    from ledgerkit import load_statements, load_transactions

    while (task := tasks.get()) is not None:
        source, (start, end), root = task
        barrier.wait(timeout=120)
        try:
            if source == "transactions":
                frame = load_transactions(start, end, store=root, progress=False, **kwargs[source])
                ids = frame["id"].tolist()
            else:
                frame = load_statements(since=start, until=end, store=root, progress=False, **kwargs[source])
                ids = frame["row_id"].tolist()
            results.put(("ok", ids, frame.attrs["ledgerkit"]["complete"]))
        except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
            results.put(("error", f"{type(exc).__name__}: {exc}", None))
