"""A real HTTP server on 127.0.0.1 for the download tests: Range requests, dropped connections,
servers that ignore Range, slow answers."""

from __future__ import annotations

import http.server
import re
import threading


class Server:
    """Serves `files` (path -> bytes) with Range support; records every request as
    (method, path, Range header); `drop_after[path] = n` cuts the next answer after n body bytes;
    paths in `ignore_range` are answered 200 whatever the Range; `delay` seconds per 64 KiB."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.drop_after: dict[str, int] = {}
        self.ignore_range: set[str] = set()
        self.delay = 0.0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(("GET", self.path, self.headers.get("Range")))
                body = owner.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and self.path not in owner.ignore_range:
                    start = int(match[1])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                data = body[start:]
                drop = owner.drop_after.pop(self.path, None)
                if drop is not None:
                    data = data[:drop]
                for i in range(0, len(data), 1 << 16):
                    self.wfile.write(data[i:i + (1 << 16)])
                    if owner.delay:
                        threading.Event().wait(owner.delay)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def gets(self, path: str) -> list[str | None]:
        """The Range header of every GET of `path` so far."""
        return [r for method, p, r in self.requests if method == "GET" and p == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
