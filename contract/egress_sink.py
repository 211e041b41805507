"""The contract run's egress guard: a loopback HTTP proxy that forwards nothing.

contract/run.sh starts the server that schemathesis fuzzes with HTTP_PROXY / HTTPS_PROXY /
ALL_PROXY pointing here, so whatever webhook deliveries that run produces -- to the fixture's
endpoint (an https URL on a public address, which the server's address rules accept) or to
any URL schemathesis manages to register -- end on this machine's loopback: every request
(a `CONNECT host:port` for https) is written to the log, one line each, and refused with 403.
No connection is ever made onward.

Usage: egress_sink.py PORT_FILE LOG_FILE   (writes the port it listens on to PORT_FILE)
Standard library only.
"""

from __future__ import annotations

import os
import socketserver
import sys
import threading
import time

_lock = threading.Lock()


class _Handler(socketserver.StreamRequestHandler):
    timeout = 10

    def handle(self) -> None:
        try:
            line = self.rfile.readline(8192).decode("latin-1").strip()
            while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                pass
        except OSError:
            return
        with _lock, open(self.server.log_path, "a", encoding="utf-8") as fd:  # type: ignore[attr-defined]
            fd.write(f"{time.time():.3f} {line}\n")
        try:
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except OSError:
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> None:
    port_file, log_path = sys.argv[1], sys.argv[2]
    open(log_path, "a").close()
    with _Server(("127.0.0.1", 0), _Handler) as server:
        server.log_path = log_path  # type: ignore[attr-defined]
        with open(port_file + ".tmp", "w") as fd:
            fd.write(str(server.server_address[1]))
        os.replace(port_file + ".tmp", port_file)
        server.serve_forever()


if __name__ == "__main__":
    main()
