"""Pure analysis of ledgerkit frames: DataFrame in, DataFrame of numbers out.

No I/O, no printing, no formatting. Money stays in ``Int64`` minor units with
a ``currency`` column and two currencies are never added together.
"""

from .fees import effective_rate_change, fee_anomalies, fee_breakdown, fee_model

__all__: list[str] = []
__all__ += ["fee_breakdown", "fee_model", "fee_anomalies", "effective_rate_change"]
