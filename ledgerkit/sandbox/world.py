"""The sandbox's deterministic synthetic world: what the three fake APIs serve.

``World.generate(seed, n_transactions)`` draws, from one ``SeededRandom(seed)``
and no clock, a beGateway-platform PSP with two merchants, four shops and
eight gateways (EUR, USD, JPY, KWD; cards and the alternative methods iDEAL,
KNET and Bancontact), ``n_transactions`` shop-report transactions, the DWH
balance records derived from them, and a MakeCommerce EUR shop whose account
statement and payouts derive from its own ``n_transactions // 4`` payments.
The period is ``[2025-01-01, 2025-04-01)`` UTC (other time shapes:
:mod:`~ledgerkit.sandbox.world_shapes`).

Choices the server (and tests elsewhere) rely on:

* **Timestamps stay ``datetime`` objects**, tz-aware UTC with whole seconds,
  in the transaction dicts (``created_at``, ``paid_at``, ``settled_at``,
  ``manually_corrected_at``), in balance records (``created_at``) and in
  statement rows (``created``). The server formats them per request.
* Transactions carry one extra field, ``parent_uid`` (the uid of the
  payment/authorization a capture, void, refund or chargeback follows), and
  alternative-method ones an extra ``alternative`` object.
* ``transaction_fee`` follows ``fee_schedule`` (rules in
  :mod:`ledgerkit.sandbox.world_transactions`: percent + fixed for payments
  and captures, the fixed part only for refunds, chargebacks, credits and
  payouts) except for ``off_schedule_ids``. ``pay_to_merchant`` is the signed
  net the transaction moves (``amount - fee`` for payments and captures,
  ``-(amount + fee)`` for refunds and the other outgoing types, 0 when
  nothing moves); ``discount_rate`` is the percent applied and
  ``transaction_rate`` the effective rate ``fee / amount * 100``.
* Statement amounts are ``Decimal`` with two places; rules in
  :mod:`ledgerkit.sandbox.world_statements`.
* Returned lists and dicts are the world's own: callers must not mutate
  them. The world grows only through :meth:`World.add_transactions` and
  :meth:`World.append_statements`, under ``world.lock``.

Examples
--------
>>> world = World.generate(seed=1, n_transactions=200)
>>> len(world.transactions), world.transactions[0]["id"] < world.transactions[-1]["id"]
(200, True)
>>> shop = world.shops[0]
>>> world.shop_by_credentials(str(shop["id"]), shop["secret"]) is shop
True
"""

from __future__ import annotations

import gc
import hmac
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from ..errors import ConfigurationError
from ..money import check_currency
from . import world_catalog as cat
from .world_balance import BalanceBook
from .world_random import SeededRandom
from .world_shapes import WorldShape, world_shape
from .world_statements import StatementLedger
from .world_transactions import MONEY_SIGN, PERCENT_FEE_TYPES, Draft, TransactionDrawer, scheduled_fee

__all__ = ["World", "WORLD_START", "WORLD_END"]

WORLD_START = datetime(2025, 1, 1, tzinfo=UTC)
WORLD_END = datetime(2025, 4, 1, tzinfo=UTC)

_FIRST_ID = 41_207
_OLD_UID_SHARE = 0.35
_N_OFF_SCHEDULE = 8
_N_CORRECTED = 6
_DAY = 86_400
#: The account made to go negative: a large payout on Sakura Kuwait's card gateway.
_NEGATIVE_ROUTE = (2202, 305)
_NEGATIVE_AT = WORLD_START.timestamp() + 9 * _DAY + 10 * 3600
_NEGATIVE_BY = 40_000
_MC_RESERVE = Decimal("250.00")


@dataclass(eq=False, repr=False)
class World:
    """Everything the sandbox serves, generated deterministically from a seed.

    Build it with :meth:`World.generate`; see the module docstring for the
    shapes and rules.
    """

    seed: int
    n_transactions: int
    start: datetime
    end: datetime
    psp: dict
    merchants: list[dict]
    shops: list[dict]
    gateways: list[dict]
    fee_schedule: dict
    transactions: list[dict]
    off_schedule_ids: set[int]
    manually_corrected_ids: set[int]
    mc_shop: dict
    mc_opening_balance: Decimal
    mc_fee_schedule: dict
    planted: dict
    book: BalanceBook
    ledger: StatementLedger
    drawer: TransactionDrawer
    next_id: int
    lock: threading.RLock = field(default_factory=threading.RLock)
    _by_shop: dict = field(default_factory=dict)

    # -- construction -----------------------------------------------------------

    @classmethod
    def generate(cls, seed: int = 0, n_transactions: int = 2000, shape: str = "uniform") -> World:
        """Draw a world from ``seed`` with exactly ``n_transactions`` transactions.

        Parameters
        ----------
        seed : int
            Same seed, same world (no clock, no global random state).
        n_transactions : int
            How many shop-report transactions (at least 20); the statement
            gets ``n_transactions // 4`` MakeCommerce payments.
        shape : {"uniform", "sparse", "burst"}
            How the transactions spread in time (:mod:`~ledgerkit.sandbox.world_shapes`).

        Examples
        --------
        >>> w = World.generate(seed=3, n_transactions=100)
        >>> sorted({t["currency"] for t in w.transactions}) == ["EUR", "JPY", "KWD", "USD"]
        True
        """
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigurationError("seed", seed, "an integer")
        if isinstance(n_transactions, bool) or not isinstance(n_transactions, int) or n_transactions < 20:
            raise ConfigurationError("n_transactions", n_transactions, "an integer >= 20")
        span = world_shape(shape, WORLD_START, WORLD_END)
        gc_was_enabled = gc.isenabled()
        gc.disable()  # millions of young dicts, no cycles: the cyclic GC would only cost time
        try:
            return cls._draw(seed, n_transactions, span)
        finally:
            if gc_was_enabled:
                gc.enable()

    @classmethod
    def _draw(cls, seed: int, n_transactions: int, span: WorldShape) -> World:
        rng = SeededRandom(seed)
        start, end = int(span.start.timestamp()), int(span.end.timestamp())
        drawer = TransactionDrawer(rng, start, end, cat.FEE_SCHEDULE)
        drafts = drawer.draw(n_transactions - 1, cat.SHOPS, cat.SHOP_WEIGHTS)
        negative = _plant_payout(drawer)
        drafts.append(negative)
        span.warp(drafts)
        drafts.sort(key=lambda d: (d.created, d.seq))
        next_id = drawer.number(drafts, _FIRST_ID, int(len(drafts) * _OLD_UID_SHARE))
        for d in drafts:
            drawer.charge(d)
        off_schedule = _charge_off_schedule(drawer, drafts, negative)
        corrected = _correct_manually(drawer, drafts, off_schedule)
        accounts = _accounts()
        opening = {key: _opening(rng, key) for key in accounts}
        opening[_account_of(accounts, _NEGATIVE_ROUTE)] = 0
        negative.amount = (
            max(_balance_before(drafts, negative, opening[_account_of(accounts, _NEGATIVE_ROUTE)]), 0) + _NEGATIVE_BY
        )
        transactions = [drawer.to_api_dict(d) for d in drafts]
        book = BalanceBook(accounts, opening, span.start)
        book.post(transactions)
        ledger = StatementLedger(rng, start, end, _MC_RESERVE)
        ledger.build(n_transactions // 4)
        world = cls(
            seed=seed,
            n_transactions=n_transactions,
            start=span.start,
            end=span.end,
            psp={},
            merchants=[dict(m) for m in cat.MERCHANTS],
            shops=[],
            gateways=[dict(g) for g in cat.GATEWAYS],
            fee_schedule=dict(cat.FEE_SCHEDULE),
            transactions=transactions,
            off_schedule_ids={d.id for d in off_schedule},
            manually_corrected_ids={d.id for d in corrected},
            mc_shop={},
            mc_opening_balance=_MC_RESERVE,
            mc_fee_schedule=dict(cat.MC_CHANNELS),
            planted={},
            book=book,
            ledger=ledger,
            drawer=drawer,
            next_id=next_id,
        )
        world._issue_credentials()
        world._index_shops(transactions)
        world.planted = world._describe_planted(negative)
        return world

    def _issue_credentials(self) -> None:
        keys = SeededRandom(f"ledgerkit-sandbox-secrets-{self.seed}")
        self.psp = {"id": 1, "secret": f"psp-sandbox-secret-{keys.getrandbits(128):032x}"}
        self.shops = [
            {
                "id": s["id"],
                "merchant_id": s["merchant_id"],
                "name": s["name"],
                "secret": f"sk_sandbox_{keys.getrandbits(128):032x}",
            }
            for s in cat.SHOPS
        ]
        self.mc_shop = {"id": keys.uuid4(), "secret": f"sk_sandbox_{keys.getrandbits(128):032x}"}

    def _index_shops(self, transactions: list[dict]) -> None:
        for shop in self.shops:
            self._by_shop.setdefault(shop["id"], [])
        for txn in transactions:
            self._by_shop[txn["shop"]["id"]].append(txn)

    def _describe_planted(self, negative: Draft) -> dict:
        key = _account_of(self.book.accounts, _NEGATIVE_ROUTE)
        record = next(r for r in self.book.chain(key) if r["transaction_id"] == negative.id)
        gone_negative = [k for k in self.book.accounts if any(r["balance_after"] < 0 for r in self.book.chain(k))]
        return {
            "off_schedule_ids": sorted(self.off_schedule_ids),
            "manually_corrected_ids": sorted(self.manually_corrected_ids),
            "negative_balance": {
                "merchant_id": key[0],
                "shop_id": key[1],
                "gateway_id": key[2],
                "currency": key[3],
                "transaction_id": negative.id,
                "record_id": record["record_id"],
                "balance_after": record["balance_after"],
            },
            "negative_balance_accounts": gone_negative,
            "mix_change": dict(cat.MIX_CHANGE),
            "statement_foreign_transactions": list(self.ledger.foreign_transactions),
            "days_without_payout": list(self.ledger.days_without_payout),
            "statement_chargebacks": list(self.ledger.chargebacks),
        }

    def __repr__(self) -> str:
        return (
            f"World(seed={self.seed}, n_transactions={self.n_transactions}, shops={len(self.shops)}, "
            f"transactions={len(self.transactions)}, balance_records={len(self.balance_records)}, "
            f"statements={len(self.statements)}, payouts={len(self.payouts)})"
        )

    # -- views --------------------------------------------------------------------

    @property
    def balance_records(self) -> list[dict]:
        """All balance records, ordered by ``(created_at, record_id)``."""
        return self.book.records

    @property
    def opening_balances(self) -> list[dict]:
        """The ``opening_balance`` rows of every account at ``world.start``."""
        return [self.book.opening_row(key, self.start) for key in self.book.accounts]

    @property
    def accounts(self) -> list[dict]:
        """Every balance account: merchant, shop, gateway (ids and names) and currency."""
        return list(self.book.accounts.values())

    @property
    def statements(self) -> list[dict]:
        """The MakeCommerce statement rows in chain order."""
        return self.ledger.rows

    @property
    def payouts(self) -> list[dict]:
        """``{"payout_id", "created", "amount"}`` per payout; ``amount`` equals the PAYOUT row's (negative)."""
        return self.ledger.payouts

    def shop_transactions(self, shop_id: int) -> list[dict]:
        """The transactions of one shop in ascending ``id`` (empty for an unknown shop)."""
        return self._by_shop.get(shop_id, [])

    def expected_fee(self, txn: dict) -> int:
        """The fee the schedule asks for a transaction dict, in minor units."""
        brand = txn["credit_card"]["brand"]
        percent, fixed = self.fee_schedule[(txn["payment"]["gateway_id"], brand)]
        return scheduled_fee(txn["type"], txn["status"], txn["amount"], percent, fixed)

    # -- credentials ----------------------------------------------------------------

    def shop_by_credentials(self, user: object, secret: object) -> dict | None:
        """The shop whose id and secret key these are, else ``None`` (constant-time compare)."""
        for shop in self.shops:
            if _same(user, str(shop["id"])) & _same(secret, shop["secret"]):
                return shop
        return None

    def is_psp(self, user: object, secret: object) -> bool:
        """Whether these are the PSP's DWH credentials."""
        return _same(user, str(self.psp["id"])) & _same(secret, self.psp["secret"])

    def is_mc_shop(self, user: object, secret: object) -> bool:
        """Whether these are the MakeCommerce shop's credentials."""
        return _same(user, self.mc_shop["id"]) & _same(secret, self.mc_shop["secret"])

    # -- balance queries -------------------------------------------------------------

    def balance_records_in(
        self,
        date_from: datetime,
        date_to: datetime,
        currency: str,
        merchant_id: int | None = None,
        shop_id: int | None = None,
        gateway_id: int | None = None,
    ) -> tuple[list[dict], list[dict]]:
        """Balance records created in ``[date_from, date_to)`` and opening rows at ``date_from``.

        Every account in scope (currency and the optional ids) gets an
        opening row, also when it has no record in the period.

        Returns
        -------
        (records, opening)
            Records ordered by ``(created_at, record_id)``; opening rows in
            account order, ``date == date_from``.

        Examples
        --------
        >>> w = World.generate(seed=2, n_transactions=100)
        >>> recs, opening = w.balance_records_in(w.start, w.end, "EUR")
        >>> sorted({r["currency"] for r in recs}), all(o["date"] == w.start for o in opening)
        (['EUR'], True)
        """
        for name, value in (("date_from", date_from), ("date_to", date_to)):
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ConfigurationError(name, value, "a timezone-aware datetime")
        if date_to < date_from:
            raise ConfigurationError("date_to", date_to, f"a time not before date_from ({date_from.isoformat()})")
        currency = check_currency(currency)
        utc_from, utc_to = date_from.astimezone(UTC), date_to.astimezone(UTC)
        with self.lock:
            keys = self.book.in_scope(currency, merchant_id, shop_id, gateway_id)
            return self.book.records_in(utc_from, utc_to, keys)

    # -- growth during paging --------------------------------------------------------

    def add_transactions(
        self,
        n: int,
        within: tuple[datetime, datetime] | None = None,
        shop_id: int | None = None,
        payment_method_type: str | None = None,
    ) -> list[dict]:
        """Add ``n`` successful payments created inside ``within`` (half-open), ids above all others.

        Their balance records are posted and the touched chains re-chained,
        so every invariant still holds. Returns the new transactions.

        Examples
        --------
        >>> w = World.generate(seed=4, n_transactions=100)
        >>> top = w.transactions[-1]["id"]
        >>> new = w.add_transactions(3, within=(w.start, w.end), shop_id=w.shops[0]["id"])
        >>> len(new), min(t["id"] for t in new) > top, len(w.transactions)
        (3, True, 103)
        """
        lo, hi = within if within is not None else (self.start, self.end)
        if not isinstance(n, int) or n < 0:
            raise ConfigurationError("n", n, "a non-negative integer")
        if payment_method_type not in (None, "credit_card", "alternative"):
            raise ConfigurationError("payment_method_type", payment_method_type, "'credit_card' or 'alternative'")
        shop_id = self.shops[0]["id"] if shop_id is None else shop_id
        shop = next((s for s in cat.SHOPS if s["id"] == shop_id), None)
        if shop is None:
            raise ConfigurationError("shop_id", shop_id, f"one of {[s['id'] for s in cat.SHOPS]}")
        lo_ts, hi_ts = int(lo.timestamp()), int(hi.timestamp())
        if hi_ts <= lo_ts:
            raise ConfigurationError("within", within, "(start, end) with end at least a second after start")
        with self.lock:
            rng = self.drawer.rng
            drafts = []
            for _ in range(n):
                created = rng.randrange(lo_ts, hi_ts)
                gateway = self.drawer.route(shop, created, payment_method_type)
                drafts.append(self.drawer.root("payment", shop, gateway, created, status="successful"))
            drafts.sort(key=lambda d: (d.created, d.seq))
            self.next_id = self.drawer.number(drafts, self.next_id, 0)
            for d in drafts:
                self.drawer.charge(d)
            new = [self.drawer.to_api_dict(d) for d in drafts]
            self.transactions.extend(new)
            self._by_shop[shop_id].extend(new)
            self.book.post(new)
            return new

    def append_statements(self, n: int) -> list[dict]:
        """Append exactly ``n`` rows at the end of the statement chain (open balance); return them."""
        if not isinstance(n, int) or n < 0:
            raise ConfigurationError("n", n, "a non-negative integer")
        with self.lock:
            return self.ledger.append(n)


# -- helpers of generate() -------------------------------------------------------------


def _same(given: object, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def _accounts() -> dict[tuple, dict]:
    merchants = {m["id"]: m["name"] for m in cat.MERCHANTS}
    gateways = {g["id"]: g for g in cat.GATEWAYS}
    out = {}
    for shop in cat.SHOPS:
        for gid in shop["gateways"]:
            g = gateways[gid]
            out[(shop["merchant_id"], shop["id"], gid, g["currency"])] = {
                "merchant_id": shop["merchant_id"],
                "merchant_name": merchants[shop["merchant_id"]],
                "shop_id": shop["id"],
                "shop_name": shop["name"],
                "gateway_id": gid,
                "gateway_name": g["name"],
                "currency": g["currency"],
            }
    return out


def _account_of(accounts: dict, route: tuple[int, int]) -> tuple:
    return next(k for k in accounts if (k[1], k[2]) == route)


def _opening(rng: SeededRandom, key: tuple) -> int:
    floor = cat.OPENING_FLOOR[key[3]]
    return floor + rng.randrange(floor)


def _plant_payout(drawer: TransactionDrawer) -> Draft:
    """The payout that drives its account negative (amount set once the balance is known)."""
    shop = next(s for s in cat.SHOPS if s["id"] == _NEGATIVE_ROUTE[0])
    gateway = drawer.gateways[_NEGATIVE_ROUTE[1]]
    draft = drawer.root("payout", shop, gateway, int(_NEGATIVE_AT), status="successful")
    draft.note = "Payout to merchant bank account"
    return draft


def _balance_before(drafts: list[Draft], target: Draft, opening: int) -> int:
    """The balance of ``target``'s account just before ``target`` moves it."""
    route = (target.shop["id"], target.gateway["id"])
    moving = [d for d in drafts if d.paid is not None and (d.shop["id"], d.gateway["id"]) == route]
    moving.sort(key=lambda d: (d.paid, d.id))
    balance = opening
    for d in moving:
        if d is target:
            return balance
        balance += MONEY_SIGN[d.type] * d.amount - d.fee
    raise AssertionError("target is not a money-moving draft")


def _charge_off_schedule(drawer: TransactionDrawer, drafts: list[Draft], exclude: Draft) -> list[Draft]:
    candidates = [d for d in drafts if d.status == "successful" and d.type in PERCENT_FEE_TYPES and d is not exclude]
    chosen = drawer.rng.sample(candidates, min(_N_OFF_SCHEDULE, len(candidates)))
    for d in chosen:
        drawer.charge_off_schedule(d)
    return chosen


def _correct_manually(drawer: TransactionDrawer, drafts: list[Draft], skip: list[Draft]) -> list[Draft]:
    skipped = {id(d) for d in skip}
    candidates = [
        d for d in drafts if d.paid is not None and id(d) not in skipped and d.created < drawer.end - 7 * _DAY
    ]
    chosen = drawer.rng.sample(candidates, min(_N_CORRECTED, len(candidates)))
    for d in chosen:
        d.corrected = d.created + drawer.rng.randint(_DAY, 6 * _DAY)
        d.note = "Manually corrected by support: settlement reference amended"
    return chosen
