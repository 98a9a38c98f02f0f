"""One label per example from many labelers: a majority vote, or a vote weighted by how reliable
each labeler is.

Weighted: each labeler's accuracy ``p`` is estimated from the labels themselves with the
"one-coin" Dawid-Skene model (a labeler is right with probability ``p`` and otherwise picks one
of the other K-1 classes at random), by expectation-maximisation started from the majority vote.
Under that model the most probable class is a vote with weight ``log((K-1) p / (1-p))`` per
labeler, so an expert outvotes two careless labelers while three careful ones still outvote the
expert. A labeler no better than chance (``p <= 1/K``) gets weight 0: ignored, not inverted.
Known reliabilities (say, from a gold set) can be given instead as weights.

Ties (equal votes, or equal weight): the example keeps its current label when that is one of
the tied classes; otherwise the tied class given most often in the whole dataset wins; then the
first in text order. ``Tally.tied`` marks every example decided this way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InvalidInput
from ..store import Store, get_store
from ._annotations import fit_column, load_version, load_votes
from .agreement import Votes, label_keys
from .derive import add_derived
from .versions import DatasetVersionInfo

if TYPE_CHECKING:
    from .taxonomy import Taxonomy

METHODS = ("majority", "weighted")
TIE_RULE = "ties keep the current label, else the most common class, else text order"
MAX_ITERATIONS = 100
TOLERANCE = 1e-6
_P_LIMITS = (1e-3, 1.0 - 1e-3)  # an estimated accuracy of exactly 0 or 1 gives infinite weight


@dataclass(frozen=True)
class ConsensusResult:
    """The new version and what the vote did. ``reliability`` is each labeler's estimated
    accuracy (weighted method) and ``weights`` the vote weight it got."""

    version: DatasetVersionInfo
    method: str
    label_column: str
    examples: int  # examples with at least one label
    changed: int  # examples whose label the vote changed
    ties: int  # examples decided by the tie rule
    unmatched: int
    reliability: dict[str, float]
    weights: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["version"] = self.version.ref
        return out


def consensus(
    dataset: str,
    *,
    method: str = "majority",
    label_column: str | None = None,
    labeler_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    weights: Mapping[str, float] | None = None,
    taxonomy: Taxonomy | None = None,
    store: Store | None = None,
) -> ConsensusResult:
    """Store the next version of ``dataset`` with ``label_column`` (default: its first label
    column, else a new "label" column) set to the labelers' consensus. When the vote changes no
    label, no version is made and the result names ``dataset``'s version.

    ``method``: "majority" (one vote each) or "weighted" (by reliability estimated from the
    labels, or by ``weights`` given per labeler). Examples nobody labelled keep their label.
    See :mod:`inprod.data.consensus` for the tie rule.
    """
    if method not in METHODS:
        raise InvalidInput(f"method {method!r} is not one of {', '.join(METHODS)}", field="method")
    if weights is not None and method != "weighted":
        raise InvalidInput("weights are for method='weighted'", field="weights")
    store = get_store(store)
    info, frame = load_version(dataset, store)
    column = label_column or (info.label_columns[0] if info.label_columns else "label")
    votes, unmatched = load_votes(store, info, frame, labeler_columns, id_column, taxonomy)
    accuracy: dict[str, float] = {}
    w = None
    if method == "weighted":
        w = _given_weights(weights, votes) if weights is not None else None
        if w is None:
            p = reliability(votes)
            accuracy = dict(zip(votes.labelers, p.tolist(), strict=True))
            w = weights_for(p, len(votes.classes))
    old = frame[column] if column in frame.columns else pd.Series([None] * len(frame))
    codes = pd.Series(range(len(votes.classes)), index=label_keys(pd.Series(votes.classes)))
    keys = label_keys(old).where(old.notna())
    current = keys.map(codes).fillna(-1).to_numpy(dtype=np.int64)
    tally = vote(votes, weights=w, current=current)
    voted = tally.winner >= 0
    changed = int((voted & (tally.winner != current)).sum())
    ties = int(tally.tied.sum())
    weights_used = {} if w is None else dict(zip(votes.labelers, map(float, w), strict=True))
    if not changed:  # the version already holds the consensus: no copy of it
        return ConsensusResult(info, method, column, int(voted.sum()), 0, ties, unmatched,
                               accuracy, weights_used)  # fmt: skip
    values = [votes.classes[c] if c >= 0 else v for c, v in zip(tally.winner, old, strict=True)]
    frame[column] = fit_column(values, old if column in frame.columns else None, column)
    source = _describe_source(labeler_columns)
    transform = (
        f"consensus ({method}) of {len(votes.example)} labels by {len(votes.labelers)} labelers "
        f"from {source} into {column!r}: {changed} changed, {ties} ties "
        f"({TIE_RULE})"
    )
    labels_cols = (
        info.label_columns if column in info.label_columns else [*info.label_columns, column]
    )
    version = add_derived(info.name, frame, parents=[info.ref], transform=transform,
                          label_columns=labels_cols, store=store)  # fmt: skip
    return ConsensusResult(version, method, column, int(voted.sum()), changed, ties, unmatched,
                           accuracy, weights_used)  # fmt: skip


@dataclass(frozen=True)
class Tally:
    """Per example (dataset row): the winning class code (-1 where nobody labelled it), its
    share of the (weighted) votes, whether the tie rule chose it, and how many labels it had."""

    winner: np.ndarray
    share: np.ndarray
    tied: np.ndarray
    labels: np.ndarray


def vote(
    votes: Votes, *, weights: np.ndarray | None = None, current: np.ndarray | None = None
) -> Tally:
    """The (weighted) vote of every example. ``weights``: one per labeler (default 1);
    ``current``: each example's present class code (-1 for none), preferred in a tie."""
    n, k = len(votes.example_ids), max(len(votes.classes), 1)
    w = np.ones(len(votes.labelers)) if weights is None else np.asarray(weights, dtype=float)
    keys, inverse = np.unique(votes.example * k + votes.label, return_inverse=True)
    score = np.round(np.bincount(inverse, weights=w[votes.labeler]), 9)  # equal up to rounding
    item, klass = keys // k, keys % k
    keeps = np.zeros(len(keys), dtype=bool) if current is None else current[item] == klass
    popular = np.bincount(votes.label, minlength=k)[klass]
    order = np.lexsort((klass, -popular, ~keeps, -score, item))
    item_sorted = item[order]
    firsts = np.flatnonzero(np.r_[True, item_sorted[1:] != item_sorted[:-1]])
    first = order[firsts]
    following = np.minimum(firsts + 1, len(order) - 1)
    runner_up = order[following]
    tied = (
        (item[runner_up] == item[first])
        & (score[runner_up] == score[first])
        & (firsts + 1 < len(order))
    )
    total = np.bincount(item, weights=score, minlength=n)
    winner = np.full(n, -1, dtype=np.int64)
    share = np.full(n, np.nan)
    tied_all = np.zeros(n, dtype=bool)
    winner[item[first]] = klass[first]
    with np.errstate(invalid="ignore", divide="ignore"):
        share[item[first]] = score[first] / total[item[first]]
    tied_all[item[first]] = tied
    return Tally(winner, share, tied_all, np.bincount(votes.example, minlength=n))


def reliability(votes: Votes) -> np.ndarray:
    """Each labeler's estimated accuracy (one-coin Dawid-Skene, EM from the majority vote)."""
    k, labelers = len(votes.classes), len(votes.labelers)
    if k < 2:
        return np.ones(labelers)
    given = np.bincount(votes.labeler, minlength=labelers).astype(float)
    majority = vote(votes).winner
    p = np.bincount(votes.labeler, weights=majority[votes.example] == votes.label,
                    minlength=labelers) / given  # fmt: skip
    p = np.clip(p, *_P_LIMITS)
    keys, inverse = np.unique(votes.example * k + votes.label, return_inverse=True)
    item = keys // k
    starts = np.flatnonzero(np.r_[True, item[1:] != item[:-1]])
    voted = np.bincount(item, minlength=len(votes.example_ids))
    for _ in range(MAX_ITERATIONS):
        score = np.bincount(inverse, weights=weights_for(p, k)[votes.labeler])
        top = np.maximum(np.maximum.reduceat(score, starts), 0.0)
        top_of = np.repeat(top, np.diff(np.r_[starts, len(item)]))
        e = np.exp(score - top_of)
        # classes nobody gave the example have score 0: weight exp(0 - top) each
        z = np.bincount(item, weights=e, minlength=len(voted))[item] + (k - voted[item]) * np.exp(
            -top_of
        )
        posterior = e / z
        new = np.clip(
            np.bincount(votes.labeler, weights=posterior[inverse], minlength=labelers) / given,
            *_P_LIMITS,
        )
        done = np.max(np.abs(new - p)) < TOLERANCE
        p = new
        if done:
            break
    return p


def weights_for(accuracy: np.ndarray, k: int) -> np.ndarray:
    """The optimal vote weight of a labeler with this accuracy among ``k`` classes (0 at or below
    chance)."""
    p = np.clip(np.asarray(accuracy, dtype=float), *_P_LIMITS)
    return np.maximum(np.log((k - 1) * p / (1.0 - p)), 0.0) if k >= 2 else np.ones_like(p)


def _given_weights(weights: Mapping[str, float], votes: Votes) -> np.ndarray:
    missing = [who for who in votes.labelers if who not in weights]
    if missing:
        raise InvalidInput(
            f"no weight for labeler(s) {', '.join(map(repr, missing))}; give every labeler a "
            "weight, or leave weights out to estimate them",
            field="weights",
        )
    values = np.array([weights[who] for who in votes.labelers], dtype=float)
    if not np.all(np.isfinite(values)) or (values < 0).any():
        raise InvalidInput("weights must be finite numbers of 0 or more", field="weights")
    return values


def _describe_source(labeler_columns: Sequence[str] | None) -> str:
    return f"columns {', '.join(labeler_columns)}" if labeler_columns else "annotations"
