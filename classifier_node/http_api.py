"""A Custom Vision-compatible prediction endpoint: `POST /image`, off unless a port is set.

Camera modules written for an exported Custom Vision container (raw image bytes, or a form
field `imageData`) work against it unchanged. It answers with the same JSON shape, from the
same process and model as the MQTT path.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Callable

from waitress.server import create_server
from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.wrappers import Request, Response

from scantalk.contract import ContractError, Guess, now_rfc3339
from scantalk.settings import SettingError

Classify = Callable[[bytes], list[Guess]]
TAG_NAMESPACE = uuid.UUID("9d5b1c3e-2a7f-4e0b-8c61-5f3a2d4e6b70")
MAX_IMAGE_BYTES = 8 * 1024 * 1024
CONNECTION_LIMIT = 500
"""Open connections at most: waitress holds them in one event loop, not a thread each, so
idle or half-sent uploads cost a few KB each and never a worker."""
READ_TIMEOUT_S = 10
"""A connection that sends nothing for this long is closed (a half-sent upload included)."""
WORKERS = 2
"""Requests classified at once: the lane's device has two cores, and the camera's frames
come first."""


class ImageApi:
    def __init__(self, classify: Classify, model_name: str, host: str, port: int) -> None:
        self.classify, self.model_name = classify, model_name
        # Bind here, so a busy port stops the node with the setting's name.
        try:
            listener = socket.create_server((host, port))
        except OSError as exc:
            raise SettingError(
                "SCANTALK_HTTP_PORT", port, f"a free port on {host} ({exc})"
            ) from exc
        # waitress, a production WSGI server: bounded connections and workers, a read timeout,
        # and plain log lines (werkzeug's development server has none of these).
        self.server = create_server(
            Request.application(self.respond),
            sockets=[listener],
            threads=WORKERS,
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=READ_TIMEOUT_S,
            max_request_body_size=MAX_IMAGE_BYTES,
            ident="scantalk",
        )

    def respond(self, request: Request) -> Response:
        request.max_content_length = MAX_IMAGE_BYTES  # also bounds chunked uploads
        try:
            if request.path.rstrip("/") != "/image":
                raise NotFound("POST an image to /image")
            if request.method != "POST":
                raise BadRequest("POST an image to /image")
            return Response(self.predict(self.image_of(request)), mimetype="application/json")
        except HTTPException as exc:
            return Response(
                json.dumps({"error": exc.description}), status=exc.code, mimetype="application/json"
            )

    @staticmethod
    def image_of(request: Request) -> bytes:
        """A form's `imageData`, or else the raw body whatever its content type says (curl's
        `--data-binary` calls an image a urlencoded form)."""
        if request.mimetype.startswith("multipart/"):
            if "imageData" not in request.files:
                raise BadRequest("form has no imageData field")
            return request.files["imageData"].read()
        return request.get_data(parse_form_data=False)

    def predict(self, image: bytes) -> str:
        try:
            guesses = self.classify(image)
        except ContractError as exc:
            raise BadRequest(str(exc)) from exc
        return json.dumps(
            {
                "id": str(uuid.uuid4()),
                "project": "scantalk",
                "iteration": self.model_name,
                "created": now_rfc3339(),
                "predictions": [
                    {
                        "probability": g.confidence,
                        "tagId": str(uuid.uuid5(TAG_NAMESPACE, g.label)),
                        "tagName": g.label,
                        "boundingBox": None,
                    }
                    for g in guesses
                ],
            }
        )

    def serve(self, stop: threading.Event) -> None:
        """A node worker: serve until the node stops."""
        thread = threading.Thread(target=self.server.run, name="http", daemon=True)
        thread.start()
        stop.wait()
        # No new connections, no new work; the loop thread ends with the process.
        self.server.close()
        self.server.task_dispatcher.shutdown(timeout=5)
