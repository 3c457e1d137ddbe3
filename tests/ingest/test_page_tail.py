"""The cursor read from a page's raw tail is the parsed one, or nothing (ledgerkit._ingest.page_tail)."""

from __future__ import annotations

import json

import orjson
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerkit._ingest.page_tail import edge_texts, tail_cursor, tail_members
from ledgerkit.sandbox import Sandbox

ROWS = [{"id": 7, "amount": 100, "has_more": False, "last_object_id": 1}, {"id": 9, "note": 'x", "has_more": true}'}]


def parsed_cursor(body: bytes, key: str = "last_object_id") -> tuple[int, bool] | None:
    """What the tail must say when it says anything: the parsed integer cursor and boolean has_more."""
    page = json.loads(body)
    cursor, more = page.get(key), page.get("has_more")
    if isinstance(cursor, bool) or not isinstance(cursor, int) or not isinstance(more, bool):
        return None
    return cursor, more


@pytest.mark.parametrize(
    "text",
    [
        '{"transactions": [], "count": 2, "has_more": true, "first_object_id": 7, "last_object_id": 9}',
        '{"transactions":[],"has_more":false,"last_object_id":9,"count":2}',
        '{\n  "transactions": [],\n  "has_more" : true ,\n\t"last_object_id"\t:\r\n 9\n}\n\n',
        '{"last_object_id": 9, "has_more": true}',
        '{"transactions": [], "last_object_id": -9, "has_more": false, "first_object_id": null}',
    ],
)
def test_the_tail_is_the_parsed_cursor(text):
    body = text.encode()
    assert tail_cursor(body, "last_object_id") == parsed_cursor(body) is not None
    assert tail_members(body).items() <= json.loads(body).items()


@pytest.mark.parametrize(
    "text, why",
    [
        ('{"has_more": true, "last_object_id": 9, "transactions": [{"id": 9}]}', "the records come last"),
        ('{"transactions": [], "page": {"has_more": true, "last_object_id": 9}}', "the cursor is nested"),
        ('{"transactions": [], "has_more": 1, "last_object_id": 9}', "has_more is not a boolean"),
        ('{"transactions": [], "has_more": true, "last_object_id": "9"}', "the cursor is text"),
        ('{"transactions": [], "has_more": true, "last_object_id": 9.0}', "the cursor is a float"),
        ('{"transactions": [], "has_more": true, "last_object_id": 09}', "not a JSON number"),
        ('{"transactions": [], "last_object_id": 1, "has_more": true, "last_object_id": 9}', "a key given twice"),
        ('{"transactions": [], "has_more": true, "last\\u005fobject_id": 9}', "an escaped key"),
        ('{"transactions": [], "has_more": true}', "no cursor"),
        ('{"transactions": [], "has_more": true, "last_object_id": 9', "no closing brace"),
        ('[{"has_more": true, "last_object_id": 9}]', "not an object"),
        ("", "empty"),
    ],
)
def test_a_tail_that_is_not_recognisable_says_nothing(text, why):
    assert tail_cursor(text.encode(), "last_object_id") is None, why


def test_backward_pulls_read_first_object_id():
    body = b'{"transactions": [], "has_more": true, "first_object_id": 3, "last_object_id": 9}'
    assert tail_cursor(body, "first_object_id") == (3, True)


def test_sandbox_pages_are_read_from_their_tail():
    with Sandbox(seed=1, size=300, page_size=40) as sb:
        cursor, bodies = None, []
        auth = (sb.credentials["transactions"].user, sb.credentials["transactions"].secret)
        while True:
            params = {
                "date_type": "created_at",
                "from": "2025-01-01 00:00:00",
                "to": "2025-12-31 23:59:59",
                "status": "all",
                "payment_method_type": "credit_card",
                "time_zone": "UTC",
            }
            if cursor is not None:
                params["starting_after"] = cursor
            r = requests.post(
                sb.transactions_url + "/api/reports",
                json={"report_params": params},
                auth=auth,
                headers={"X-Api-Version": "3"},
                timeout=10,
            )
            bodies.append(r.content)
            page = orjson.loads(r.content)
            if not page["has_more"]:
                break
            cursor = page["last_object_id"]
    assert len(bodies) > 2
    assert [tail_cursor(b, "last_object_id") for b in bodies] == [parsed_cursor(b) for b in bodies]


# ------------------------------------------------------------------ property

_SCALARS = st.one_of(
    st.booleans(),
    st.none(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)
_KEYS = st.sampled_from(["has_more", "last_object_id", "first_object_id", "count", "transactions", "x", 'has"more'])


@st.composite
def envelopes(draw) -> bytes:
    """A JSON object in any key order and spacing, with cursor-like members of any type anywhere."""
    members = draw(st.lists(st.tuples(_KEYS | st.text(max_size=5), _VALUES), max_size=7))
    indent = draw(st.sampled_from([None, 0, 1, 4, "\t"]))
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")]))
    text = (
        "{" + separators[0].join(json.dumps(k) + separators[1] + json.dumps(v, indent=indent) for k, v in members) + "}"
    )
    if indent is not None:
        text = json.dumps(dict(members), indent=indent, separators=separators) if draw(st.booleans()) else text
    return (text + draw(st.sampled_from(["", "\n", " \r\n\t"]))).encode()


@settings(max_examples=400, deadline=None)
@given(envelopes(), st.sampled_from(["last_object_id", "first_object_id"]))
def test_the_tail_never_contradicts_the_parser(body, key):
    found = tail_cursor(body, key)
    page = json.loads(body)  # a key given twice: the last one counts, as for orjson (Arrow refuses such a page)
    members = tail_members(body)
    if members is not None:
        assert all(page[k] == v and type(page[k]) is type(v) for k, v in members.items())
    if found is not None:
        assert found == parsed_cursor(body, key)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_KEYS, _VALUES), max_size=4),
    st.booleans(),
    st.integers(0, 10**18),
    st.dictionaries(st.sampled_from(["count", "first_object_id", "y"]), st.integers() | st.booleans() | st.none()),
    st.sampled_from([None, 2]),
    st.randoms(),
)
def test_an_envelope_ending_in_its_cursor_is_read(before, more, cursor, after, indent, random):
    """Whatever precedes them, plain trailing members holding the cursor are always recognised."""
    tail = [("has_more", more), ("last_object_id", cursor), *after.items()]
    random.shuffle(tail)
    head = [(k, v) for k, v in before if k not in dict(tail)]
    text = json.dumps(dict(head + tail), indent=indent)
    assert tail_cursor(text.encode(), "last_object_id") == (cursor, more)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"t": [{"created_at": "A"}, {"id": 2}, {"created_at" :\n "B"}]}', ("A", "B")),
        ('{"t": [{"created_at": "A"}]}', ("A", "A")),
        ('{"t": [{"created_at": null}, {"created_at": 5}]}', None),  # not text
        ('{"t": [{"created_at": "a\\"b"}]}', None),  # escaped text is left to the parser
        ('{"t": [{"updated_at": "A"}]}', None),
        ('{"t": []}', None),
    ],
)
def test_edge_texts_are_the_first_and_last_text_values_of_the_key(text, expected):
    assert edge_texts(text.encode(), "created_at") == expected


def test_edge_texts_look_only_near_the_ends():
    middle = b'{"created_at": "M"}'
    body = b'{"t": [{"created_at": "A"}, ' + b" " * 100 + middle + b" " * 100 + b'{"created_at": "Z"}]}'
    assert edge_texts(body, "created_at", limit=60) == ("A", "Z")
    assert edge_texts(b"[" + b" " * 100 + middle + b" " * 100 + b"]", "created_at", limit=60) is None
