"""Humans in the loop: feedback joined to predictions, and the review queue that turns uncertain
predictions into human decisions (``inprod review …``, ``/api/review``)."""

from __future__ import annotations

from .feedback import record_feedback as record_feedback
from .queue import REASONS as REASONS
from .queue import ReviewerStats as ReviewerStats
from .queue import ReviewStats as ReviewStats
from .queue import ReviewTask as ReviewTask
from .queue import add_task as add_task
from .queue import decide as decide
from .queue import get_task as get_task
from .queue import list_tasks as list_tasks
from .queue import next_task as next_task
from .queue import release as release
from .queue import stats as stats

__all__ = [
    "REASONS",
    "ReviewStats",
    "ReviewTask",
    "ReviewerStats",
    "add_task",
    "decide",
    "get_task",
    "list_tasks",
    "next_task",
    "record_feedback",
    "release",
    "stats",
]
