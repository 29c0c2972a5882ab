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

from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from scantalk.contract import ContractError, Guess, now_rfc3339
from scantalk.settings import SettingError

Classify = Callable[[bytes], list[Guess]]
TAG_NAMESPACE = uuid.UUID("9d5b1c3e-2a7f-4e0b-8c61-5f3a2d4e6b70")
MAX_IMAGE_BYTES = 8 * 1024 * 1024


class ImageApi:
    def __init__(self, classify: Classify, model_name: str, host: str, port: int) -> None:
        self.classify, self.model_name = classify, model_name
        # Bind here: werkzeug itself would exit the process on a busy port without naming it.
        try:
            listener = socket.create_server((host, port))
        except OSError as exc:
            raise SettingError(
                "SCANTALK_HTTP_PORT", port, f"a free port on {host} ({exc})"
            ) from exc
        app = Request.application(self.respond)
        self.server = make_server(host, port, app, threaded=True, fd=listener.detach())

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
        if "imageData" in request.files:
            return request.files["imageData"].read()
        if request.mimetype.startswith("multipart/"):
            raise BadRequest("form has no imageData field")
        return request.get_data()

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
        thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)
        thread.start()
        stop.wait()
        self.server.shutdown()
        thread.join()
