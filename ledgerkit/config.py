"""Where base URLs and credentials come from: keyword arguments, else environment.

Each provider has a base URL and an (id, secret) pair for HTTP Basic auth:

==============  ==================================  ===================================
source          keyword arguments                   environment variables
==============  ==================================  ===================================
transactions    base_url, shop_id, secret_key        LEDGERKIT_TRANSACTIONS_URL,
                                                     LEDGERKIT_TRANSACTIONS_SHOP_ID,
                                                     LEDGERKIT_TRANSACTIONS_SECRET_KEY
statements      base_url, shop_id, secret_key        LEDGERKIT_STATEMENTS_URL,
                                                     LEDGERKIT_STATEMENTS_SHOP_ID,
                                                     LEDGERKIT_STATEMENTS_SECRET_KEY
balance_records base_url, psp_id, secret_key         LEDGERKIT_DWH_URL,
                                                     LEDGERKIT_DWH_PSP_ID,
                                                     LEDGERKIT_DWH_SECRET_KEY
==============  ==================================  ===================================

Secrets are held in :class:`Credentials`, whose ``repr``/``str`` never show
the secret; nothing else in ledgerkit ever formats a secret into text.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = ["Credentials", "ProviderConfig", "resolve", "check_basic_auth", "ENV_VARS"]

#: source -> (url variable, user variable, secret variable, user keyword)
ENV_VARS: dict[str, tuple[str, str, str, str]] = {
    "transactions": (
        "LEDGERKIT_TRANSACTIONS_URL",
        "LEDGERKIT_TRANSACTIONS_SHOP_ID",
        "LEDGERKIT_TRANSACTIONS_SECRET_KEY",
        "shop_id",
    ),
    "statements": (
        "LEDGERKIT_STATEMENTS_URL",
        "LEDGERKIT_STATEMENTS_SHOP_ID",
        "LEDGERKIT_STATEMENTS_SECRET_KEY",
        "shop_id",
    ),
    "balance_records": (
        "LEDGERKIT_DWH_URL",
        "LEDGERKIT_DWH_PSP_ID",
        "LEDGERKIT_DWH_SECRET_KEY",
        "psp_id",
    ),
}


@dataclass(frozen=True)
class Credentials:
    """An HTTP Basic (id, secret) pair whose secret never prints.

    Examples
    --------
    >>> c = Credentials("1673", "s3cr3t")
    >>> c
    Credentials(user='1673', secret='***')
    >>> c.auth()
    ('1673', 's3cr3t')
    """

    user: str
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, secret='***')"

    __str__ = __repr__

    def auth(self) -> tuple[str, str]:
        """The ``(user, secret)`` tuple for ``requests``' ``auth=``."""
        return (self.user, self.secret)


@dataclass(frozen=True)
class ProviderConfig:
    """Base URL and credentials of one provider API."""

    source: str
    base_url: str
    credentials: Credentials

    def url(self, path: str) -> str:
        """Join ``path`` (starting with ``/``) to the base URL."""
        return self.base_url.rstrip("/") + path


def _check_url(url: str, parameter: str) -> str:
    expected = "an http(s) URL such as 'https://api.example.com'"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when not a number from 0 to 65535
    except ValueError as exc:
        raise ConfigurationError(parameter, _without_userinfo(url), f"{expected} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(parameter, _without_userinfo(url), expected)
    if parts.username or parts.password:
        raise ConfigurationError(
            parameter,
            f"{parts.scheme}://<hidden>@{parts.hostname}",
            "a URL without credentials in it",
            "Pass the id and secret key as keyword arguments or environment variables.",
        )
    if port == 0 or any(c.isspace() or not c.isprintable() for c in url):
        raise ConfigurationError(
            parameter, url, f"{expected}, with a port from 1 to 65535 and no spaces or control characters"
        )
    if parts.query or parts.fragment or url.rstrip("/").endswith(("?", "#")):
        raise ConfigurationError(
            parameter, url, f"{expected} without '?query' or '#fragment' (the API paths are added after it)"
        )
    return url.rstrip("/")


def _without_userinfo(url: str) -> str:
    """``url`` with anything before an ``@`` of its authority hidden (it may hold a password)."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if sep and "@" in authority:
        return f"{scheme}://<hidden>@{authority.rpartition('@')[2]}{slash}{path}"
    return url


def _check_user(value: str | int, parameter: str) -> str:
    """The account id as text: a positive integer, or text without spaces or control characters."""
    text = str(value)
    out_of_range = isinstance(value, int) and not 0 < value < 2**63
    if out_of_range or not text or any(c.isspace() or not c.isprintable() for c in text):
        raise ConfigurationError(
            parameter, value, "a positive integer id, or an id string without spaces or control characters"
        )
    return text


def check_basic_auth(user: str, secret: str, *, user_parameter: str, secret_parameter: str = "secret_key") -> None:
    """Refuse an (id, secret) pair that HTTP Basic auth cannot carry, without ever showing it.

    Basic auth sends ``id:secret`` encoded as Latin-1: any other character
    cannot be sent (``requests`` would fail with a ``UnicodeEncodeError``
    whose text holds the whole key), and a ``:`` in the id would move the
    split between id and secret.

    Raises
    ------
    ConfigurationError
        Naming the parameter and the position of the first bad character,
        with the value shown as ``<hidden>``.

    Examples
    --------
    >>> check_basic_auth("1673", "s3cr3t", user_parameter="shop_id")
    >>> check_basic_auth("1673", "s3cr\u20ac3t", user_parameter="shop_id")
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: secret_key='<hidden>' is not valid: expected only Latin-1 characters \
(HTTP Basic auth cannot send character 5 of 7, U+20AC). Check for a character pasted in by mistake \
(a curly quote, a non-breaking space, a currency sign)
    """
    for parameter, value in ((user_parameter, user), (secret_parameter, secret)):
        bad = next((i for i, c in enumerate(value) if ord(c) > 0xFF), None)
        if bad is not None:
            raise ConfigurationError(
                parameter,
                "<hidden>",
                f"only Latin-1 characters (HTTP Basic auth cannot send character {bad + 1} of {len(value)}, "
                f"U+{ord(value[bad]):04X})",
                "Check for a character pasted in by mistake (a curly quote, a non-breaking space, a currency sign)",
            )
    if ":" in user:
        raise ConfigurationError(
            user_parameter, "<hidden>", "an id without ':' (HTTP Basic auth splits id and secret at it)"
        )


def resolve(
    source: str,
    *,
    base_url: str | None = None,
    user: str | int | None = None,
    secret: str | Credentials | None = None,
    environ: Mapping[str, str] | None = None,
) -> ProviderConfig:
    """Resolve base URL and credentials: arguments first, then environment variables.

    Raises
    ------
    ConfigurationError
        Naming the keyword argument and environment variable to set.

    Examples
    --------
    >>> cfg = resolve("statements", base_url="http://127.0.0.1:8765/makecommerce", user=1, secret="x")
    >>> cfg.url("/v1/shop/accountstatements")
    'http://127.0.0.1:8765/makecommerce/v1/shop/accountstatements'
    """
    env = os.environ if environ is None else environ
    url_var, user_var, secret_var, user_kw = ENV_VARS[source]
    if isinstance(secret, Credentials):
        if user is not None and user != "" and _id_text(user) != secret.user:
            raise ConfigurationError(
                user_kw,
                user,
                f"None or the id of the Credentials given as secret_key ({secret.user!r})",
                "An id beside a Credentials key would be ignored.",
            )
        user, secret = secret.user, secret.secret
    url = base_url if base_url is not None else env.get(url_var)
    if user is None:
        user = env.get(user_var)
    if secret is None:
        secret = env.get(secret_var)
    missing = [
        f"{kw} (or ${var})"
        for kw, var, val in (("base_url", url_var, url), (user_kw, user_var, user), ("secret_key", secret_var, secret))
        if val in (None, "")
    ]
    if missing:
        raise ConfigurationError(
            missing[0].split(" ")[0],
            None,
            f"a value for {', '.join(missing)}",
            "Pass them as keyword arguments, set the environment variables, "
            "or start the sandbox (ledgerkit.sandbox.Sandbox) and use its settings.",
        )
    if not isinstance(url, str):
        raise ConfigurationError("base_url", type(url).__name__, "a string URL")
    if not isinstance(user, (str, int)) or isinstance(user, bool):
        raise ConfigurationError(user_kw, type(user).__name__, "a string or integer id")
    if not isinstance(secret, str):
        raise ConfigurationError("secret_key", "<hidden>", "a string")
    user = _check_user(user, user_kw)
    check_basic_auth(user, secret, user_parameter=user_kw)
    return ProviderConfig(source, _check_url(url, "base_url"), Credentials(user, secret))


def _id_text(user: object) -> object:
    """An id as the text it is sent as (other types as they are, to be refused with the right message)."""
    return str(user) if isinstance(user, (str, int)) and not isinstance(user, bool) else user
