"""The naive loader the targets are measured against: one requests loop, json.loads, pd.json_normalize."""

from __future__ import annotations

import json

import pandas as pd
import requests


def naive_pull(url: str, user: str, secret: str, report_params: dict, methods: tuple[str, ...]) -> pd.DataFrame:
    """For each payment method in turn, follow ``starting_after`` page by page.

    Every page is flattened with ``pd.json_normalize``.
    """
    session, frames = requests.Session(), []
    for method in methods:
        cursor = None
        while True:
            params = dict(
                report_params, payment_method_type=method, **({"starting_after": cursor} if cursor is not None else {})
            )
            r = session.post(
                url + "/api/reports",
                json={"report_params": params},
                auth=(user, secret),
                headers={"X-Api-Version": "3"},
                timeout=60,
            )
            r.raise_for_status()
            page = json.loads(r.content)
            frames.append(pd.json_normalize(page["transactions"]))
            if not page["has_more"]:
                break
            cursor = page["last_object_id"]
    return pd.concat(frames, ignore_index=True)


def normalize_pages(bodies: list[bytes]) -> pd.DataFrame:
    """The baseline of the parse target: the same page bytes through json.loads + json_normalize."""
    return pd.concat([pd.json_normalize(json.loads(b)["transactions"]) for b in bodies], ignore_index=True)
