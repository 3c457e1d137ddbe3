"""Pure analysis of ledgerkit frames: DataFrame in, DataFrame of numbers out.

No I/O, no printing, no formatting. Money stays in ``Int64`` minor units with
a ``currency`` column and two currencies are never added together.
"""

__all__: list[str] = []
