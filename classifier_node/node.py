"""The classifier node: frames in, predictions out, and a scan plus a speech request per item."""

from __future__ import annotations

import time
import uuid

from classifier_node.decision import ScanDecider
from classifier_node.model import Model
from scantalk.catalog import Catalog
from scantalk.contract import FrameInfo, Guess, Prediction, SayRequest, Scan
from scantalk.runtime import Delivery, Message, Node
from scantalk.settings import Settings


class Classifier:
    def __init__(self, node: Node, settings: Settings) -> None:
        self.node, self.settings = node, settings
        self.model = Model(settings.model_dir)
        self.catalog = Catalog.load(settings.model_dir / "catalog.csv")
        self.decider = ScanDecider(settings.threshold, settings.stable_frames)
        node.log.info(
            "model %s: %d labels, threshold %.2f over %d frames",
            self.model.name,
            len(self.model.labels),
            settings.threshold,
            settings.stable_frames,
        )
        # Only the newest frame matters: a slow inference drops older frames, never queues them.
        node.subscribe(node.topics.frame, self.on_frame, delivery=Delivery.LATEST)

    def on_frame(self, message: Message) -> None:
        started = time.perf_counter()
        info = FrameInfo.from_properties(message.properties)
        top = self.model.predict(Model.decode(message.payload))
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.node.count("frames")
        station = self.settings.station
        self.node.publish(
            self.node.topics.prediction,
            Prediction(station, info.frame_id, self.model.name, round(elapsed_ms, 2), top),
        )
        best = top[0] if self.catalog.get(top[0].label).announce else None
        if scanned := self.decider.observe(best):
            self.announce(scanned, top[1:], info.frame_id)

    def announce(self, guess: Guess, alternatives: list[Guess], frame_id: str) -> None:
        product = self.catalog.get(guess.label)
        station, language = self.settings.station, self.settings.language
        scan = Scan(
            scan_id=str(uuid.uuid4()),
            station=station,
            label=guess.label,
            display_name=product.name(language),
            plu=product.plu,
            confidence=guess.confidence,
            model=self.model.name,
            frame_id=frame_id,
            alternatives=alternatives,
        )
        self.node.publish(self.node.topics.scan, scan, qos=1)
        self.node.publish(
            self.node.topics.say,
            SayRequest(station, scan.display_name, language, scan_id=scan.scan_id),
            qos=1,
        )
        self.node.count("scans")
        self.node.log.info("scan %s: %s (%.2f)", scan.scan_id, scan.label, scan.confidence)


def main(settings: Settings) -> None:
    node = Node("classifier", settings)
    Classifier(node, settings)
    node.run()
