"""Questions to the shopper: at most one open, answered once, closed by time or by the item.

The node asks when the decision returns an `Ask`; an answer is taken only for the open question,
before its deadline, and only with a label it offered. Anything else is refused with a reason
(`rejected_<reason>` in the node's stats), and never becomes a scan.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from classifier_node.decision import Ask
from scantalk.contract import Answer, Question
from scantalk.runtime import Refused

CLOSED, UNKNOWN, NOT_OFFERED = "closed", "unknown", "not_offered"
"""Why an answer is refused: its question was closed (answered, expired, its item gone), was
never asked here (or too long ago to remember), or the label was not one it offered."""
REMEMBERED = 64
"""Closed questions remembered, to tell a late answer from a made-up one."""


@dataclass(frozen=True)
class Asked:
    question: Question
    ask: Ask
    frame_id: str
    deadline: float
    """`time.monotonic()` after which an answer is refused."""


class Questions:
    """Thread-safe: frames open and close questions, answers and the clock close them."""

    def __init__(self) -> None:
        self._open: Asked | None = None
        self._closed: deque[str] = deque(maxlen=REMEMBERED)
        self._lock = threading.Lock()

    def open(self, asked: Asked) -> Asked | None:
        """Ask `asked`; returns the question it replaces, if one was open."""
        with self._lock:
            replaced = self._close()
            self._open = asked
            return replaced

    def close(self) -> Asked | None:
        """Close the open question, if any (its item was taken away, or another placed)."""
        with self._lock:
            return self._close()

    def expired(self, now: float) -> Asked | None:
        """Close and return the open question if its deadline has passed."""
        with self._lock:
            if self._open is not None and now > self._open.deadline:
                return self._close()
            return None

    def take(self, answer: Answer, now: float) -> Asked:
        """Close the question `answer` answers and return it, or refuse the answer."""
        with self._lock:
            asked = self._open
            if asked is None or asked.question.question_id != answer.question_id:
                why = CLOSED if answer.question_id in self._closed else UNKNOWN
                raise Refused(f"answer to a {why} question {answer.question_id[:80]!r}", why)
            if now > asked.deadline:
                self._close()
                raise Refused(f"answer after question {answer.question_id!r} expired", CLOSED)
            offered = [c.label for c in asked.question.candidates]
            if answer.choice is not None and answer.choice not in offered:
                raise Refused(
                    f"answer {answer.choice[:80]!r} was not offered ({', '.join(offered)})",
                    NOT_OFFERED,
                )
            self._close()
            return asked

    def _close(self) -> Asked | None:
        asked, self._open = self._open, None
        if asked is not None:
            self._closed.append(asked.question.question_id)
        return asked
