"""One module per provider API: build requests, paginate, retry, hand pages to :mod:`ledgerkit._ingest`.

- :mod:`.transactions` -- beGateway shop report v3 (cursor pagination)
- :mod:`.statements` -- MakeCommerce account statements (page / Link / X-Total-Count)
- :mod:`.balance_records` -- beGateway DWH async report (request, poll, zip)
- :mod:`.windows` -- time windows pulled at the same time
- :mod:`._pull` -- the connection and the loop every pull runs through

Each source turns a validated, frozen request (``TransactionsRequest``,
``StatementsRequest``, ``BalanceRecordsRequest``) into pages and a frame. The
sources know nothing of the store or the front door: :mod:`ledgerkit.client`
(``lk.Client`` and ``lk.load_*``) and :mod:`ledgerkit.store` build on them.
"""
