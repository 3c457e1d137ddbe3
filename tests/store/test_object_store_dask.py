"""Pulls on a real Dask cluster (two worker processes on 127.0.0.1) into one ``s3://`` store equal the local pull."""

from __future__ import annotations

import pandas as pd
import pytest

import ledgerkit as lk
from ledgerkit.sandbox import Sandbox

from ..test_accounts import shops_file


@pytest.fixture(scope="module")
def sb():
    with Sandbox(seed=0, size=300, page_size=25) as s:
        yield s


def test_two_accounts_pulled_on_a_cluster_into_one_s3_store_equal_the_local_pull(sb, s3, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    shops = sb.world.shops[:2]
    for shop in shops:
        monkeypatch.setenv(f"SHOP_{shop['id']}_SECRET", shop["secret"])
    monkeypatch.setenv("MC_SECRET", sb.world.mc_shop["secret"])
    path = shops_file(sb, tmp_path, shops)
    pull = dict(accounts="all", accounts_file=path, progress=False)
    local = lk.load_transactions("2025-01-01", "2025-03-01", **pull)
    with (
        distributed.LocalCluster(  # started after the AWS variables are set: the workers' environment has them
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_cluster = lk.load_transactions("2025-01-01", "2025-03-01", store=s3, scheduler=client, **pull)
        lazy = lk.Store(s3).dask("transactions").compute()  # the parts read from S3 by the workers
    pd.testing.assert_frame_equal(on_cluster.reset_index(drop=True), local.reset_index(drop=True))
    for name, mine in on_cluster.attrs["ledgerkit"]["accounts"].items():  # one task per account and month
        assert (mine["tasks"], mine["rows"], mine["complete"]) == (
            2,
            local.attrs["ledgerkit"]["accounts"][name]["rows"],
            True,
        )
    stored = lk.Store(s3).read("transactions")
    assert sorted(stored["id"]) == sorted(local["id"]) and stored["id"].is_unique
    by_id = ["account", "id"]
    pd.testing.assert_frame_equal(
        lazy.sort_values(by_id, ignore_index=True),
        stored.sort_values(by_id, ignore_index=True),
        check_categorical=False,
    )
