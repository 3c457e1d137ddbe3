"""``--dialect`` of ``python -m ledgerkit.sandbox`` (and so of ``ledgerkit sandbox``)."""

from __future__ import annotations

import io
from contextlib import redirect_stderr

from ledgerkit.sandbox import Sandbox
from ledgerkit.sandbox.__main__ import build_parser, main, print_banner
from ledgerkit.sandbox.dialects import DIALECTS


def test_dialect_is_a_flag_defaulting_to_begateway():
    assert build_parser().parse_args([]).dialect == "begateway"
    assert build_parser().parse_args(["--dialect", "bepaid"]).dialect == "bepaid"
    assert build_parser().parse_args([]).per_page_default is None  # the dialect's default page size


def test_an_unknown_dialect_exits_2_naming_the_known_ones():
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(["--port", "0", "--size", "20", "--dialect", "stripe"]) == 2
    message = err.getvalue()
    assert "dialect='stripe'" in message and ", ".join(DIALECTS) in message


def test_the_banner_names_a_dialect_other_than_the_default():
    out = io.StringIO()
    print_banner(Sandbox(size=20, dialect="makecommerce-recorded"), out)
    assert "  dialect          makecommerce-recorded\n" in out.getvalue()
    out = io.StringIO()
    print_banner(Sandbox(size=20), out)
    assert "dialect" not in out.getvalue()


def test_the_dialects_page_size_applies_unless_one_is_given():
    assert Sandbox(size=20, dialect="makecommerce-recorded").per_page_default == 30
    assert Sandbox(size=20, dialect="makecommerce-recorded", per_page_default=7).per_page_default == 7
    assert Sandbox(size=20).per_page_default == 50
