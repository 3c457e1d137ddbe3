"""The fixed cast of the sandbox world: merchants, shops, gateways, fees, cards, people.

Nothing here is random; :mod:`ledgerkit.sandbox.world` draws from these
tables with a seeded generator. Keeping the tables apart from the drawing
makes it easy to see (and change) who the world contains.

Personal data is fictitious but shaped like the real thing so that tests can
recognise it when a loader fails to drop it: e-mails end in ``@example.*``,
IP addresses come from the documentation ranges (RFC 5737).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

MERCHANTS: list[dict] = [
    {"id": 21, "name": "Nordlicht Outdoor GmbH"},
    {"id": 22, "name": "Sakura Gulf Trading"},
]

# Each shop lists the gateways it routes through (the first EUR card gateway
# is the cheap one; see MIX_CHANGE).
SHOPS: list[dict] = [
    {"id": 2101, "merchant_id": 21, "name": "Nordlicht Web Store", "gateways": [301, 302, 303, 306, 308]},
    {"id": 2102, "merchant_id": 21, "name": "Nordlicht Mobile App", "gateways": [301, 302, 303]},
    {"id": 2201, "merchant_id": 22, "name": "Sakura Tokyo", "gateways": [304, 303]},
    {"id": 2202, "merchant_id": 22, "name": "Sakura Kuwait", "gateways": [305, 307]},
]
SHOP_WEIGHTS = [45, 20, 20, 15]

GATEWAYS: list[dict] = [
    {"id": 301, "name": "EU Cards Standard", "currency": "EUR", "method": "credit_card"},
    {"id": 302, "name": "EU Cards Premium", "currency": "EUR", "method": "credit_card"},
    {"id": 303, "name": "US Cards", "currency": "USD", "method": "credit_card"},
    {"id": 304, "name": "JP Cards", "currency": "JPY", "method": "credit_card"},
    {"id": 305, "name": "KW Cards", "currency": "KWD", "method": "credit_card"},
    {"id": 306, "name": "iDEAL", "currency": "EUR", "method": "ideal"},
    {"id": 307, "name": "KNET", "currency": "KWD", "method": "knet"},
    {"id": 308, "name": "Bancontact", "currency": "EUR", "method": "bancontact"},
]

#: Country of the payer's account for each alternative method.
ALTERNATIVE_COUNTRY = {"ideal": "NL", "knet": "KW", "bancontact": "BE"}

#: From this day on, MIX_CHANGE["share"] of the EUR card payments that would
#: have gone to the cheap gateway go to the dearer one.
MIX_CHANGE: dict[str, Any] = {"from": "2025-03-01", "from_gateway": 301, "to_gateway": 302, "share": Decimal("0.45")}

#: (brand, weight) per card gateway.
BRANDS: dict[int, list[tuple[str, int]]] = {
    301: [("visa", 55), ("master", 35), ("amex", 5), ("maestro", 5)],
    302: [("visa", 55), ("master", 35), ("amex", 5), ("maestro", 5)],
    303: [("visa", 50), ("master", 30), ("amex", 15), ("discover", 5)],
    304: [("jcb", 40), ("visa", 35), ("master", 20), ("amex", 5)],
    305: [("visa", 60), ("master", 40)],
}


def _p(text: str) -> Decimal:
    return Decimal(text)


#: (gateway_id, brand) -> (percent, fixed fee in minor units); brand None for
#: alternative methods.
FEE_SCHEDULE: dict[tuple[int, str | None], tuple[Decimal, int]] = {
    (301, "visa"): (_p("1.40"), 25),
    (301, "master"): (_p("1.50"), 25),
    (301, "amex"): (_p("2.90"), 25),
    (301, "maestro"): (_p("1.20"), 25),
    (302, "visa"): (_p("2.10"), 30),
    (302, "master"): (_p("2.20"), 30),
    (302, "amex"): (_p("3.40"), 30),
    (302, "maestro"): (_p("1.90"), 30),
    (303, "visa"): (_p("2.90"), 30),
    (303, "master"): (_p("2.90"), 30),
    (303, "amex"): (_p("3.50"), 30),
    (303, "discover"): (_p("3.10"), 30),
    (304, "jcb"): (_p("3.25"), 30),
    (304, "visa"): (_p("3.60"), 30),
    (304, "master"): (_p("3.60"), 30),
    (304, "amex"): (_p("3.95"), 30),
    (305, "visa"): (_p("2.50"), 75),
    (305, "master"): (_p("2.60"), 75),
    (306, None): (_p("0.00"), 29),
    (307, None): (_p("1.00"), 50),
    (308, None): (_p("1.20"), 25),
}

#: Typical ticket per currency: (median in minor units, rounding step in minor units).
TICKETS = {"EUR": (4500, 1), "USD": (5200, 1), "JPY": (4800, 10), "KWD": (15000, 5)}

#: Opening balance floor per currency at world.start (minor units), so that
#: refunds and payouts cannot push an account negative by accident.
OPENING_FLOOR = {"EUR": 250_000, "USD": 250_000, "JPY": 3_000_000, "KWD": 800_000}

#: brand -> [(bin, issuer_name, issuer_country, product)]
CARD_ISSUERS: dict[str, list[tuple[str, str, str, str]]] = {
    "visa": [
        ("420000", "INVESTBANK", "IT", "VISA"),
        ("414720", "SWEDBANK AS", "EE", "VISA CLASSIC"),
        ("453201", "DEUTSCHE BANK AG", "DE", "VISA GOLD"),
        ("476173", "JPMORGAN CHASE BANK N.A.", "US", "VISA SIGNATURE"),
        ("402360", "ING BANK N.V.", "NL", "VISA DEBIT"),
        ("455701", "MUFG BANK LTD", "JP", "VISA CLASSIC"),
        ("498765", "NATIONAL BANK OF KUWAIT", "KW", "VISA PLATINUM"),
    ],
    "master": [
        ("510510", "AS SEB BANKA", "LV", "MASTERCARD STANDARD"),
        ("542418", "BANK OF AMERICA N.A.", "US", "WORLD ELITE"),
        ("555555", "ABN AMRO BANK N.V.", "NL", "DEBIT MASTERCARD"),
        ("222300", "SMBC CARD CO LTD", "JP", "MASTERCARD GOLD"),
        ("526402", "GULF BANK K.S.C.P.", "KW", "WORLD"),
    ],
    "amex": [
        ("371449", "AMERICAN EXPRESS", "US", "AMEX GREEN"),
        ("378282", "AMERICAN EXPRESS", "DE", "AMEX GOLD"),
        ("374245", "AMERICAN EXPRESS", "JP", "AMEX PLATINUM"),
    ],
    "jcb": [("353011", "JCB CO LTD", "JP", "JCB STANDARD"), ("356600", "JCB CO LTD", "JP", "JCB GOLD")],
    "maestro": [("676770", "COMMERZBANK AG", "DE", "MAESTRO"), ("675964", "KBC BANK NV", "BE", "MAESTRO")],
    "discover": [("601111", "DISCOVER BANK", "US", "DISCOVER")],
}

FIRST_NAMES = [
    "Anna",
    "Mart",
    "Liis",
    "Jonas",
    "Sofie",
    "Lukas",
    "Emma",
    "Noah",
    "Yuki",
    "Haruto",
    "Sakura",
    "Ren",
    "Fatima",
    "Ahmad",
    "Layla",
    "Omar",
    "Olivia",
    "James",
    "Mia",
    "Lars",
]
LAST_NAMES = [
    "Tamm",
    "Saar",
    "Kask",
    "Berzins",
    "Jansen",
    "Peeters",
    "Schmidt",
    "Muller",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Al-Sabah",
    "Al-Mutairi",
    "Haddad",
    "Smith",
    "Johnson",
    "Brown",
    "Virtanen",
]
EMAIL_DOMAINS = ["example.com", "example.org", "example.net"]
#: RFC 5737 documentation ranges: realistic, recognisable, routable nowhere.
IP_PREFIXES = ["192.0.2.", "198.51.100.", "203.0.113."]
CITIES = {
    "EE": ("Tallinn", "10115", "+372 5"),
    "DE": ("Berlin", "10115", "+49 151 "),
    "NL": ("Amsterdam", "1012 AB", "+31 6 "),
    "US": ("Austin", "73301", "+1 512 "),
    "JP": ("Tokyo", "100-0001", "+81 90 "),
    "KW": ("Kuwait City", "13001", "+965 5"),
    "BE": ("Brussels", "1000", "+32 470 "),
    "IT": ("Milan", "20121", "+39 320 "),
    "LV": ("Riga", "LV-1050", "+371 2"),
}
STREETS = ["Main Street", "Harbour Road", "Station Square", "Market Lane", "Park Avenue"]

BROWSERS: list[dict] = [
    {
        "screen_width": 1440,
        "screen_height": 900,
        "screen_color_depth": 24,
        "java_enabled": False,
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "window_height": 666,
        "window_width": 600,
        "accept_header": "application/json",
    },
    {
        "screen_width": 1920,
        "screen_height": 1080,
        "screen_color_depth": 24,
        "java_enabled": False,
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "window_height": 937,
        "window_width": 1920,
        "accept_header": "text/html,application/xhtml+xml",
    },
    {
        "screen_width": 390,
        "screen_height": 844,
        "screen_color_depth": 32,
        "java_enabled": False,
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        "window_height": 664,
        "window_width": 390,
        "accept_header": "text/html",
    },
]
#: country -> (browser language, minutes offset as the seed writes it, zone name)
LOCALES = {
    "EE": ("et", -120, "Europe/Tallinn"),
    "DE": ("de", -60, "Europe/Berlin"),
    "NL": ("nl", -60, "Europe/Amsterdam"),
    "US": ("en", 360, "America/Chicago"),
    "JP": ("ja", -540, "Asia/Tokyo"),
    "KW": ("ar", -180, "Asia/Kuwait"),
    "BE": ("fr", -60, "Europe/Brussels"),
    "IT": ("it", -60, "Europe/Rome"),
    "LV": ("lv", -120, "Europe/Riga"),
}

#: Decline messages by status: (message, bank_code)
DECLINES: dict[str, list[tuple[str | None, str | None]]] = {
    "failed": [
        ("Declined: insufficient funds", "51"),
        ("Declined: do not honor", "05"),
        ("3-D Secure authentication failed", "N7"),
        ("Declined: expired card", "54"),
    ],
    "error": [("Acquirer timeout", "91")],
    "pending": [("Waiting for the payer's confirmation", None)],
    "incomplete": [(None, None)],
}

# ---- MakeCommerce ---------------------------------------------------------

#: channel -> (percent, fixed fee in EUR); the seed shows 10.00 -> 0.30 + 0.25.
MC_CHANNELS: dict[str, tuple[Decimal, Decimal]] = {
    "EE_SWED_OB": (_p("2.50"), _p("0.30")),
    "LV_SWED_OB": (_p("2.50"), _p("0.30")),
    "LT_SEB_OB": (_p("1.90"), _p("0.25")),
    "EE_LHV_OB": (_p("1.50"), _p("0.20")),
    "CARD_VISA": (_p("2.90"), _p("0.25")),
    "CARD_MC": (_p("2.90"), _p("0.25")),
}
MC_CHANNEL_WEIGHTS = [30, 15, 12, 8, 20, 15]
MC_VAT = _p("0.22")
MC_CHARGEBACK_FEE = _p("5.00")
#: Foreign currencies a card payment may come in: (currency, units per EUR).
MC_FOREIGN = [("USD", _p("1.0412")), ("GBP", _p("0.8321")), ("SEK", _p("11.2050"))]
#: Estonian public holidays inside the period: no payout on these days.
MC_HOLIDAYS = {date(2025, 1, 1), date(2025, 2, 24)}
