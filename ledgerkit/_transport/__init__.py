"""Transport: how requests reach a provider and come back (private).

- :mod:`.http` -- timeouts, retries (faults by count, 429s by a time budget), error mapping
- :mod:`.sessions` -- sessions that never print a credential (ours, a caller's, file links)
- :mod:`.ratelimit` -- the window of requests in flight shared by a pull's workers (AIMD on 429)
- :mod:`.pagination` -- one small state machine per pagination style
- :mod:`.progress` -- the pull's progress bar
"""
