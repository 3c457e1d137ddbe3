"""Drawing beGateway transactions for the sandbox world.

Transactions are first drawn as light :class:`Draft` objects (who, what, how
much, when, parent), then sorted by creation time, numbered, charged their
fees, and finally turned into API-shaped dicts by :func:`to_api_dict`. Times
are integer POSIX seconds while drawing and tz-aware UTC ``datetime`` objects
in the finished dicts.

Fee rules (the contract the analysis side checks against):

* payment, capture: ``round_half_even(amount * percent / 100) + fixed``;
* refund, chargeback, credit, payout: the fixed part only;
* everything else, and every transaction that is not successful: 0.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import accumulate
from typing import Any, overload

from . import world_catalog as cat
from .world_random import SeededRandom

#: Types whose successful transactions move money, with the sign they move it.
MONEY_SIGN = {"payment": 1, "capture": 1, "refund": -1, "chargeback": -1, "credit": -1, "payout": -1}
PERCENT_FEE_TYPES = frozenset({"payment", "capture"})
FIXED_FEE_TYPES = frozenset({"refund", "chargeback", "credit", "payout"})

_DAY = 86_400
_CARD_KEYS = (
    "holder",
    "token",
    "brand",
    "last_4",
    "first_1",
    "bin",
    "issuer_country",
    "issuer_name",
    "exp_month",
    "exp_year",
    "product",
)
_TDS_KEYS = (
    "status",
    "message",
    "ve_status",
    "acs_url",
    "pa_req",
    "md",
    "pa_res_url",
    "eci",
    "pa_status",
    "xid",
    "cavv",
    "cavv_algorithm",
    "fail_reason",
    "method_process_url",
)
_TDS_VERIFICATION_KEYS = ("eci", "pa_status", "xid", "cavv", "cavv_algorithm", "ve_status", "message", "status")
_BILLING_KEYS = ("first_name", "last_name", "address", "country", "city", "zip", "state", "phone", "birth_date")
# Read-only nested objects shared by many transactions (memory at 200k rows).
_NULL_CARD = dict.fromkeys(_CARD_KEYS)
_NULL_TDS = dict.fromkeys(_TDS_KEYS)
_NULL_TDS_VERIFICATION = dict.fromkeys(_TDS_VERIFICATION_KEYS)
_NULL_BILLING = dict.fromkeys(_BILLING_KEYS)
_NULL_VENDOR = {"name": None, "token": None}
_AVS_CVC = {
    True: {"avs_verification": {"result_code": "M"}, "cvc_verification": {"result_code": "M"}},
    False: {"avs_verification": {"result_code": None}, "cvc_verification": {"result_code": None}},
}
_GATEWAY_WEIGHT = {301: 60, 303: 15, 304: 80, 305: 70, 306: 15, 307: 30, 308: 10}
_ROOT_KINDS = [("payment", 68), ("authorization", 18), ("credit", 3), ("payout", 3), ("tokenization", 3)]
_ROOT_STATUSES = [("successful", 82), ("failed", 11), ("incomplete", 3), ("pending", 2), ("error", 2)]


def _cumulative(pairs: Sequence[tuple[Any, int]]) -> tuple[list, list[int]]:
    """(items, cumulative weights) of ``[(item, weight), ...]`` for :meth:`SeededRandom.pick`."""
    items, weights = zip(*pairs, strict=True)
    return list(items), list(accumulate(weights))


_KINDS = _cumulative(_ROOT_KINDS)
_STATUSES = _cumulative(_ROOT_STATUSES)
_BRANDS = {gid: _cumulative(pairs) for gid, pairs in cat.BRANDS.items()}
_OLD_UID_OFFSET = 8332


@overload
def to_datetime(ts: None) -> None: ...
@overload
def to_datetime(ts: int) -> datetime: ...
def to_datetime(ts: int | None) -> datetime | None:
    """POSIX seconds to a tz-aware UTC ``datetime`` (``None`` stays ``None``)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def percent_of(amount: int, percent: Decimal) -> int:
    """``amount * percent / 100`` rounded half to even, in exact integers.

    Examples
    --------
    >>> percent_of(1000, Decimal("2.5")), percent_of(1100, Decimal("2.5")), percent_of(1300, Decimal("2.5"))
    (25, 28, 32)
    """
    num, den = percent.as_integer_ratio()
    q, r = divmod(amount * num, den * 100)
    if 2 * r > den * 100 or (2 * r == den * 100 and q % 2):
        q += 1
    return q


def scheduled_fee(txn_type: str, status: str, amount: int, percent: Decimal, fixed: int) -> int:
    """The fee the schedule asks for one transaction (see the module docstring).

    Examples
    --------
    >>> scheduled_fee("payment", "successful", 10000, Decimal("1.40"), 25)
    165
    >>> (scheduled_fee("refund", "successful", 10000, Decimal("1.40"), 25),
    ...  scheduled_fee("payment", "failed", 1, Decimal(1), 1))
    (25, 0)
    """
    if status != "successful":
        return 0
    if txn_type in PERCENT_FEE_TYPES:
        return percent_of(amount, percent) + fixed
    if txn_type in FIXED_FEE_TYPES:
        return fixed
    return 0


@dataclass(slots=True, eq=False)
class Draft:
    """One transaction while the world is being drawn (times in POSIX seconds)."""

    type: str
    status: str
    shop: dict
    gateway: dict
    amount: int
    created: int
    seq: int
    brand: str | None = None
    card: tuple | None = None
    person: tuple | None = None
    parent: Draft | None = None
    order_id: int = 0
    paid: int | None = None
    settled: int | None = None
    corrected: int | None = None
    percent: Decimal = Decimal(0)
    fee: int = 0
    id: int = 0
    uid: str = ""
    note: str = ""


class TransactionDrawer:
    """Draws :class:`Draft` transactions inside ``[start, end)`` from one :class:`SeededRandom`."""

    def __init__(self, rng: SeededRandom, start: int, end: int, schedule: dict) -> None:
        self.rng = rng
        self.start, self.end = start, end
        self.schedule = schedule
        self.mix_from = int(datetime.fromisoformat(cat.MIX_CHANGE["from"]).replace(tzinfo=UTC).timestamp())
        self.mix_share = float(cat.MIX_CHANGE["share"])
        self.gateways = {g["id"]: g for g in cat.GATEWAYS}
        self._seq = 0
        self._order = 27_000
        self._routes = {}
        self._browsers: dict[tuple, dict] = {}
        self._shop_refs: dict[int, dict] = {}
        for shop in cat.SHOPS:
            ids = [g for g in shop["gateways"] if _GATEWAY_WEIGHT.get(g)]
            self._routes[shop["id"]] = (ids, [_GATEWAY_WEIGHT[g] for g in ids])

    # -- drawing ------------------------------------------------------------

    def draw(self, n: int, shops: list[dict], shop_weights: list[int]) -> list[Draft]:
        """Exactly ``n`` drafts: roots with their follow-ups (captures, refunds, ...)."""
        rng = self.rng
        out: list[Draft] = []
        shop_cum = list(accumulate(shop_weights))
        while len(out) < n:
            shop = rng.pick(shops, shop_cum)
            created = rng.randrange(self.start, self.end - 3600)
            gateway = self.route(shop, created)
            kind = rng.pick(*_KINDS) if gateway["method"] == "credit_card" else "payment"
            root = self.root(kind, shop, gateway, created)
            out.append(root)
            out.extend(self.follow_ups(root)[: n - len(out)])
        return out

    def route(self, shop: dict, created: int, method: str | None = None) -> dict:
        """The gateway a payment of ``shop`` goes through (with the March mix change)."""
        ids, weights = self._routes[shop["id"]]
        if method is not None:
            pairs = [(g, w) for g, w in zip(ids, weights, strict=True) if self._method_type(g) == method]
            ids, weights = [p[0] for p in pairs] or ids, [p[1] for p in pairs] or weights
        gid = self.rng.choices(ids, weights)[0]
        if (
            gid == cat.MIX_CHANGE["from_gateway"]
            and created >= self.mix_from
            and cat.MIX_CHANGE["to_gateway"] in shop["gateways"]
            and self.rng.random() < self.mix_share
        ):
            gid = cat.MIX_CHANGE["to_gateway"]
        return self.gateways[gid]

    def _method_type(self, gid: int) -> str:
        return "credit_card" if self.gateways[gid]["method"] == "credit_card" else "alternative"

    def root(self, kind: str, shop: dict, gateway: dict, created: int, status: str | None = None) -> Draft:
        """A customer-initiated transaction with its card (or account) and payer."""
        rng = self.rng
        if status is None:
            if kind in ("payment", "authorization"):
                status = rng.pick(*_STATUSES)
            else:
                status = "successful" if rng.random() < 0.9 else "failed"
        brand = card = None
        if gateway["method"] == "credit_card":
            brand = rng.pick(*_BRANDS[gateway["id"]])
            card = rng.choice(cat.CARD_ISSUERS[brand])
            country = card[2]
        else:
            country = cat.ALTERNATIVE_COUNTRY[gateway["method"]]
        amount = 0 if kind == "tokenization" else self.amount(gateway["currency"])
        self._order += 1
        draft = Draft(
            kind,
            status,
            shop,
            gateway,
            amount,
            created,
            self._next_seq(),
            brand,
            card,
            self.person(country),
            None,
            self._order,
        )
        self.settle(draft)
        return draft

    def follow_ups(self, root: Draft) -> list[Draft]:
        """Captures, voids, refunds and chargebacks that follow ``root`` (maybe none)."""
        if root.status != "successful":
            return []
        rng = self.rng
        out: list[Draft] = []
        if root.type == "authorization":
            u = rng.random()
            if u < 0.75:
                amount = root.amount if rng.random() < 0.85 else max(1, root.amount * rng.randint(50, 95) // 100)
                status = "successful" if rng.random() < 0.96 else "failed"
                capture = self.child(root, "capture", status, amount, 600, 3 * _DAY)
                if capture is not None:
                    out.append(capture)
                    out.extend(self.follow_ups(capture))
            elif u < 0.95:
                void = self.child(root, "void", "successful", root.amount, 300, 2 * _DAY)
                out.extend([void] if void is not None else [])
        elif root.type in ("payment", "capture"):
            u = rng.random()
            if u < 0.07:
                amount = root.amount if rng.random() < 0.6 else max(1, root.amount * rng.randint(10, 90) // 100)
                status = "successful" if rng.random() < 0.94 else "failed"
                refund = self.child(root, "refund", status, amount, 3600, 20 * _DAY)
                out.extend([refund] if refund is not None else [])
            elif u < 0.082 and root.card is not None:
                chargeback = self.child(root, "chargeback", "successful", root.amount, 5 * _DAY, 40 * _DAY)
                out.extend([chargeback] if chargeback is not None else [])
        return out

    def child(self, parent: Draft, kind: str, status: str, amount: int, lo: int, hi: int) -> Draft | None:
        """A follow-up of ``parent`` created ``lo``..``hi`` seconds after it was paid; None past the end."""
        created = (parent.paid or parent.created) + self.rng.randint(lo, hi)
        if created >= self.end - 600:
            return None
        draft = Draft(
            kind,
            status,
            parent.shop,
            parent.gateway,
            amount,
            created,
            self._next_seq(),
            parent.brand,
            parent.card,
            parent.person,
            parent,
            parent.order_id,
        )
        self.settle(draft)
        return draft

    def settle(self, draft: Draft) -> None:
        """``paid`` seconds after creation for money movers; ``settled`` a day or two later."""
        if draft.status != "successful" or draft.type not in MONEY_SIGN:
            return
        rng = self.rng
        draft.paid = draft.created + rng.randint(1, 90)
        settled = (draft.paid // _DAY + rng.randint(1, 2)) * _DAY + rng.randint(3 * 3600, 6 * 3600)
        draft.settled = settled if settled < self.end else None

    def amount(self, currency: str) -> int:
        """A ticket size in minor units: log-normal around the currency's median."""
        median, step = cat.TICKETS[currency]
        raw = median * math.exp(self.rng.gauss(0.0, 0.8))
        value = int(raw // step) * step
        return min(max(value, 100 * step), 100 * median)

    def person(self, country: str) -> tuple:
        """(first, last, country, email, ip) of a fictitious payer."""
        rng = self.rng
        first, last = rng.choice(cat.FIRST_NAMES), rng.choice(cat.LAST_NAMES)
        email = f"{first}.{last}{rng.randint(1, 999)}@{rng.choice(cat.EMAIL_DOMAINS)}".lower().replace("-", "")
        ip = f"{rng.choice(cat.IP_PREFIXES)}{rng.randint(1, 254)}"
        return first, last, country if country in cat.CITIES else "EE", email, ip

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- numbering and fees -------------------------------------------------

    def number(self, drafts: list[Draft], first_id: int, n_old: int) -> int:
        """Give ``drafts`` (already in order) ascending ids and uids; return the next free id.

        The first ``n_old`` get the older ``NNNNN-hex10`` uid form, the rest UUIDs.
        """
        rng = self.rng
        next_id = first_id
        for i, d in enumerate(drafts):
            d.id = next_id
            if i < n_old:
                d.uid = f"{next_id - _OLD_UID_OFFSET}-{rng.getrandbits(40):010x}"
            else:
                d.uid = rng.uuid4()
            next_id += rng.randint(1, 4)
        return next_id

    def charge(self, draft: Draft) -> None:
        """Set ``fee`` and ``percent`` from the schedule."""
        percent, fixed = self.schedule[(draft.gateway["id"], draft.brand)]
        draft.percent = percent
        draft.fee = scheduled_fee(draft.type, draft.status, draft.amount, percent, fixed)

    def charge_off_schedule(self, draft: Draft) -> None:
        """Charge 1.50 percentage points more and twice the fixed part: a clear deviation."""
        percent, fixed = self.schedule[(draft.gateway["id"], draft.brand)]
        draft.percent = percent + Decimal("1.50")
        draft.fee = percent_of(draft.amount, draft.percent) + 2 * fixed

    # -- API shape ------------------------------------------------------------

    def to_api_dict(self, d: Draft) -> dict:
        """The transaction as the shop report API v3 shows it (timestamps as UTC datetimes)."""
        rng = self.rng
        assert d.person is not None, "a drawn transaction has a person"
        first, last, country, email, ip = d.person
        is_card = d.card is not None
        customer_initiated = d.parent is None and d.type in ("payment", "authorization", "tokenization")
        message, bank_code = self.message(d)
        refs = rng.getrandbits(128)  # ref_id, auth_code and rrn from one draw
        tds = self.tdsecure(d) if is_card and customer_initiated else _NULL_TDS
        sign = MONEY_SIGN.get(d.type, 0) if d.status == "successful" else 0
        net = sign * d.amount - d.fee if sign else 0
        rate = round(d.fee * 100 / d.amount, 4) if d.type in PERCENT_FEE_TYPES and d.fee and d.amount else 0.0
        txn: dict[str, Any] = {
            "billing_address": self.billing(first, last, country, is_card and customer_initiated),
            "customer": {"ip": ip if customer_initiated else None, "email": email},
            "payment": {
                "gateway_id": d.gateway["id"],
                "ref_id": f"{refs % 10**12:012d}" if d.status == "successful" else None,
                "message": message,
                "status": d.status,
                "gateway_name": d.gateway["name"],
                "auth_code": f"{refs // 10**12 % 10**6:06d}" if d.status == "successful" and is_card else None,
                "bank_code": bank_code,
                "rrn": f"{refs // 10**18 % 10**12:012d}" if d.status == "successful" and is_card else None,
                "billing_descriptor": d.shop["name"].upper()[:22] if sign else None,
            },
            "credit_card": self.card(d, first, last) if is_card else _NULL_CARD,
        }
        if not is_card:
            txn["alternative"] = {"method": d.gateway["method"], "account_country": country}
        txn.update(
            {
                "shop": self.shop_ref(d.shop["id"]),
                "gateway_note": d.note,
                "uid": d.uid,
                "id": d.id,
                "payment_method_type": "credit_card" if is_card else "alternative",
                "status": d.status,
                "message": message,
                "amount": d.amount,
                "discount_rate": float(d.percent) if sign else 0.0,
                "transaction_rate": rate,
                "pay_to_merchant": float(net),
                "transaction_fee": float(d.fee),
                "test": False,
                "currency": d.gateway["currency"],
                "description": f"Order {d.order_id}",
                "tracking_id": f"trk_{d.order_id}_{d.seq}" if d.seq % 3 else None,
                "type": d.type,
                "order_id": d.order_id,
                "created_at": to_datetime(d.created),
                "paid_at": to_datetime(d.paid),
                "settled_at": to_datetime(d.settled),
                "manually_corrected_at": to_datetime(d.corrected),
                "parent_uid": d.parent.uid if d.parent is not None else None,
                "additional_data": self.additional_data(d, country, tds),
                "three_d_secure_verification": (
                    {k: tds[k] for k in _TDS_VERIFICATION_KEYS} if tds is not _NULL_TDS else _NULL_TDS_VERIFICATION
                ),
            }
        )
        return txn

    def message(self, d: Draft) -> tuple[str | None, str | None]:
        if d.status == "successful":
            return f"Successfully processed {d.type}", "00"
        options = cat.DECLINES[d.status]
        return options[d.seq % len(options)]

    def billing(self, first: str, last: str, country: str, filled: bool) -> dict:
        if not filled or self.rng.random() < 0.4:
            return _NULL_BILLING
        city, zip_code, phone = cat.CITIES[country]
        rng = self.rng
        return {
            "first_name": first,
            "last_name": last,
            "address": f"{rng.randint(1, 180)} {rng.choice(cat.STREETS)}",
            "country": country,
            "city": city,
            "zip": zip_code,
            "state": None,
            "phone": f"{phone}{rng.randrange(10**6, 10**7)}",
            "birth_date": f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        }

    def card(self, d: Draft, first: str, last: str) -> dict:
        rng = self.rng
        assert d.card is not None, "card() is asked for card transactions only"
        bin_, issuer, issuer_country, product = d.card
        bits = rng.getrandbits(32)  # last 4 digits and expiry from one draw
        return {
            "holder": f"{first} {last}".upper(),
            "token": rng.uuid4(),
            "brand": d.brand,
            "last_4": f"{bits % 10_000:04d}",
            "first_1": bin_[0],
            "bin": bin_,
            "issuer_country": issuer_country,
            "issuer_name": issuer,
            "exp_month": 1 + (bits >> 14) % 12,
            "exp_year": 2026 + (bits >> 20) % 6,
            "product": product,
        }

    def additional_data(self, d: Draft, country: str, tds: dict) -> dict:
        rng = self.rng
        three_ds = tds["status"] is not None
        browser = self.browser(d.seq % len(cat.BROWSERS), country)
        wallet = three_ds and d.seq % 5 == 0
        return {
            "request_id": rng.uuid4(),
            "browser": browser,
            "vendor": {"name": "CTP", "token": f"{rng.getrandbits(256):064x}"} if wallet else _NULL_VENDOR,
            "tdsecure": tds,
            "avs_cvc": _AVS_CVC[three_ds],
        }

    def shop_ref(self, shop_id: int) -> dict:
        """The (shared, read-only) ``{"id": ...}`` object of a shop."""
        return self._shop_refs.setdefault(shop_id, {"id": shop_id})

    def browser(self, profile: int, country: str) -> dict:
        """The (shared, read-only) browser object of a profile used from a country."""
        key = (profile, country)
        if key not in self._browsers:
            language, tz_minutes, tz_name = cat.LOCALES.get(country, cat.LOCALES["EE"])
            self._browsers[key] = {
                **cat.BROWSERS[profile],
                "language": language,
                "time_zone": tz_minutes,
                "time_zone_name": tz_name,
            }
        return self._browsers[key]

    def tdsecure(self, d: Draft) -> dict:
        rng = self.rng
        ok = d.status == "successful"
        blob = base64.b64encode(rng.randbytes(282)).decode("ascii")  # pa_req, xid and cavv from one draw
        return {
            "status": d.status,
            "message": "Authentication Successful" if ok else "Authentication Available",
            "ve_status": "Y",
            "acs_url": f"https://acs.example.com:8443/pareq/{d.seq}/{rng.uuid4()}/",
            "pa_req": blob[:320],
            "md": str(40_000 + d.seq),
            "pa_res_url": f"https://gw.example.com/process/{d.uid}",
            "eci": ("05" if d.brand != "master" else "02") if ok else None,
            "pa_status": "Y" if ok else None,
            "xid": blob[320:348] if ok else None,
            "cavv": blob[348:376] if ok else None,
            "cavv_algorithm": "2" if ok else None,
            "fail_reason": None if ok or d.status != "failed" else "Authentication rejected",
            "method_process_url": None,
        }
