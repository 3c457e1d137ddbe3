"""Pure analysis of ledgerkit frames: DataFrame in, DataFrame of numbers out.

No I/O, no printing, no formatting. Money stays in ``Int64`` minor units with
a ``currency`` column and two currencies are never added together. A frame
with an ``account`` column (``load_*(accounts=...)``) is analysed per account
as it is per currency: the result gets an ``account`` column first and two
accounts' chains, payouts, fee groups or transaction ids never meet
(:mod:`~ledgerkit.analysis._accounts`).
"""

from .balance import check_balances, roll_forward
from .fees import effective_rate_change, fee_anomalies, fee_breakdown, fee_model
from .payouts import payout_groups, payout_items, payout_waterfall
from .reconcile import reconcile_transactions, reconciliation_summary

__all__: list[str] = []
__all__ += ["fee_breakdown", "fee_model", "fee_anomalies", "effective_rate_change"]
__all__ += ["roll_forward", "check_balances", "payout_groups", "payout_items", "payout_waterfall"]
__all__ += ["reconcile_transactions", "reconciliation_summary"]
