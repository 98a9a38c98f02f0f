"""Train / dev / test splits that are stratified, group-aware and balanced, each stored as a new
dataset version (``NAME-train``, ``NAME-dev``, ``NAME-test``) derived from the one it split.

Why not a random split: a dev set with 3% scratches when the data has 6% measures another
problem, and the same inspector (or the same image) in train and test leaks. So rows are
*stratified* on the joint values of ``by`` (label × factory: every combination lands in every
split in proportion) and *grouped* (all rows of one ``group`` value, and all rows naming one
image or augmented from it, land in one split: a near copy in test of an image in train leaks).

How: groups are placed one at a time, largest first (ties in a seeded random order), each into
the split where it brings the per-stratum counts closest to their targets (``ratio × stratum
size``), by the chi-square distance Σ (count − target)² / ratio. The big groups go first while
there is room; the many small ones then fill each stratum's remaining gap to within one row.
With singleton groups every stratum gets its target count ± 1 in every split, so every class
and slice is within ``1 / split size`` of its overall share: 2 percentage points from about 50
rows a split. Large groups can make that impossible; the report then says how far off each
value is and warns. When only as many groups are left as splits without rows, they go to those:
no split stays empty while a group could fill it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInput, suggest
from ..projects import check_name
from ..store import Store, get_store
from . import datasets
from ._progress import ProgressFn
from .augment import SOURCE_COLUMN
from .derive import add_derived
from .versions import DatasetVersionInfo

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

DEFAULT_RATIOS = (0.7, 0.15, 0.15)
DEFAULT_NAMES = ("train", "dev", "test")
DEFAULT_TOLERANCE = 0.02  # largest gap between a value's share in a split and overall
DEFAULT_MIN_PER_SPLIT = 10  # fewer examples of a class or slice in a split: a warning
RATIO_SUM_SLACK = 1e-6
MAX_BY_VALUES = 100  # more distinct values in a --by column: numbers or ids, not categories

__all__ = [
    "Balance",
    "SplitPart",
    "SplitReport",
    "assign_splits",
    "balance_report",
    "split",
]


@dataclass(frozen=True)
class Balance:
    """One value of one ``by`` column: its overall share and its count and share per split."""

    column: str
    value: str
    overall: float
    counts: dict[str, int]
    shares: dict[str, float]

    @property
    def deviation(self) -> float:
        """The largest gap between a split's share and the overall share (0.03 = 3 points)."""
        return max(abs(s - self.overall) for s in self.shares.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "value": self.value,
            "overall": self.overall,
            "counts": self.counts,
            "shares": self.shares,
            "deviation": self.deviation,
        }


@dataclass(frozen=True)
class SplitPart:
    """One split: its rows, its share of all rows against the ratio asked for, and the stored
    version (None when only planned)."""

    name: str
    rows: int
    share: float
    ratio: float
    dataset: DatasetVersionInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": self.rows,
            "share": self.share,
            "ratio": self.ratio,
            "dataset": self.dataset.ref if self.dataset else None,
            "created": self.dataset.created if self.dataset else None,
        }


@dataclass(frozen=True)
class SplitReport:
    """The splits, the balance of every class and slice across them, and what to worry about."""

    source: str
    by: list[str]
    group: str | None
    seed: int
    groups: int
    parts: list[SplitPart]
    balance: list[Balance]
    tolerance: float = DEFAULT_TOLERANCE
    warnings: list[str] = field(default_factory=list)

    @property
    def max_deviation(self) -> float:
        return max((b.deviation for b in self.balance), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "by": self.by,
            "group": self.group,
            "seed": self.seed,
            "groups": self.groups,
            "tolerance": self.tolerance,
            "max_deviation": self.max_deviation,
            "splits": [p.to_dict() for p in self.parts],
            "balance": [b.to_dict() for b in self.balance],
            "warnings": self.warnings,
        }


def split(
    dataset: str,
    *,
    by: Sequence[str] | None = None,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    group: str | None = None,
    names: Sequence[str] = DEFAULT_NAMES,
    seed: int = 0,
    tolerance: float = DEFAULT_TOLERANCE,
    min_per_split: int = DEFAULT_MIN_PER_SPLIT,
    progress: ProgressFn | None = None,
    store: Store | None = None,
) -> SplitReport:
    """Split ``dataset`` ("phone-images@2") and store each part as the next version of
    ``NAME-<split name>`` (``phone-images-train``, ...), derived from it.

    ``by`` defaults to the dataset's label columns. Rows of an image dataset that name the same
    image, or an image augmented from it (the ``augmented_from`` column), always stay together,
    besides the rows sharing a ``group`` value. Same data, options
    and seed: same splits (and the versions already stored are returned, ``created=False``).
    Raises InvalidInput for an unknown column, bad ratios or names, or a split left empty.
    """
    store = get_store(store)
    info = datasets.get(dataset, store=store)
    frame = datasets.load(info.ref, store=store)
    by = list(info.label_columns if by is None else by)
    links = [c for c in (info.image_column, SOURCE_COLUMN) if c and c in frame.columns]
    assignment = assign_splits(frame, by=by, ratios=ratios, group=group, seed=seed, links=links)
    report = balance_report(
        frame, assignment, by=by, ratios=ratios, names=names, labels=info.label_columns,
        tolerance=tolerance, min_per_split=min_per_split,
    )  # fmt: skip
    for part in report.parts:
        check_name(f"{info.name}-{part.name}", "dataset")
    parts = []
    spec = _describe(by, ratios, names, group, seed)
    for index, part in enumerate(report.parts):
        rows = frame.iloc[np.flatnonzero(assignment == index)].reset_index(drop=True)
        version = add_derived(
            f"{info.name}-{part.name}",
            rows,
            parents=[info.ref],
            transform=f"split: the {part.name} part of {info.ref} ({spec})",
            progress=progress,
            store=store,
        )
        parts.append(SplitPart(part.name, part.rows, part.share, part.ratio, version))
        logger.info("split %s: %s with %d rows", info.ref, version.ref, part.rows)
    groups = len(np.unique(_group_codes(frame, [group] if group else [], links)))
    return replace(report, source=info.ref, group=group, seed=seed, groups=groups, parts=parts)


def _describe(
    by: list[str], ratios: Sequence[float], names: Sequence[str], group: str | None, seed: int
) -> str:
    shares = "/".join(f"{n} {r:g}" for n, r in zip(names, ratios, strict=True))
    grouped = f", grouped by {group}" if group else ""
    return f"stratified by {', '.join(by) or 'nothing'}{grouped}; {shares}; seed {seed}"


def assign_splits(
    frame: pd.DataFrame,
    *,
    by: Sequence[str],
    ratios: Sequence[float] = DEFAULT_RATIOS,
    group: str | None = None,
    seed: int = 0,
    links: Sequence[str] = (),
) -> np.ndarray:
    """Each row's split (an index into ``ratios``), stratified on the joint values of ``by``.

    Rows sharing a value of ``group``, or a value anywhere in the ``links`` columns (image paths:
    the image and the one it was augmented from), get the same split; a missing value joins
    nothing. Deterministic for a given ``seed``. Raises InvalidInput for a missing column or
    ratios that are not positive and summing to 1.
    """
    shares = _check_ratios(ratios)
    keys = [group] if group else []
    for option, names in (("by", by), ("group", keys), ("links", links)):
        for name in names:
            if name not in frame.columns:
                columns = [str(c) for c in frame.columns]
                raise InvalidInput(
                    f"{option} column {name!r} is not in the data; "
                    + suggest(name, columns, what="columns"),
                    field=option,
                )
    for name in by:
        distinct = frame[name].nunique(dropna=False)
        if distinct > MAX_BY_VALUES:
            raise InvalidInput(
                f"by column {name!r} has {distinct:,} distinct values; stratify on categories "
                f"(at most {MAX_BY_VALUES}) such as a label or a factory, or bin numbers into a "
                "column of ranges first",
                field="by",
            )
    if len(frame) < len(shares):
        raise InvalidInput(
            f"{len(frame)} row(s) cannot fill {len(shares)} splits; give more data or fewer ratios",
            field="ratios",
        )
    strata = _strata(frame, by)
    groups = _group_codes(frame, keys, links)
    assignment = _place(groups, strata, shares, np.random.default_rng(seed))
    empty = [i for i in range(len(shares)) if not (assignment == i).any()]
    if empty:
        raise InvalidInput(
            f"split {empty[0] + 1} of {len(shares)} would be empty: the {len(np.unique(groups))} "
            f"group(s) cannot be shared out as {_ratios_text(shares)}; use fewer splits or a "
            "finer group column",
            field="group",
        )
    return assignment


def _check_ratios(ratios: Sequence[float]) -> np.ndarray:
    shares = np.asarray(list(ratios), dtype=np.float64)
    if len(shares) < 2 or not np.all(np.isfinite(shares)) or np.any(shares <= 0):
        raise InvalidInput(
            f"ratios {_ratios_text(shares)} must be two or more positive shares, "
            "e.g. 0.7,0.15,0.15",
            field="ratios",
        )
    if abs(shares.sum() - 1.0) > RATIO_SUM_SLACK:
        raise InvalidInput(
            f"ratios {_ratios_text(shares)} add up to {shares.sum():g}, not 1; e.g. 0.7,0.15,0.15",
            field="ratios",
        )
    return shares


def _ratios_text(shares: Sequence[float]) -> str:
    return ",".join(f"{s:g}" for s in shares)


def _strata(frame: pd.DataFrame, by: Sequence[str]) -> np.ndarray:
    """A code per row for the joint value of the ``by`` columns (missing is a value too)."""
    if not by:
        return np.zeros(len(frame), dtype=np.int64)
    codes = frame.groupby(list(by), dropna=False, sort=True).ngroup()
    return codes.to_numpy(dtype=np.int64)


def _group_codes(frame: pd.DataFrame, keys: Sequence[str], links: Sequence[str]) -> np.ndarray:
    """A code per row such that rows sharing a value of a key column, or a value anywhere in the
    ``links`` columns (which name the same things: an image and the image it was augmented
    from), share a code: the connected components of the graph linking rows through values."""
    import pandas as pd
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(frame)
    columns = [[frame[k]] for k in dict.fromkeys(keys)]
    if links:
        columns.append([frame[c] for c in links])
    rows, nodes, offset = [], [], n
    for values in columns:
        stacked = pd.concat(values, ignore_index=True)
        stacked = stacked.where(stacked != "")  # an empty path names nothing
        codes, uniques = pd.factorize(stacked)  # missing values: -1, linked to nothing
        present = codes >= 0
        rows.append(np.flatnonzero(present) % n)
        nodes.append(codes[present] + offset)
        offset += len(uniques)
    if offset == n:
        return np.arange(n)
    r, c = np.concatenate(rows), np.concatenate(nodes)
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(offset, offset))
    _, labels = connected_components(graph, directed=False)
    return np.unique(labels[:n], return_inverse=True)[1]


def _place(
    groups: np.ndarray, strata: np.ndarray, shares: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Greedy placement of whole groups (module docstring); returns each row's split."""
    n_groups, n_strata = int(groups.max()) + 1, int(strata.max()) + 1
    # Each group's (stratum, count) pairs, as runs of one array sorted by group.
    pairs, counts = np.unique(groups * n_strata + strata, return_counts=True)
    owner, stratum = np.divmod(pairs, n_strata)
    starts = np.searchsorted(owner, np.arange(n_groups + 1))
    sizes = np.bincount(groups, minlength=n_groups)
    order = rng.permutation(n_groups)
    order = order[np.argsort(-sizes[order], kind="stable")]
    target = shares[:, None] * np.bincount(strata, minlength=n_strata)[None, :]
    gap = -target  # placed − target, per split and stratum
    weight = 1.0 / shares
    chosen = np.empty(n_groups, dtype=np.int64)
    empty = np.ones(len(shares), dtype=bool)
    for placed, g in enumerate(order[sizes[order] > 1]):
        idx, k = stratum[starts[g] : starts[g + 1]], counts[starts[g] : starts[g + 1]]
        cost = ((2.0 * gap[:, idx] + k) * k).sum(axis=1) * weight
        if n_groups - placed <= empty.sum():  # as many groups left as empty splits: fill them
            cost[~empty] = np.inf
        j = int(np.argmin(cost))
        gap[j, idx] += k
        chosen[g] = j
        empty[j] = False
    singles = order[sizes[order] == 1]  # still in random order
    single_stratum = stratum[starts[singles]]
    for s in np.unique(single_stratum):
        members = singles[single_stratum == s]
        taken = _fill(gap[:, s], len(members), weight)
        chosen[members] = np.repeat(np.arange(len(shares)), taken)
        gap[:, s] += taken
    return chosen[groups]


def _fill(gap: np.ndarray, m: int, weight: np.ndarray) -> np.ndarray:
    """How many of ``m`` one-row groups of one stratum each split takes: what placing them one
    at a time would give, at once. The k-th row a split takes costs (2·(gap + k) + 1)·weight,
    rising with k, so one at a time the greedy takes the m cheapest of all those costs."""
    k = np.arange(m)
    costs = (2.0 * (gap[:, None] + k[None, :]) + 1.0) * weight[:, None]
    cheapest = np.argpartition(costs.ravel(), m - 1)[:m]
    return np.bincount(cheapest // m, minlength=len(gap))


def balance_report(
    frame: pd.DataFrame,
    assignment: np.ndarray,
    *,
    by: Sequence[str],
    ratios: Sequence[float] = DEFAULT_RATIOS,
    names: Sequence[str] = DEFAULT_NAMES,
    labels: Sequence[str] = (),
    tolerance: float = DEFAULT_TOLERANCE,
    min_per_split: int = DEFAULT_MIN_PER_SPLIT,
) -> SplitReport:
    """Sizes and the share of every value of every ``by`` column per split, with warnings for a
    value more than ``tolerance`` off its overall share and for classes (``labels``) or slices
    with fewer than ``min_per_split`` examples in a split. The report has no stored versions."""
    shares = _check_ratios(ratios)
    names = _check_names(names, len(shares))
    total = len(frame)
    sizes = np.bincount(assignment, minlength=len(shares))
    parts = [
        SplitPart(name, int(sizes[i]), float(sizes[i] / total), float(shares[i]))
        for i, name in enumerate(names)
    ]
    balance: list[Balance] = []
    warnings: list[str] = []
    for column in by:
        codes, uniques = _values(frame[column])
        table = np.zeros((len(uniques), len(shares)), dtype=np.int64)
        np.add.at(table, (codes, assignment), 1)
        what = "class" if column in labels else "slice"
        for v, value in enumerate(uniques):
            counts = {n: int(table[v, i]) for i, n in enumerate(names)}
            item = Balance(
                column=column,
                value=value,
                overall=float(table[v].sum() / total),
                counts=counts,
                shares={n: counts[n] / max(int(sizes[i]), 1) for i, n in enumerate(names)},
            )
            balance.append(item)
            warnings += _value_warnings(item, what, tolerance, min_per_split)
    return SplitReport(
        source="", by=list(by), group=None, seed=0, groups=0, parts=parts, balance=balance,
        tolerance=tolerance, warnings=warnings,
    )  # fmt: skip


def _check_names(names: Sequence[str], count: int) -> list[str]:
    names = [str(n).strip() for n in names]
    if len(names) != count or len(set(names)) != count or not all(names):
        raise InvalidInput(
            f"give {count} distinct split names, one per ratio (got {', '.join(names) or 'none'})",
            field="names",
        )
    return names


def _values(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes per row and the values as text ("missing" for nulls), in sorted order."""
    import pandas as pd

    codes, uniques = pd.factorize(column, sort=True, use_na_sentinel=False)
    return codes, ["missing" if pd.isna(u) else str(u) for u in uniques]


def _value_warnings(item: Balance, what: str, tolerance: float, minimum: int) -> list[str]:
    label = f"{what} {item.column}={item.value}"
    out = [
        f"{label} has only {n} example(s) in {name} (fewer than {minimum}): its metrics there "
        "are noise; collect more of it, or give that split a larger ratio"
        for name, n in item.counts.items()
        if n < minimum
    ]
    worst = max(item.shares, key=lambda n: abs(item.shares[n] - item.overall))
    gap = item.shares[worst] - item.overall
    if abs(gap) > tolerance:
        out.append(
            f"{label} is {100 * item.shares[worst]:.1f}% of {worst} but {100 * item.overall:.1f}% "
            f"overall ({100 * gap:+.1f} points, more than {100 * tolerance:g}): the split is too "
            "small or its groups too large to balance it"
        )
    return out
