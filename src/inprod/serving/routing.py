"""The router of one request: which version answers it, and what the client is told.

Canary split: a request with an ``X-Request-Key`` goes to the canary when a keyed 64-bit hash
of the key falls below the canary's share, so a key stays on one version within a step (and,
because the cut only grows as the ramp goes on, a key on the canary stays there). Requests
without a key are split at random.

Degrees of automation decide what the client receives (the model's own answer is always what
is logged): ``full`` the answer; ``assist`` the answer as a ``suggestion``; ``partial`` the
answer when its confidence reaches the threshold, else ``{"decision": "needs_review",
"review_id": ...}`` and a review task; ``shadow`` and ``human`` always the latter (``human``
without calling the model). ``audit_rate`` opens a review task for a share of model decisions.
"""

from __future__ import annotations

import random
from datetime import datetime
from hashlib import blake2b
from typing import TYPE_CHECKING, Any

from .records import open_review

if TYPE_CHECKING:
    from .runtime import ModelHost, ServedEndpoint
    from .tap import PredictionLog

NEEDS_REVIEW = "needs_review"


def goes_to_canary(served: ServedEndpoint, request_key: str | None) -> bool:
    """Whether this request is the canary's (``served.canary_cut`` > 0 means a canary runs)."""
    if request_key is None:
        return random.random() < served.canary_weight
    digest = blake2b(request_key.encode(), digest_size=8, key=served.salt).digest()
    return int.from_bytes(digest, "big") < served.canary_cut


def client_rows(
    tap: PredictionLog,
    served: ServedEndpoint,
    host: ModelHost,
    instances: list[Any],
    rows: list[dict] | None,
    ids: list[str],
    when: datetime,
) -> list[dict]:
    """What the client receives per instance under the endpoint's automation; opens the review
    tasks that answer implies. ``rows`` is None when the model was not called (``human``)."""
    automation = served.automation
    mode = automation.mode
    if mode == "full" and not automation.audit_rate:
        return rows  # type: ignore[return-value]  (full mode always calls the model)
    out: list[dict] = []
    for i, instance in enumerate(instances):
        row = None if rows is None else rows[i]
        reason = None
        if mode in ("human", "shadow"):
            reason = mode
        elif mode == "partial":
            confidence = None if row is None else row.get("confidence")
            if confidence is None or confidence < automation.threshold:
                reason = "low_confidence"
        if reason is not None:
            review_id = open_review(
                tap, served, host, prediction_id=ids[i], reason=reason, instance=instance,
                row=row, when=when,
            )  # fmt: skip
            out.append({"decision": NEEDS_REVIEW, "review_id": review_id})
            continue
        assert row is not None
        if automation.audit_rate and random.random() < automation.audit_rate:
            open_review(
                tap, served, host, prediction_id=ids[i], reason="audit", instance=instance,
                row=row, when=when,
            )  # fmt: skip
        if mode == "assist":
            row = {("suggestion" if k == "output" else k): v for k, v in row.items()}
        out.append(row)
    return out
