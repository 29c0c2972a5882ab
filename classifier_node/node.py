"""The classifier node: frames in, predictions out, and a scan plus a speech request per item;
a question to the shopper when it is not sure, and a scan of the item the shopper chose.
Where a produce scale is online, its weight says whether something lies there, and goes on
the scans of items sold by weight."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import queue
import sqlite3
import threading
import time
import uuid
from typing import Any

from classifier_node import learning
from classifier_node.decision import NEW_ITEM, UNSURE_PROMPT, Ask, ScanDecider, Thresholds
from classifier_node.http_api import ImageApi
from classifier_node.journal import Journal
from classifier_node.model import Model
from classifier_node.questions import Asked, Questions
from classifier_node.rollout import (
    ACTIVE,
    active_version,
    fetch,
    file_sha256,
    folder_of,
    smoke_check,
    unpack,
)
from classifier_node.settings import ClassifierSettings
from classifier_node.weighing import REWEIGH_KG, ScaleView
from scantalk.contract import (
    ONLINE,
    Answer,
    Candidate,
    ClassifierConfig,
    ContractError,
    DecidedBy,
    Earcon,
    FrameCause,
    FrameInfo,
    Guess,
    InventoryAck,
    ModelInfo,
    ModelRollout,
    NodeName,
    Prediction,
    Question,
    SayKind,
    SayRequest,
    Scan,
    TaughtChange,
    Unit,
    Weight,
    now_rfc3339,
)
from scantalk.counters import ClassifierCounter
from scantalk.durable import write_whole
from scantalk.latency import Window
from scantalk.phrases import announcement, question, render, weight
from scantalk.runtime import Delivery, Message, Node, Refused
from scantalk.settings import SettingError

TUNABLE = tuple(f.name for f in dataclasses.fields(Thresholds))
"""What `…/classifier/config` may change at run time in the decision."""
LANE_SETTINGS = ("answer_timeout", "weighed_min_kg", "weigh_wait")
"""…and in the question/answer and the scale's use, read from the settings at each use."""
AGAIN_WITHIN_S = 10.0
"""A scan of the item scanned just before, within this, is announced "…, again": bananas put
down one by one a second or two apart are each heard as one more."""


@dataclasses.dataclass(frozen=True)
class Unweighed:
    """An item sold by weight, recognised while the scale still moves: announced with its
    weight once the scale settles, or without it at `deadline`."""

    guess: Guess
    alternatives: list[Guess]
    frame_id: str
    question_id: str | None
    deadline: float


class Classifier:
    def __init__(self, node: Node, settings: ClassifierSettings) -> None:
        self.node, self.settings = node, settings
        self.version = active_version(settings.models_dir)
        """The rolled-out model in force (`<data dir>/models/active`), or None: the deployed one."""
        self.model = Model.of_lane(
            settings, folder_of(settings.models_dir, self.version) if self.version else None
        )
        self.rollout_failed: tuple[str, str] | None = None
        """The last rollout that failed: its version and why."""
        self.decider = ScanDecider(settings.thresholds)
        self._deciding = threading.RLock()
        """Frames, answers and weights feed the decision and its scans, on three threads."""
        self.scale = ScaleView()
        self.last_named: tuple[str, float] = ("", -AGAIN_WITHIN_S)
        """The label of the last scan, and when (monotonic): "Banana, again" within
        `AGAIN_WITHIN_S`, so a shopper counting by ear hears every scan as one more."""
        self.unweighed: Unweighed | None = None
        self.weighed_scan: Scan | None = None
        """This placement's scan of an item sold by weight: a new weight revises it."""
        self.questions = Questions()
        self.journal = Journal(settings.journal_path, settings.journal_max)
        node.measure(ClassifierCounter.JOURNAL_PENDING, self.journal.pending)
        self.language = settings.language
        """Of announcements: a setting, changeable live on `…/classifier/config`."""
        self.load_config()
        self.inference = Window(60)
        node.measure(ClassifierCounter.INFERENCE_MS, self.inference.median)
        node.log.info(
            "model %s (%s, %d labels, %d taught%s): %s; %s",
            self.model.name, self.model.kind, len(self.model.labels),
            len(self.model.prototypes.labels), "" if self.model.can_learn else ", cannot learn",
            self.model.preprocessing.describe(), self.decider.thresholds,
        )  # fmt: skip
        log = node.log.info if self.model.sees_empty_counter else node.log.warning
        log("an empty counter is seen %s", self.model.empty_counter)
        # Only the newest frame matters: a slow inference drops older frames, never queues them.
        node.subscribe(node.topics.frame, self.on_frame, delivery=Delivery.LATEST)
        node.subscribe(node.topics.classifier_config, self.on_config)
        node.subscribe(node.topics.taught, self.on_taught)
        node.subscribe(node.topics.answer, self.on_answer)
        node.subscribe(node.topics.weight, self.on_weight)
        node.subscribe(node.topics.status(NodeName.SCALE), self.on_scale_status)
        node.subscribe(node.topics.inventory_ack, self.on_ack)
        self.rollouts: queue.Queue[ModelRollout] = queue.Queue(maxsize=10)
        node.subscribe(node.topics.rollout, self.on_rollout)
        node.add_worker(self.roll_out)
        node.add_worker(self.expire_questions)
        node.add_worker(self.publish_overdue)
        node.on_online(self.publish_config)
        self.model_sha256 = file_sha256(self.model.folder.onnx)
        self.model_loaded_at = now_rfc3339()
        # A teach run with the classifier's login on the edge broker takes its connection for
        # a moment (one connection per user): its news may have come while we were away.
        node.on_online(self.model.reload_taught)
        node.on_online(self.publish_model)  # after: its count of taught items is current
        node.on_online(lambda: self.publish_again(everything=True))
        if settings.http_port:
            api = ImageApi(
                self.classify_bytes, self.model.name, settings.http_host, settings.http_port
            )
            node.add_worker(api.serve)
            node.log.info(
                "/image API on http://%s:%d/image", settings.http_host, settings.http_port
            )

    def classify_bytes(self, data: bytes) -> list[Guess]:
        """For the /image API: every label, best first, as Custom Vision answers."""
        probabilities = self.model.classify(self.model.decode(data))
        return self.model.ranked(probabilities, top=len(self.model.labels))

    def on_frame(self, message: Message) -> None:
        started = time.perf_counter()
        info = FrameInfo.from_properties(message.properties)
        reading = self.model.read(self.model.decode(message.payload))
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.inference.add(elapsed_ms)
        self.node.count(ClassifierCounter.FRAMES)
        with self._deciding:
            was_placing = self.decider.placing
            verdict = self.decider.observe(reading, moving=info.cause is FrameCause.CHANGE)
            self.follow(was_placing)
            if verdict is NEW_ITEM:
                self.cancel_question("another item was placed")
            elif isinstance(verdict, Ask):
                self.ask(verdict, info.frame_id)
            elif verdict is UNSURE_PROMPT:
                self.say(render("unsure", self.language), kind=SayKind.PROMPT)
                self.node.count(ClassifierCounter.UNSURE)
            elif verdict:
                self.cancel_question("the lane is sure now, or another item was placed")
                alternatives = [g for g in reading.candidates if g.label != verdict.label]
                self.announce(verdict, alternatives, info.frame_id)
            settled = self.decider.settled
        # After the decision, so the camera learns from it whether to send more of this scene.
        self.node.publish(
            self.node.topics.prediction,
            Prediction(
                self.settings.station, info.frame_id, self.model.name, round(elapsed_ms, 2),
                reading.top, presence=reading.presence, settled=settled,
            ),
        )  # fmt: skip

    def follow(self, was_placing: bool) -> None:
        """A placement began (the shopper hears it seen before its name is known) or ended."""
        placing = self.decider.placing
        if placing and not was_placing:
            self.say(Earcon.DETECTED, kind=SayKind.EARCON)
        elif was_placing and not placing:
            self.cancel_question("its item was taken away")
            self.weigh_now(None)  # a recognised item is a scan, weighed or not
            self.weighed_scan = None

    def on_scale_status(self, message: Message) -> None:
        with self._deciding:
            self.scale = dataclasses.replace(self.scale, online=message.payload == ONLINE)
            self.weighed()

    def on_weight(self, message: Message) -> None:
        if not message.payload:
            return  # the retained weight was cleared
        weight = Weight.from_json(message.payload)
        Refused.check_station(weight.station, message.topic, "weight")
        with self._deciding:
            self.scale = dataclasses.replace(self.scale, weight=weight)
            self.weighed()

    def weighed(self) -> None:
        """The scale changed: it may start or end a placement, weigh the item waiting for its
        weight, or weigh the placement's item anew."""
        was_placing = self.decider.placing
        self.decider.weighed = self.scale.present(self.settings.weighed_min_kg)
        self.follow(was_placing)
        kg = self.scale.stable_kg(self.settings.weighed_min_kg)
        if kg is None:
            return
        if self.unweighed:
            self.weigh_now(kg)
        elif self.weighed_scan and abs(kg - (self.weighed_scan.weight_kg or 0)) >= REWEIGH_KG:
            self.reweigh(self.weighed_scan, kg)

    def ask(self, ask: Ask, frame_id: str) -> None:
        """Ask the shopper among the candidates, each with its key, in the lane's language."""
        catalog, language = self.model.folder.catalog, self.language
        offered = ask.candidates
        while True:  # three long names may not fit one request: ask among fewer
            names = [catalog.get(g.label).name(language) for g in offered]
            text = question(names, language)
            if len(text) <= SayRequest.MAX_TEXT or len(offered) == 1:
                break
            offered = offered[:-1]
        asked = Asked(
            Question(
                question_id=str(uuid.uuid4()),
                station=self.settings.station,
                candidates=[
                    Candidate(g.label, name, catalog.get(g.label).plu, key)
                    for key, (g, name) in enumerate(zip(offered, names, strict=True), 1)
                ],
                expires_at=now_rfc3339(self.settings.answer_timeout),
            ),
            dataclasses.replace(ask, candidates=offered),
            frame_id,
            time.monotonic() + self.settings.answer_timeout,
        )
        if self.questions.open(asked):
            self.node.count(ClassifierCounter.QUESTIONS_CANCELLED)
        self.node.publish(self.node.topics.question, asked.question)
        self.say(text[: SayRequest.MAX_TEXT], kind=SayKind.QUESTION)
        self.node.count(ClassifierCounter.QUESTIONS)
        self.node.log.info(
            "question %s: %s", asked.question.question_id, ", ".join(g.label for g in offered)
        )

    def cancel_question(self, why: str) -> None:
        if cancelled := self.questions.close():
            self.node.count(ClassifierCounter.QUESTIONS_CANCELLED)
            self.node.log.info("question %s closed: %s", cancelled.question.question_id, why)

    def expire_questions(self, stop: threading.Event) -> None:
        """Without an answer in time, point the shopper to the checkout's lookup: nothing is
        recorded. An item still waiting for its weight is announced without it."""
        while not stop.wait(0.2):
            with self._deciding:
                if self.unweighed and time.monotonic() >= self.unweighed.deadline:
                    self.node.count(ClassifierCounter.SCANS_UNWEIGHED)
                    self.weigh_now(None)
            if expired := self.questions.expired(time.monotonic()):
                self.node.count(ClassifierCounter.QUESTIONS_UNANSWERED)
                self.node.log.info("question %s: no answer", expired.question.question_id)
                self.say(render("lookup", self.language), kind=SayKind.PROMPT)

    def on_answer(self, message: Message) -> None:
        """The shopper's answer: the chosen item becomes a scan, confirmed out loud, and the
        lane learns from it; "none of these" points to the lookup. Refused with a reason
        (counted in `rejected_<reason>`) when it answers no open question of this lane, or
        chooses what was not offered."""
        answer = Answer.from_json(message.payload)
        Refused.check_station(answer.station, message.topic, "answer")
        asked = self.questions.take(answer, time.monotonic())
        self.node.count(ClassifierCounter.ANSWERS)
        if answer.choice is None:
            self.node.count(ClassifierCounter.ANSWERS_NONE)
            self.say(render("lookup", self.language), kind=SayKind.PROMPT)
            return
        ranked = asked.ask.candidates
        chosen = next(g for g in ranked if g.label == answer.choice)
        others = [g for g in ranked if g is not chosen]
        with self._deciding:
            self.decider.chosen(answer.choice)
            self.announce(chosen, others, asked.frame_id, asked.question.question_id)
        if self.settings.learn_from_answers and self.model.can_learn:
            before = set(self.model.prototypes.labels)
            learning.learn(self.model, answer.choice, asked.ask, asked.question.question_id)
            if answer.choice in set(self.model.prototypes.labels) - before:
                self.node.count(ClassifierCounter.LEARNED)
                self.node.log.info("learned %s from shoppers' answers", answer.choice)

    def on_taught(self, message: Message) -> None:
        """`scantalk teach`/`forget` changed the lane's items: read them again."""
        change = TaughtChange.from_json(message.payload)
        Refused.check_station(change.station, message.topic, "taught")
        self.model.reload_taught()
        self.node.count(ClassifierCounter.TAUGHT_RELOADS)
        self.publish_model()
        self.node.log.info(
            "%s %s; taught items now: %s",
            change.action, change.label, ", ".join(self.model.prototypes.labels) or "none",
        )  # fmt: skip

    def announce(
        self,
        guess: Guess,
        alternatives: list[Guess],
        frame_id: str,
        question_id: str | None = None,
    ) -> None:
        """One scan, and its name out loud; `question_id`: the shopper chose it answering. An
        item sold by weight waits up to `weigh_wait` for the scale to settle, to be announced
        with its weight."""
        self.weigh_now(None)  # an item still waiting is announced before the next one
        product = self.model.folder.catalog.get(guess.label)
        kg = self.scale.stable_kg(self.settings.weighed_min_kg)
        waits = self.scale.weighs and self.settings.weigh_wait > 0
        if product.unit == Unit.KG and kg is None and waits:
            deadline = time.monotonic() + self.settings.weigh_wait
            self.unweighed = Unweighed(guess, alternatives, frame_id, question_id, deadline)
            return
        self.publish_scan(guess, alternatives, frame_id, question_id, kg)

    def weigh_now(self, kg: float | None) -> None:
        """Announce the item waiting for its weight, with `kg` or (None) without a weight."""
        if waiting := self.unweighed:
            self.unweighed = None
            self.publish_scan(
                waiting.guess, waiting.alternatives, waiting.frame_id, waiting.question_id, kg
            )

    def publish_scan(
        self,
        guess: Guess,
        alternatives: list[Guess],
        frame_id: str,
        question_id: str | None,
        kg: float | None,
    ) -> None:
        product = self.model.folder.catalog.get(guess.label)
        station, language = self.settings.station, self.language
        by_weight = product.unit == Unit.KG
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
            decided_by=DecidedBy.SHOPPER if question_id else DecidedBy.LANE,
            question_id=question_id,
            unit=product.unit,
            weight_kg=kg if by_weight else None,
        )
        scan = self.publish_kept(scan)
        self.weighed_scan = scan if by_weight else None
        self.say(self.words(scan, question_id), scan_id=scan.scan_id)
        self.node.count(ClassifierCounter.SCANS)
        self.node.log.info(
            "scan %s: %s (%.2f, %s%s)", scan.scan_id, scan.label, scan.confidence,
            scan.decided_by, f", {scan.weight_kg} kg" if scan.weight_kg else "",
        )  # fmt: skip

    def words(self, scan: Scan, question_id: str | None) -> str:
        """What a scan is announced as (`scantalk.phrases.announcement`)."""
        now = time.monotonic()
        last_label, last_at = self.last_named
        self.last_named = (scan.label, now)
        return announcement(
            scan.display_name, self.language,
            again=last_label == scan.label and now - last_at < AGAIN_WITHIN_S,
            kg=scan.weight_kg if self.settings.say_weight else None,
            chosen=question_id is not None, coded=scan.plu is not None,
        )  # fmt: skip

    def reweigh(self, scan: Scan, kg: float) -> None:
        """The same item weighs anew: its scan's next revision, and the new weight out loud
        (not the item as a new one)."""
        revised = dataclasses.replace(scan, weight_kg=kg, revision=scan.revision + 1)
        self.weighed_scan = self.publish_kept(revised)
        self.node.count(ClassifierCounter.REVISIONS)
        self.node.log.info("scan %s: revision %d, %s kg", scan.scan_id, revised.revision, kg)
        if self.settings.say_weight:
            text = render("reweighed", self.language, item=scan.display_name,
                          weight=weight(kg, self.language))  # fmt: skip
            self.say(text, scan_id=scan.scan_id)

    def publish_kept(self, scan: Scan) -> Scan:
        """Journal a scan, then publish it: it is kept until the bridge acknowledges it. A
        journal that cannot be written (a full disk) does not silence the scan: it is published
        all the same, with the broker's and the bridge's copies only."""
        try:
            scan, dropped = self.journal.add(scan)
        except sqlite3.Error as exc:
            self.node.count(ClassifierCounter.JOURNAL_FAILURES)
            self.node.log.error("scan %s published unjournalled: %s", scan.scan_id, exc)
            self.node.publish(self.node.topics.scan, scan)
            return scan
        if dropped:
            self.node.count(ClassifierCounter.JOURNAL_DROPPED, dropped)
            self.node.log.error(
                "the journal's bound (%d scans) let the %d oldest unacknowledged go: is the "
                "bridge running?", self.journal.bound, dropped,
            )  # fmt: skip
        self.node.publish(self.node.topics.scan, scan)
        return scan

    def on_ack(self, message: Message) -> None:
        """Any state from the bridge means it holds the scan (or refused it for good)."""
        ack = InventoryAck.from_json(message.payload)
        Refused.check_station(ack.station, message.topic, "ack")
        if self.journal.acknowledged(ack.scan_id, ack.revision):
            self.node.count(ClassifierCounter.ACKNOWLEDGED)

    def publish_again(self, everything: bool = False) -> None:
        """Publish again the scans whose ack is overdue, or all not yet acknowledged (after a
        reconnect: the broker may have lost them)."""
        if not self.node.connected:
            return  # the reconnect publishes them all; piling copies up in memory helps no one
        unacked, unreadable = self.journal.due(everything, limit=REPUBLISH_AT_ONCE)
        for kept in unacked:
            self.node.publish(self.node.topics.scan, kept.scan)
            self.node.count(ClassifierCounter.SCANS_REPUBLISHED)
        if unreadable:
            self.node.count(ClassifierCounter.JOURNAL_FAILURES, unreadable)
            self.node.log.error("let %d unreadable scans go from the journal", unreadable)

    def publish_overdue(self, stop: threading.Event) -> None:
        while not stop.wait(1):
            self.publish_again()

    def say(self, text: str, kind: SayKind = SayKind.ITEM, scan_id: str | None = None) -> None:
        request = SayRequest(self.settings.station, text, self.language, scan_id, kind)
        self.node.publish(self.node.topics.say, request)

    def on_config(self, message: Message) -> None:
        """Change thresholds live; a wrong or unsafe value is refused whole and the old ones
        kept: the state says why, and it counts in `config_rejected` and `rejected`."""
        current = self.decider.thresholds
        try:
            change = ClassifierConfig.from_json(message.payload)
            self.apply(change)
        except (ContractError, SettingError) as exc:
            self.node.count(ClassifierCounter.CONFIG_REJECTED)
            request_id = ClassifierConfig.text_of(message.payload, "request_id") or None
            self.publish_config(error=str(exc), request_id=request_id)
            # Logged and counted in `rejected` and `rejected_config` by the runtime.
            raise Refused(f"config refused, keeping {current}: {exc}", Refused.CONFIG) from exc
        self.save_config(change)
        self.publish_config(request_id=change.request_id)

    def apply(self, change: ClassifierConfig) -> None:
        """A change whole, or none of it (raises, naming what is wrong)."""
        updates = {
            name: live_value(name, getattr(change, name))
            for name in TUNABLE
            if getattr(change, name) is not None
        }
        lane = {
            name: ClassifierSettings.parse_value(name, getattr(change, name))
            for name in LANE_SETTINGS
            if getattr(change, name) is not None
        }
        self.decider.thresholds = dataclasses.replace(self.decider.thresholds, **updates)
        self.settings = dataclasses.replace(self.settings, **lane)
        self.language = change.language or self.language
        self.node.log.info("config now %s, language %s", self.decider.thresholds, self.language)

    def save_config(self, change: ClassifierConfig) -> None:
        """Keep what live changes set over restarts (a change is published live, never
        retained: the broker does not keep it). Only the fields a change set: the others
        follow the settings, which the operator may change in the environment."""
        saved = self.settings.live_config_path
        kept: dict[str, Any] = {}
        if saved.exists():
            with contextlib.suppress(ContractError, OSError):
                kept = ClassifierConfig.from_json(saved.read_bytes()).to_dict()
        for name in (*TUNABLE, "language", *LANE_SETTINGS):
            if getattr(change, name) is not None:
                kept[name] = getattr(change, name)
        kept.update(schema=ClassifierConfig.SCHEMA, request_id=None, error=None)
        write_whole(saved, json.dumps(kept))

    def load_config(self) -> None:
        """The values the last live changes set, over the settings' own: the lane's operator
        set them after the lane was deployed."""
        saved = self.settings.live_config_path
        if not saved.exists():
            return
        try:
            self.apply(ClassifierConfig.from_json(saved.read_bytes()))
        except (ContractError, SettingError) as exc:
            self.node.log.warning("ignoring %s, the saved live config: %s", saved, exc)

    def publish_model(self) -> None:
        """What this lane runs, retained: the bridge reports it to IoT Hub."""
        failed_version, failed_why = self.rollout_failed or (None, None)
        info = ModelInfo(self.settings.station, self.model.name, self.model.kind,
                         self.model_sha256, len(self.model.labels),
                         taught=len(self.model.prototypes.labels),
                         loaded_at=self.model_loaded_at, version=self.version,
                         rollout_version=failed_version, rollout_error=failed_why)  # fmt: skip
        self.node.publish(self.node.topics.model, info)

    def on_rollout(self, message: Message) -> None:
        rollout = ModelRollout.from_json(message.payload)
        Refused.check_station(rollout.station, message.topic, "rollout")
        try:  # a download takes long: the node's handlers must not
            self.rollouts.put_nowait(rollout)
        except queue.Full:
            raise ContractError(f"rollout {rollout.version}: 10 are waiting already") from None

    def roll_out(self, stop: threading.Event) -> None:
        """A worker: the rollouts asked for, in order."""
        while not stop.is_set():
            with contextlib.suppress(queue.Empty):
                self.roll_out_one(self.rollouts.get(timeout=0.5))

    def roll_out_one(self, rollout: ModelRollout) -> None:
        """Fetch, check and load a model beside the running one, then swap between two
        frames; on any failure the running model stays and the model state says why."""
        if rollout.version == self.version:
            return
        settings = self.settings
        try:
            folder = folder_of(settings.models_dir, rollout.version)
            checked = folder / ".sha256"
            if not (checked.exists() and checked.read_text() == rollout.sha256):
                archive = settings.models_dir / f"{rollout.version}.zip"
                fetch(rollout.url, rollout.sha256, archive,
                      settings.model_max_mb * 2**20, settings.model_ca_file)  # fmt: skip
                unpack(archive, folder, settings.model_max_mb * 2**20)
                archive.unlink()
                checked.write_text(rollout.sha256)  # kept: a later rollback needs no download
            model = Model.of_lane(settings, folder)
            smoke_check(model.classify, len(model.labels))
        except Exception as exc:  # whatever fails, the running model stays
            self.rollout_failed = rollout.version, str(exc)[:500]
            self.node.count(ClassifierCounter.ROLLOUTS_FAILED)
            self.node.log.error("model %s not rolled out: %s", rollout.version, exc)
            self.publish_model()
            return
        sha256 = file_sha256(model.folder.onnx)
        with self._deciding:  # between two frames' decisions; a placement goes on
            self.model, self.version, self.rollout_failed = model, rollout.version, None
            self.decider.new_model()
            self.model_sha256, self.model_loaded_at = sha256, now_rfc3339()
        write_whole(settings.models_dir / ACTIVE, rollout.version)
        self.node.count(ClassifierCounter.ROLLOUTS)
        self.node.log.info("model %s in force (%s, sha256 %s)", model.name, model.kind, sha256)
        self.publish_model()

    def publish_config(self, error: str | None = None, request_id: str | None = None) -> None:
        thresholds = self.decider.thresholds
        state = ClassifierConfig(
            **dataclasses.asdict(thresholds),
            language=self.language,
            settle_frames=thresholds.settle_frames,
            error=error,
            request_id=request_id,
            **{name: getattr(self.settings, name) for name in LANE_SETTINGS},
        )
        self.node.publish(self.node.topics.classifier_config_state, state)


REPUBLISH_AT_ONCE = 100
"""Scans published again in one pass: a lane back from a long outage catches up over seconds,
not in one burst."""


def live_value(name: str, value: object) -> Any:
    """A value for a live change of `name`: within the setting's bounds and the contract's
    `LIVE_MINIMUM`."""
    parsed = ClassifierSettings.parse_value(name, value)
    floor = ClassifierConfig.LIVE_MINIMUM.get(name)
    if floor is not None and parsed < floor:
        raise SettingError(
            ClassifierSettings.env_name(name),
            value,
            f"at least {floor} in a live change (less turns a safety off)",
        )
    return parsed


def main(settings: ClassifierSettings) -> None:
    node = Node(NodeName.CLASSIFIER, settings)
    Classifier(node, settings)
    node.run()
