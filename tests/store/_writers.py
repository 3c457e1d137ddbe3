"""Worker processes for ``test_concurrency``: spawned once, they run loads into a store on command.

Importable without pytest (a spawned process imports it afresh). Each
worker waits at the shared start barrier before every load, so the loads of
one round begin together.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def started(kwargs: dict[str, dict[str, Any]], count: int = 2) -> Iterator[list[tuple[Any, Any]]]:
    """``count`` spawned worker processes running :func:`serve`; yields their ``(tasks, results)`` queues.

    They inherit this process's environment as it is now; they are stopped when the block ends.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(count)
    queues = [(context.Queue(), context.Queue()) for _ in range(count)]
    processes = [
        context.Process(target=serve, args=(tasks, results, barrier, kwargs), daemon=True) for tasks, results in queues
    ]
    for process in processes:
        process.start()
    try:
        yield queues
    finally:
        for tasks, _ in queues:
            tasks.put(None)
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
