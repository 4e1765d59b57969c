"""The small HTTP pieces the tests' stand-in gateways share: serve a handler on loopback,
forward one request upstream, answer with what came back."""
from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """The handler on 127.0.0.1 at a free port, in a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def forward(url: str, method: str, headers: dict[str, str], body: Optional[bytes]) -> tuple[int, bytes, str]:
    """(status, body, content type) of one request, an error status included."""
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read(), answer.headers.get("content-type", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers.get("content-type", "")


def reply(handler: BaseHTTPRequestHandler, status: int, data: bytes, kind: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
