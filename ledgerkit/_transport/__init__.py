"""Transport: how requests reach a provider and come back (private).

- :mod:`.http` -- sessions, timeouts, bounded retries, error mapping, redaction
- :mod:`.ratelimit` -- one limiter shared by a pull's workers (429 back-off)
- :mod:`.pagination` -- one small state machine per pagination style
- :mod:`.progress` -- the pull's progress bar
"""
