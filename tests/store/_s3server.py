"""A real S3-compatible server for the object-store tests: moto's, on 127.0.0.1, one request at a time.

moto checks ``If-Match`` / ``If-None-Match`` and then writes without a lock
of its own; served by one thread, every request is whole before the next
begins, so two conditional writes can never both pass. Run as a script, it
prints its port and serves until killed.
"""

from __future__ import annotations

import sys


def main() -> None:
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Handler(WSGIRequestHandler):
        timeout = 5  # a client stopped mid-request (SIGSTOP) holds the one thread this long at most

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=False, request_handler=Handler)
    sys.stdout.write(f"{server.port}\n")
    sys.stdout.close()  # the port is all the parent reads
    server.serve_forever()


if __name__ == "__main__":
    main()
