"""A target for the --watch-pid tests: serves HTTP on loopback and, with `leak`, keeps
about 2 MB more every 0.2 s (bounded: at most 150 chunks, and the process ends by
itself after 90 s). Prints its port on the first line of stdout.

    python tests/leaky_target.py leak|flat
"""
from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 2_000_000
EVERY_S = 0.2
MAX_CHUNKS = 150
LIFETIME_S = 90.0

kept: list[bytes] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def leak() -> None:
    while len(kept) < MAX_CHUNKS:
        kept.append(bytes([len(kept) % 251 + 1]) * CHUNK)  # filled: every page is resident
        time.sleep(EVERY_S)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if sys.argv[1:] == ["leak"]:
        threading.Thread(target=leak, daemon=True).start()
    threading.Timer(LIFETIME_S, server.shutdown).start()
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
