"""Named accounts: a small TOML file listing the accounts a notebook may pull, never their secrets.

A merchant group runs many shops; a PSP analyst looks at every merchant.
The accounts file names each account once -- which API it belongs to, its
base URL and id, the *name of the environment variable* that holds its
secret, and tags to select it by -- so that a loader can take
``accounts="all"`` (or names, or tags) instead of a loop written by hand::

    # ledgerkit.toml
    [accounts.shop-eu]
    source = "transactions"                   # transactions | statements | balance_records
    base_url = "https://backoffice.example.com"
    id = 1673                                 # shop id (PSP id for balance_records)
    secret_env = "SHOP_EU_SECRET"             # the variable holding the secret key
    brand = "bepaid"                          # begateway | bepaid | ecomcharge | makecommerce
    merchant = "Acme"
    currency = "EUR"
    tags = ["eu", "cards"]

The file is found at ``path`` if given, else ``$LEDGERKIT_ACCOUNTS``, else
``./ledgerkit.toml``, else ``ledgerkit.toml`` in the user's config directory.
A secret in the file itself is refused: the file may be committed, shared
or printed; secrets live in the environment (or a CI's secret store).

Examples
--------
>>> import tempfile, pathlib
>>> text = '''
... [accounts.shop-eu]
... source = "transactions"
... base_url = "https://backoffice.example.com"
... id = 1673
... secret_env = "SHOP_EU_SECRET"
... merchant = "Acme"
... tags = ["eu"]
... '''
>>> with tempfile.TemporaryDirectory() as d:
...     path = pathlib.Path(d, "ledgerkit.toml"); _ = path.write_text(text)
...     found = accounts(path)
>>> found
[Account(name='shop-eu', source='transactions', base_url='https://backoffice.example.com', id='1673', secret_env='SHOP_EU_SECRET')]
>>> select(found, "merchant=Acme") == select(found, "eu") == found
True
"""  # noqa: E501 - a doctest's output is one line

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from .config import ENV_VARS, Credentials, resolve
from .errors import ConfigurationError

__all__ = ["Account", "accounts", "select", "wanted_words", "accounts_path", "BRANDS", "ACCOUNTS_VARIABLE"]

#: The variable that points at the accounts file.
ACCOUNTS_VARIABLE = "LEDGERKIT_ACCOUNTS"

#: Brands (deployments) an account may be tagged with.
BRANDS = ("begateway", "bepaid", "ecomcharge", "makecommerce")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KNOWN = {"source", "base_url", "id", "secret_env", "brand", "merchant", "currency", "tags"}
_SECRETS = {"secret", "secret_key", "password", "key", "token"}


@dataclass(frozen=True)
class Account:
    """One named account of one API; its secret stays in the environment variable it names.

    Attributes
    ----------
    name : str
    source : {"transactions", "statements", "balance_records"}
    base_url : str
    id : str
        The shop id (``transactions``, ``statements``) or PSP id (``balance_records``).
    secret_env : str
        The environment variable that holds the secret key.
    tags : dict
        ``brand``, ``merchant``, ``currency`` when given, and ``tags`` (a tuple of words).
    """

    name: str
    source: str
    base_url: str
    id: str
    secret_env: str
    tags: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def credentials(self, environ: Mapping[str, str] | None = None) -> Credentials:
        """The account's id and secret, the secret read from :attr:`secret_env` now.

        Raises
        ------
        ConfigurationError
            The variable is not set (naming the account and the variable, never a value).
        """
        env = os.environ if environ is None else environ
        secret = env.get(self.secret_env)
        if not secret:
            raise ConfigurationError(
                "accounts",
                self.name,
                f"the environment variable {self.secret_env} set to the secret key of account {self.name!r}",
                "Set it in the shell, the notebook's environment or the CI's secrets.",
            )
        return Credentials(self.id, secret)

    def connection(self, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Keyword arguments of this account's loader: ``base_url``, the id keyword and ``secret_key``."""
        user_keyword = ENV_VARS[self.source][3]
        return {"base_url": self.base_url, user_keyword: self.id, "secret_key": self.credentials(environ)}

    def matches(self, word: str) -> bool:
        """Whether ``word`` names this account: its name, one of its tags, or ``key=value`` of a tag."""
        if word in (self.name, "all") or word in self.tags.get("tags", ()):
            return True
        key, sep, value = word.partition("=")
        return bool(sep) and str(self.tags.get(key.strip(), "")).lower() == value.strip().lower()


def accounts_path(path: str | os.PathLike | None = None) -> Path:
    """Where the accounts file is read from (see the module docstring for the order).

    Examples
    --------
    >>> accounts_path("/etc/ledgerkit.toml")
    PosixPath('/etc/ledgerkit.toml')
    """
    if path is not None:
        if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise ConfigurationError("path", path, "the path of an accounts file (TOML), e.g. 'ledgerkit.toml'")
        return Path(path).expanduser()
    if os.environ.get(ACCOUNTS_VARIABLE):
        return Path(os.environ[ACCOUNTS_VARIABLE]).expanduser()
    here = Path("ledgerkit.toml")
    return here if here.is_file() else Path(platformdirs.user_config_dir("ledgerkit")) / "ledgerkit.toml"


def accounts(path: str | os.PathLike | None = None) -> list[Account]:
    """Read the accounts file.

    Parameters
    ----------
    path : str or path, optional
        The file; by default ``$LEDGERKIT_ACCOUNTS``, ``./ledgerkit.toml``,
        or ``ledgerkit.toml`` in the user's config directory.

    Returns
    -------
    list of Account
        In the file's order.

    Raises
    ------
    ConfigurationError
        The file is missing or not TOML, or an entry is wrong: the message
        names the file, the account and the field.
    """
    file = accounts_path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            "path",
            str(file),
            f"an accounts file (TOML) at {file}",
            f"Write one (see ledgerkit.accounts) or set ${ACCOUNTS_VARIABLE}.",
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError("path", str(file), f"a readable TOML file ({exc})") from exc
    table = data.get("accounts")
    if not isinstance(table, dict) or not table:
        raise ConfigurationError("path", str(file), "a TOML file with an [accounts.<name>] table per account")
    return [_account(file, name, entry) for name, entry in table.items()]


def _account(file: Path, name: str, entry: Any) -> Account:
    def bad(field_name: str, value: Any, expected: str) -> ConfigurationError:
        shown = "<hidden>" if field_name in _SECRETS else value
        return ConfigurationError(f"{file}: accounts.{name}.{field_name}", shown, expected)

    if not _NAME.fullmatch(name):
        raise bad("name", name, "a name of letters, digits, '_', '.', '-' (at most 64)")
    if not isinstance(entry, dict):
        raise bad("entry", type(entry).__name__, "a table with source, base_url, id and secret_env")
    for key in entry:
        if key in _SECRETS:
            raise bad(key, entry[key], "no secret in the file: name the variable that holds it in secret_env")
        if key not in _KNOWN:
            raise bad(key, entry[key], f"one of the fields {', '.join(sorted(_KNOWN))}")
    source = entry.get("source")
    if source not in ENV_VARS:
        raise bad("source", source, f"one of {', '.join(ENV_VARS)}")
    for required in ("base_url", "id", "secret_env"):
        if required not in entry:
            raise bad(required, None, "a value (required)")
    account_id = entry["id"]
    if isinstance(account_id, bool) or not isinstance(account_id, (str, int)) or not str(account_id).strip():
        raise bad("id", account_id, "the shop or PSP id (a string or an integer)")
    secret_env = entry["secret_env"]
    if not isinstance(secret_env, str) or not _VARIABLE.fullmatch(secret_env):
        raise bad("secret_env", secret_env, "the name of an environment variable, e.g. 'SHOP_EU_SECRET'")
    try:
        base_url = resolve(source, base_url=entry["base_url"], user=account_id, secret="-").base_url
    except ConfigurationError as exc:
        if exc.parameter == "base_url":  # exc.value: the URL with any password hidden
            raise bad("base_url", exc.value, exc.expected) from None
        raise bad("id", account_id, exc.expected) from None
    tags: dict[str, Any] = {}
    if "brand" in entry:
        if entry["brand"] not in BRANDS:
            raise bad("brand", entry["brand"], f"one of {', '.join(BRANDS)}")
        tags["brand"] = entry["brand"]
    for key in ("merchant", "currency"):
        if key in entry:
            if not isinstance(entry[key], (str, int)) or isinstance(entry[key], bool):
                raise bad(key, entry[key], "a text tag")
            tags[key] = str(entry[key])
    words = entry.get("tags", [])
    if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
        raise bad("tags", words, "a list of words, e.g. ['eu', 'cards']")
    tags["tags"] = tuple(words)
    return Account(name, source, base_url, str(account_id).strip(), secret_env, tags)


def wanted_words(wanted: Any) -> list[str]:
    """``accounts=`` as its list of words; ``ConfigurationError`` for anything else (checked before the file is read).

    Examples
    --------
    >>> wanted_words("eu"), wanted_words(["shop-eu", "merchant=Acme"])
    (['eu'], ['shop-eu', 'merchant=Acme'])
    """
    words = [wanted] if isinstance(wanted, str) else wanted
    if not isinstance(words, (list, tuple)) or not words or not all(isinstance(w, str) and w.strip() for w in words):
        raise ConfigurationError("accounts", wanted, "'all', an account name, a tag, 'key=value', or a list of them")
    return list(words)


def select(found: Iterable[Account], wanted: Any, *, source: str | None = None) -> list[Account]:
    """The accounts ``wanted`` names: ``"all"``, a name, a tag, ``"key=value"``, or a list of those.

    Parameters
    ----------
    found : iterable of Account
    wanted : str or list of str
    source : str, optional
        Only accounts of this API.

    Raises
    ------
    ConfigurationError
        A word that selects no account (naming it and the accounts there are).
    """
    found = list(found)
    words = wanted_words(wanted)
    pool = [a for a in found if source is None or a.source == source]
    chosen: dict[str, Account] = {}
    for word in words:
        hits = [a for a in pool if a.matches(word)]
        if not hits:
            names = ", ".join(a.name for a in pool) or "none"
            raise ConfigurationError(
                "accounts", word, f"an account name or tag of the {source or 'listed'} accounts ({names})"
            )
        chosen.update((a.name, a) for a in hits)
    return [a for a in pool if a.name in chosen]
