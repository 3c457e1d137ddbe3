"""``contains`` answers as ``needle in body`` does, with the C library's memmem and without it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerkit._ingest import bytesearch
from ledgerkit._ingest.bytesearch import contains

ALPHABET = st.sampled_from([b"a", b"b", b'"', b"\\", b"u", b"\x00", b":", b"\xff"])
TEXT = st.lists(ALPHABET, max_size=60).map(b"".join)


@pytest.fixture(params=["memmem", "in"])
def way(request, monkeypatch):
    if request.param == "in":
        monkeypatch.setattr(bytesearch, "_MEMMEM", None)
    elif bytesearch._MEMMEM is None:
        pytest.skip("no memmem in this C library")
    return request.param


def test_this_linux_searches_with_memmem():
    assert bytesearch._MEMMEM is not None  # glibc has it: the GIL-free search is the one measured


@settings(max_examples=300, deadline=None)
@given(body=TEXT, needle=TEXT)
def test_contains_is_in(body, needle):
    for way in (bytesearch._libc_memmem(), None):
        saved, bytesearch._MEMMEM = bytesearch._MEMMEM, way
        try:
            assert contains(body, needle) is (needle in body)
            assert contains(body + needle + body, needle)
        finally:
            bytesearch._MEMMEM = saved


def test_a_needle_at_either_end_of_a_large_body_past_nul_bytes(way):
    body = b"\x00" * 3_000_000
    assert contains(b'"a"' + body, b'"a"') and contains(body + b'"a"', b'"a"')
    assert not contains(body, b'"a"') and not contains(b"", b"x") and contains(b"x", b"")
