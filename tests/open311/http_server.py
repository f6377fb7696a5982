"""A real HTTP server on loopback for media_url tests: routes map a path to a reply."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before the body
    # Send the body in this many pieces, with delay_s between them.
    chunks: int = 1


@dataclass
class MediaServer:
    host: str
    port: int
    routes: dict[str, Reply]
    hits: list[tuple[str, dict[str, str]]]

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def do_GET(self) -> None:
        self.server.hits.append((self.path, dict(self.headers.items())))
        reply = self.server.routes.get(self.path.split("?", 1)[0])
        if reply is None:
            reply = Reply(404, b"not found", {"Content-Type": "text/plain"})
        try:
            self.send_response(reply.status)
            headers = {"Content-Length": str(len(reply.body)), **reply.headers}
            for name, value in headers.items():
                if value:
                    self.send_header(name, value)
            self.end_headers()
            step = max(1, len(reply.body) // reply.chunks) if reply.body else 1
            for i in range(0, len(reply.body), step):
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self.wfile.write(reply.body[i : i + step])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the fetcher gave up on purpose (too large, too slow)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@contextmanager
def media_server(routes: dict[str, Reply] | None = None) -> Iterator[MediaServer]:
    """Serve ``routes`` on 127.0.0.1 (an ephemeral port) for the duration of the block."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.routes = dict(routes or {})  # type: ignore[attr-defined]
    httpd.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield MediaServer("127.0.0.1", httpd.server_address[1], httpd.routes, httpd.hits)  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
