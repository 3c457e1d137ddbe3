"""The accounts file, and many accounts in one call, over real HTTP against the sandbox."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import ledgerkit as lk
from ledgerkit.accounts import accounts, select
from ledgerkit.errors import AccountsError, AuthenticationError, ConfigurationError
from ledgerkit.sandbox import Sandbox

FAST = lk.RetryPolicy(max_retries=1, backoff_base=0.001, sleep=lambda s: None)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(seed=0, size=300, page_size=25) as s:
        yield s


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _shop_block(sb: Sandbox, shop: dict) -> str:
    return f"""
[accounts.shop-{shop["id"]}]
source = "transactions"
base_url = "{sb.transactions_url}"
id = {shop["id"]}
secret_env = "SHOP_{shop["id"]}_SECRET"
merchant = "m{shop["merchant_id"]}"
brand = "begateway"
tags = ["{"eu" if shop["id"] % 2 else "us"}"]
"""


def shops_file(sb: Sandbox, path: Path, shops: list[dict], merchant_tags: bool = True) -> Path:
    """An accounts file naming the sandbox's shops, secrets in SHOP_<id>_SECRET."""
    blocks = [_shop_block(sb, shop) for shop in shops]
    blocks.append(f"""
[accounts.makecommerce]
source = "statements"
base_url = "{sb.statements_url}"
id = "{sb.world.mc_shop["id"]}"
secret_env = "MC_SECRET"
brand = "makecommerce"
""")
    return write(path / "ledgerkit.toml", "".join(blocks))


@pytest.fixture
def secrets(sb, monkeypatch):
    for shop in sb.world.shops:
        monkeypatch.setenv(f"SHOP_{shop['id']}_SECRET", shop["secret"])
    monkeypatch.setenv("MC_SECRET", sb.world.mc_shop["secret"])
    return monkeypatch


# ------------------------------------------------------------------ the file


def test_the_file_lists_accounts_with_their_tags_and_no_secret(sb, tmp_path, secrets):
    path = shops_file(sb, tmp_path, sb.world.shops)
    found = accounts(path)
    assert [a.name for a in found] == [f"shop-{s['id']}" for s in sb.world.shops] + ["makecommerce"]
    first = found[0]
    assert (first.source, first.id, first.secret_env, first.tags["merchant"], first.tags["tags"]) == (
        "transactions",
        "2101",
        "SHOP_2101_SECRET",
        "m21",
        ("eu",),
    )
    assert first.credentials().secret == sb.world.shops[0]["secret"]
    assert sb.world.shops[0]["secret"] not in repr(found) + path.read_text()


def test_selection_by_name_tag_key_value_and_all(sb, tmp_path, secrets):
    found = accounts(shops_file(sb, tmp_path, sb.world.shops))
    names = lambda wanted, **kw: [a.name for a in select(found, wanted, **kw)]  # noqa: E731
    assert names("all", source="transactions") == ["shop-2101", "shop-2102", "shop-2201", "shop-2202"]
    assert names("merchant=m22") == ["shop-2201", "shop-2202"]
    assert names("eu") == ["shop-2101", "shop-2201"]
    assert names(["shop-2102", "merchant=m22"]) == ["shop-2102", "shop-2201", "shop-2202"]
    assert names("brand=makecommerce") == ["makecommerce"]
    with pytest.raises(ConfigurationError, match=r"shop-9.*shop-2101"):
        select(found, "shop-9", source="transactions")


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ('[accounts.a]\nsource = "x"\nbase_url = "https://h"\nid = 1\nsecret_env = "S"\n', "source", "one of"),
        ('[accounts.a]\nsource = "transactions"\nid = 1\nsecret_env = "S"\n', "base_url", "required"),
        ('[accounts.a]\nsource = "transactions"\nbase_url = "ftp://h"\nid = 1\nsecret_env = "S"\n', "base_url", "http"),
        ('[accounts.a]\nsource = "transactions"\nbase_url = "https://h"\nid = true\nsecret_env = "S"\n', "id", "shop"),
        (
            '[accounts.a]\nsource = "transactions"\nbase_url = "https://h"\nid = 1\nsecret_env = "1X"\n',
            "secret_env",
            "environment variable",
        ),
        (
            '[accounts.a]\nsource = "transactions"\nbase_url = "https://h"\nid = 1\nsecret_env = "S"\nsecret = "s3"\n',
            "secret",
            "no secret in the file",
        ),
        (
            '[accounts.a]\nsource = "transactions"\nbase_url = "https://h"\nid = 1\nsecret_env = "S"\ncolour = 1\n',
            "colour",
            "one of the fields",
        ),
        (
            '[accounts.a]\nsource = "transactions"\nbase_url = "https://h"\nid = 1\nsecret_env = "S"\nbrand = "visa"\n',
            "brand",
            "begateway",
        ),
        (
            '[accounts.a]\nsource = "transactions"\nbase_url = "https://h"\nid = 1\nsecret_env = "S"\ntags = "eu"\n',
            "tags",
            "list of words",
        ),
        ('[accounts."a b"]\nsource = "transactions"\n', "name", "letters"),
    ],
)
def test_a_bad_entry_names_the_file_the_account_and_the_field(tmp_path, text, field, words):
    path = write(tmp_path / "ledgerkit.toml", text)
    with pytest.raises(ConfigurationError) as info:
        accounts(path)
    assert info.value.parameter.startswith(str(path)) and info.value.parameter.endswith(f".{field}")
    assert words in str(info.value) and "s3" not in str(info.value)


def test_a_missing_or_broken_file_and_a_missing_secret_variable(tmp_path, monkeypatch):
    with pytest.raises(ConfigurationError, match="accounts file"):
        accounts(tmp_path / "none.toml")
    with pytest.raises(ConfigurationError, match="TOML"):
        accounts(write(tmp_path / "bad.toml", "[accounts\n"))
    found = accounts(
        write(
            tmp_path / "ok.toml",
            '[accounts.a]\nsource = "statements"\nbase_url = "https://h"\nid = 7\nsecret_env = "LK_TEST_NOT_SET"\n',
        )
    )
    monkeypatch.delenv("LK_TEST_NOT_SET", raising=False)
    with pytest.raises(ConfigurationError, match=r"LK_TEST_NOT_SET.*account 'a'"):
        found[0].credentials()
    monkeypatch.setenv("LEDGERKIT_ACCOUNTS", str(tmp_path / "ok.toml"))
    assert [a.name for a in accounts()] == ["a"]


# ------------------------------------------------------------------ many accounts in one call


def test_every_shop_in_one_call_equals_one_call_per_shop(sb, tmp_path, secrets):
    path = shops_file(sb, tmp_path, sb.world.shops)
    both = lk.load_transactions(
        "2025-01-01", "2025-04-01", accounts="all", accounts_file=path, progress=False, retry=FAST
    )
    singles = []
    for shop in sb.world.shops:
        one = lk.load_transactions(
            "2025-01-01",
            "2025-04-01",
            base_url=sb.transactions_url,
            shop_id=shop["id"],
            secret_key=shop["secret"],
            progress=False,
            retry=FAST,
        )
        singles.append(one.assign(account=f"shop-{shop['id']}"))
        assert one["shop.id"].eq(shop["id"]).all()
    assert list(both.columns[:2]) == ["account", "id"]
    assert both["id"].tolist() == pd.concat(singles)["id"].tolist()
    assert both.groupby("account", observed=True).size().to_dict() == {
        f"shop-{s['id']}": int((pd.concat(singles)["account"] == f"shop-{s['id']}").sum()) for s in sb.world.shops
    }
    m = both.attrs["ledgerkit"]
    assert sorted(m["accounts"]) == [f"shop-{s['id']}" for s in sb.world.shops]
    assert m["complete"] and m["rows"] == len(both) == sum(a["rows"] for a in m["accounts"].values())
    assert both["amount"].dtype == "Int64" and isinstance(both["currency"].dtype, pd.CategoricalDtype)


def test_tags_select_and_statements_come_through_the_store(sb, tmp_path, secrets):
    path = shops_file(sb, tmp_path, sb.world.shops)
    m22 = lk.load_transactions(
        "2025-01-01",
        "2025-02-01",
        accounts="merchant=m22",
        accounts_file=path,
        store=tmp_path / "store",
        progress=False,
    )
    assert set(m22["account"].astype(str)) == {"shop-2201", "shop-2202"}
    again = lk.load_transactions(
        "2025-01-01",
        "2025-02-01",
        accounts="merchant=m22",
        accounts_file=path,
        store=tmp_path / "store",
        progress=False,
    )
    pd.testing.assert_frame_equal(again, m22, check_like=False)
    st = lk.load_statements(
        "2025-01-01", "2025-02-01", accounts="brand=makecommerce", accounts_file=path, progress=False
    )
    assert (st["account"] == "makecommerce").all() and lk.check_balances(st.drop(columns="account")).empty


def test_failed_accounts_are_named_the_others_kept_and_resume_pulls_only_them(sb, tmp_path, secrets):
    path = shops_file(sb, tmp_path, sb.world.shops[:3])
    secrets.setenv("SHOP_2102_SECRET", "wrong")
    with pytest.raises(AccountsError) as info:
        lk.load_transactions("2025-01-01", "2025-04-01", accounts="all", accounts_file=path, progress=False, retry=FAST)
    err = info.value
    assert list(err.failed) == ["shop-2102"] and isinstance(err.failed["shop-2102"], AuthenticationError)
    assert "1 of 3 transactions accounts failed" in str(err) and "wrong" not in str(err)
    assert set(err.partial["account"].astype(str)) == {"shop-2101", "shop-2201"}
    assert err.resume["accounts"] == ["shop-2102"]
    secrets.setenv("SHOP_2102_SECRET", sb.world.shops[1]["secret"])
    rest = lk.load_transactions(**err.resume)
    assert set(rest["account"].astype(str)) == {"shop-2102"} and len(rest) > 0


def test_accounts_and_a_single_account_are_not_mixed(sb, tmp_path, secrets):
    path = shops_file(sb, tmp_path, sb.world.shops)
    with pytest.raises(ConfigurationError, match="shop_id"):
        lk.load_transactions("2025-01-01", "2025-02-01", accounts="all", accounts_file=path, shop_id=2101)
    with pytest.raises(ConfigurationError, match="accounts"):
        lk.load_transactions("2025-01-01", "2025-02-01", accounts="nobody", accounts_file=path)


# ------------------------------------------------------------------ on a Dask cluster


@pytest.mark.slow
def test_accounts_pulled_as_tasks_on_a_real_cluster_into_one_store_equal_the_local_pull(sb, tmp_path, secrets):
    distributed = pytest.importorskip("distributed")
    path = shops_file(sb, tmp_path, sb.world.shops)
    local = lk.load_transactions("2025-01-01", "2025-04-01", accounts="all", accounts_file=path, progress=False)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_cluster = lk.load_transactions(
            "2025-01-01",
            "2025-04-01",
            accounts="all",
            accounts_file=path,
            store=tmp_path / "shared",
            progress=False,
            scheduler=client,
        )
        workers = {w["host"] for w in client.scheduler_info()["workers"].values()}
        again = lk.load_transactions(
            "2025-01-01",
            "2025-04-01",
            accounts="all",
            accounts_file=path,
            store=tmp_path / "shared",
            progress=False,
            scheduler=cluster.scheduler_address,
        )
    assert workers == {"127.0.0.1"}
    pd.testing.assert_frame_equal(on_cluster.reset_index(drop=True), local.reset_index(drop=True))
    pd.testing.assert_frame_equal(again, on_cluster)
    for name, mine in on_cluster.attrs["ledgerkit"]["accounts"].items():  # one task per account and month
        alone = local.attrs["ledgerkit"]["accounts"][name]
        assert (mine["tasks"], mine["rows"], mine["complete"]) == (3, alone["rows"], True)
    assert again.attrs["ledgerkit"]["accounts"]["shop-2101"]["stored_rows"] > 0
    stored = lk.Store(tmp_path / "shared").read("transactions")
    assert sorted(stored["id"]) == sorted(local["id"]) and stored["id"].is_unique


def test_a_scheduler_needs_accounts_and_names_what_it_expects(sb, tmp_path, secrets):
    with pytest.raises(ConfigurationError, match="accounts"):
        lk.load_transactions("2025-01-01", "2025-02-01", scheduler="tcp://127.0.0.1:1")
    path = shops_file(sb, tmp_path, sb.world.shops)
    with pytest.raises(ConfigurationError, match="scheduler"):
        lk.load_transactions("2025-01-01", "2025-02-01", accounts="all", accounts_file=path, scheduler=42)


def test_month_windows_of_one_account_join_into_the_pull_of_the_whole_period(sb):
    from ledgerkit.many_accounts import join_windows, month_windows

    kw = {**sb.kwargs("transactions"), "progress": False}
    whole = lk.load_transactions("2025-01-10", "2025-03-20", time_zone="Europe/Riga", **kw)
    cuts = month_windows(
        pd.Timestamp("2025-01-09 22:00", tz="UTC"), pd.Timestamp("2025-03-19 22:00", tz="UTC"), "Europe/Riga"
    )
    assert [(a.isoformat(), b.isoformat()) for a, b in cuts][1] == (
        "2025-01-31T22:00:00+00:00",
        "2025-02-28T22:00:00+00:00",
    )  # midnights in Riga
    parts = [lk.load_transactions(a, b, time_zone="Europe/Riga", **kw) for a, b in cuts]
    joined = join_windows(parts)
    pd.testing.assert_frame_equal(joined, whole, check_categorical=False)
    manifest = joined.attrs["ledgerkit"]
    assert (manifest["rows"], manifest["tasks"], manifest["complete"]) == (len(whole), 3, True)
    assert manifest["requests"] == sum(p.attrs["ledgerkit"]["requests"] for p in parts)
    assert manifest["max_workers"] == whole.attrs["ledgerkit"]["max_workers"]
    assert manifest["sent_to"] == whole.attrs["ledgerkit"]["sent_to"]
    for key in ("first_cursor", "last_cursor"):  # ids of the period's first and last rows, not a sum of them
        assert manifest[key] == whole.attrs["ledgerkit"][key]
