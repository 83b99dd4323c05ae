"""moto's server as AWS answers: with one ``Server`` header.

Werkzeug's request handler sends a ``Server`` header of its own before the one moto's responses
carry. A strict HTTP parser (aiohttp's, in the asyncio debug mode the suite runs in) refuses the
pair, which AWS never sends; so this starts moto's server with the handler's header left out.

    python -m tests.moto_server -H 127.0.0.1 -p 0
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler

from moto.server import main
from werkzeug.serving import WSGIRequestHandler


def _send_response(self: BaseHTTPRequestHandler, code: int, message: str | None = None) -> None:
    # BaseHTTPRequestHandler.send_response without its Server header.
    self.log_request(code)
    self.send_response_only(code, message)
    self.send_header("Date", self.date_time_string())


if __name__ == "__main__":
    WSGIRequestHandler.send_response = _send_response  # type: ignore[method-assign]
    main(sys.argv[1:])
