"""A loopback HTTPS server for model rollouts: serves files by path, answers `Range` requests
(so a download resumes), and can stop once in the middle of a body, as a flaky uplink does."""

from __future__ import annotations

import hashlib
import http.server
import io
import ssl
import threading
import zipfile
from importlib.resources import files
from pathlib import Path

from scantalk.commands.broker import free_port
from testbench.hub import make_certificates

MODELS = Path(str(files("scantalk") / "models"))
INT8 = MODELS / "produce-int8"
"""A model other than the default (another `model.onnx`) to roll out."""


def restamped(folder: Path) -> Path:
    """The default fp32 model in `folder` under another `doc_string`: the same weights, so the
    same answers on every CPU (int8 kernels differ between CPUs), but another file and SHA-256,
    as a new export of the same model would be."""
    import onnx  # a dev dependency, as are the tests

    model = onnx.load(MODELS / "produce" / "model.onnx")
    model.doc_string = "ScanTalk produce, exported again"
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    for name in ("labels.txt", "catalog.csv"):
        (folder / name).write_bytes((MODELS / "produce" / name).read_bytes())
    return folder


def zipped(folder: Path, labels_extra: str = "") -> bytes:
    """A model folder as Custom Vision exports it: a zip of `model.onnx`, `labels.txt` (with
    `labels_extra` lines added) and the catalog."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.write(folder / "model.onnx", "model.onnx")
        archive.writestr("labels.txt", (folder / "labels.txt").read_text() + labels_extra)
        archive.write(folder / "catalog.csv", "catalog.csv")
    return out.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ModelServer:
    def __init__(self, folder: Path) -> None:
        self.files: dict[str, bytes] = {}
        self.cut_once_at: int | None = None
        """Stop the next full download after this many bytes (the connection drops)."""
        self.requests: list[str] = []
        certs = make_certificates(folder / "model-certs")
        self.ca = certs / "ca.pem"
        self.port = free_port()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = server.files.get(self.path)
                server.requests.append(f"{self.path} {self.headers.get('Range', '')}")
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if (ranged := self.headers.get("Range", "")).startswith("bytes="):
                    start = int(ranged[6:].split("-")[0])
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut, server.cut_once_at = server.cut_once_at, None
                end = len(body) if cut is None or start else min(cut, len(body))
                self.wfile.write(body[start:end])
                if end < len(body):
                    self.close_connection = True

            def log_message(self, *_: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs / "server.pem", certs / "server.key")
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"https://localhost:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
