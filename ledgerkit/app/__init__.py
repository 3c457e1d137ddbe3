"""The demo and report corner: notebook helpers, the report run, its summary, the command line.

Not needed to use ledgerkit as a library; ``make demo`` and ``ledgerkit report`` live here.
"""
