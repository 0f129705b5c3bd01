import http.server
import threading

import pytest


@pytest.fixture
def served_requests():
    """`(path, Authorization header)` of each request the `server` fixture answered, in order."""
    return []


@pytest.fixture
def server(tmp_path, served_requests):
    """An HTTP server on 127.0.0.1 serving `tmp_path/www`, for the duration of one test."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            served_requests.append((self.path, self.headers.get("Authorization")))
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
