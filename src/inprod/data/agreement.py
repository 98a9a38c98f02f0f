"""How consistently people label: Cohen's κ per labeler pair, Fleiss' κ and Krippendorff's α
(nominal), overall and per slice, the labeler-vs-labeler confusion matrices and the examples
with the most disagreement.

Why this matters: a model cannot be more consistent than its labels, and the course's first fix
for a noisy slice is often a clearer labeling instruction, not a bigger model. Per-slice numbers
show where the instruction is unclear ("factory=B": dark images, faint scratches).

Everything works on :class:`Votes` (one coded label per example and labeler) with numpy: the
labels are aggregated once into (example, class, count) triples and into the pairs of labels
two labelers gave one example, and every statistic of every slice is a ``bincount`` over those
arrays. A million labels with ten slices take about a second (benchmarks/data/README.md).

Definitions, for labels of any number of labelers per example (examples with fewer than two
labels carry no information about agreement and are left out of every statistic):

- observed agreement: the share of agreeing (ordered) pairs of labels given to one example;
- Cohen's κ (a pair of labelers, on the examples both labelled): ``(p_o - p_e) / (1 - p_e)``,
  as statsmodels' ``cohens_kappa`` on their confusion matrix;
- Fleiss' κ: statsmodels' ``fleiss_kappa`` when every example has the same number of labels;
  with varying numbers each example's agreement is ``Σ n_c (n_c - 1) / (m (m - 1))`` and the
  class shares are pooled over all labels (the usual generalisation);
- Krippendorff's α (nominal): from the coincidence matrix, as the ``krippendorff`` package.

A statistic whose chance agreement is 1 (everybody used one class) is undefined: None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInput
from .slices import as_text, tag_masks

DEFAULT_TOP = 20
_BINCOUNT_LIMIT = 1 << 22  # above this many bins, count pairs with np.unique instead


label_key = as_text  # labels are compared as text: 1, 1.0 and "1" are one class


def label_keys(values: pd.Series) -> pd.Series:
    """:func:`label_key` of every value, without a Python call per value where the type allows."""
    if pd.api.types.is_float_dtype(values.dtype):
        whole = (values == np.floor(values)) & (values.abs() < 2.0**53)
        ints = values.where(whole, 0).astype("int64").astype(str)
        return ints.where(whole, values.astype(str))
    if values.dtype == object:
        return values.map(label_key)
    return values.astype(str)


@dataclass(frozen=True)
class Votes:
    """Labels given to a dataset's examples, coded: entry ``i`` says labeler ``labeler[i]`` gave
    example (row) ``example[i]`` the class ``label[i]``. At most one entry per example and
    labeler. ``classes`` are the label values, in the text order of their keys."""

    example: np.ndarray
    labeler: np.ndarray
    label: np.ndarray
    example_ids: list[str]
    labelers: list[str]
    classes: list[Any]

    @classmethod
    def from_rows(
        cls, rows: Any, labelers: Any, labels: Any, *, example_ids: Sequence[str]
    ) -> Votes:
        """Votes from parallel sequences (dataset row, labeler, label), in the order given.

        An example labelled twice by one labeler keeps the later entry: a correction wins.
        """
        rows = np.asarray(rows, dtype=np.int64)
        labeler_codes, names = pd.factorize(pd.Series(labelers, dtype=object), sort=True)
        label_codes, classes = _code_labels(pd.Series(labels).reset_index(drop=True))
        frame = pd.DataFrame({"row": rows, "labeler": labeler_codes, "label": label_codes})
        frame = frame.drop_duplicates(["row", "labeler"], keep="last")
        return cls(
            example=frame["row"].to_numpy(),
            labeler=frame["labeler"].to_numpy(np.int64),
            label=frame["label"].to_numpy(np.int64),
            example_ids=list(example_ids),
            labelers=[str(n) for n in names],
            classes=classes,
        )

    @classmethod
    def from_columns(
        cls, frame: pd.DataFrame, columns: Sequence[str], *, example_ids: Sequence[str]
    ) -> Votes:
        """One labeler per column (the phone manifest's inspector-1..3); empty cells are no label.
        Examples are the frame's rows; ``example_ids`` names them."""
        rows, labelers, labels = [], [], []
        for column in columns:
            values = frame[column]
            given = values.notna().to_numpy()
            rows.append(np.flatnonzero(given))
            labelers.append(np.full(int(given.sum()), column, dtype=object))
            labels.append(values[given])
        return cls.from_rows(
            np.concatenate(rows),
            np.concatenate(labelers),
            pd.concat(labels, ignore_index=True),
            example_ids=example_ids,
        )

    def mapped(self, mapping: Mapping[str, Any]) -> Votes:
        """The same votes with classes renamed by ``mapping`` (label key -> new value); classes
        that map to one value merge. Keys not in the mapping stay."""
        values = pd.Series([mapping.get(label_key(c), c) for c in self.classes], dtype=object)
        codes, classes = _code_labels(values)
        return Votes(self.example, self.labeler, codes[self.label], self.example_ids,
                     self.labelers, classes)  # fmt: skip


def _code_labels(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """(a class code per value, the classes): values with one :func:`label_key` are one class,
    coded in the text order of the keys and represented by the value seen first. Keys are made
    for the distinct values only: a million labels have a handful."""
    raw, uniques = pd.factorize(values)
    keys = pd.Series([label_key(plain(u)) for u in uniques], dtype=object)
    key_codes, _ = pd.factorize(keys, sort=True)
    first = np.unique(key_codes, return_index=True)[1]
    return key_codes[raw], [plain(uniques[i]) for i in first]


@dataclass(frozen=True)
class PairAgreement:
    """Two labelers on the examples both labelled; ``confusion[i][j]`` counts examples ``a``
    called ``classes[i]`` and ``b`` called ``classes[j]``."""

    a: str
    b: str
    examples: int
    agreement: float
    kappa: float | None
    confusion: list[list[int]]


@dataclass(frozen=True)
class SliceAgreement:
    """Agreement over one slice's examples (``"all"`` for every example)."""

    name: str
    examples: int  # examples of the slice with at least two labels
    labels: int  # labels given to those examples
    agreement: float | None  # observed: share of agreeing pairs of labels
    fleiss_kappa: float | None
    alpha: float | None  # Krippendorff's α, nominal
    labelers: dict[str, float | None]  # each labeler's agreement with the others' labels
    pairs: list[PairAgreement]


@dataclass(frozen=True)
class Disagreement:
    """An example the labelers split on: ``dissent`` is the share of its labels that differ
    from the most common one; ``entropy`` (bits) of its label distribution breaks ties."""

    example_id: str
    row: int
    votes: dict[str, Any]
    top_label: Any
    dissent: float
    entropy: float


@dataclass(frozen=True)
class AgreementReport:
    dataset: str
    classes: list[Any]
    labelers: list[str]
    overall: SliceAgreement
    slices: list[SliceAgreement]
    disagreements: list[Disagreement]
    unmatched: int = 0  # labels naming examples that this version does not have

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def weakest_pair(self) -> PairAgreement | None:
        """The pair of labelers with the lowest κ (then agreement): the confusion worth reading.
        Pairs whose κ is undefined (one class only) come last."""
        pairs = self.overall.pairs
        if not pairs:
            return None
        return min(pairs, key=lambda p: (p.kappa is None, p.kappa or 0.0, p.agreement))

    def to_html(self) -> str:
        """One self-contained page (no scripts): the tables the CLI prints, κ cells shaded."""
        from ..monitoring.html import page

        return page(f"Label agreement: {self.dataset}", _html_sections(self))


# -- statistics --------------------------------------------------------------------------------


def measure(
    votes: Votes,
    *,
    slices: Mapping[str, np.ndarray] | None = None,
    top: int = DEFAULT_TOP,
    dataset: str = "",
    unmatched: int = 0,
) -> AgreementReport:
    """Every statistic overall and for each slice (a boolean mask over the examples), and the
    ``top`` examples with the most disagreement."""
    n = len(votes.example_ids)
    counts = _Counts.of(votes)
    pairs = _Pairs.of(votes)
    everything = np.ones(n, dtype=bool)
    measured = [
        _slice(name, mask, votes, counts, pairs)
        for name, mask in {"all": everything, **dict(slices or {})}.items()
    ]
    return AgreementReport(
        dataset=dataset,
        classes=votes.classes,
        labelers=votes.labelers,
        overall=measured[0],
        slices=measured[1:],
        disagreements=_disagreements(votes, counts, top),
        unmatched=unmatched,
    )


@dataclass(frozen=True)
class _Counts:
    """How many labels of each class each example got, as sorted (item, cls, cnt) triples, and
    per example the number of labels ``m`` and the sum of squared class counts ``sq``."""

    item: np.ndarray
    cls: np.ndarray
    cnt: np.ndarray
    m: np.ndarray
    sq: np.ndarray

    @classmethod
    def of(cls, votes: Votes) -> _Counts:
        k = max(len(votes.classes), 1)
        keys, cnt = np.unique(votes.example * k + votes.label, return_counts=True)
        item, klass = keys // k, keys % k
        n = len(votes.example_ids)
        m = np.bincount(item, weights=cnt, minlength=n)
        sq = np.bincount(item, weights=cnt.astype(np.float64) ** 2, minlength=n)
        return cls(item, klass, cnt, m, sq)


@dataclass(frozen=True)
class _Pairs:
    """Every pair of labels one example got from two labelers (``la`` < ``lb``), coded as one
    integer per pair, so that a slice's confusion matrices are one count."""

    example: np.ndarray
    code: np.ndarray
    n_labelers: int
    k: int

    @classmethod
    def of(cls, votes: Votes) -> _Pairs:
        order = np.lexsort((votes.labeler, votes.example))
        ex, lab, lbl = votes.example[order], votes.labeler[order], votes.label[order]
        n_lab, k = len(votes.labelers), max(len(votes.classes), 1)
        examples, codes = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for d in range(1, len(ex)):  # the labels d places apart within one example
            a = np.flatnonzero(ex[:-d] == ex[d:])
            if not len(a):
                break
            b = a + d
            examples.append(ex[a])
            codes.append(((lab[a] * n_lab + lab[b]) * k + lbl[a]) * k + lbl[b])
        return cls(np.concatenate(examples), np.concatenate(codes), n_lab, k)

    def confusions(self, mask: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
        """(la, lb) -> K×K counts over the pairs whose example is in ``mask``."""
        codes = self.code[mask[self.example]]
        size = self.n_labelers**2 * self.k**2
        if size <= _BINCOUNT_LIMIT:
            found = np.bincount(codes, minlength=size)
            present = np.flatnonzero(found)
            counts = found[present]
        else:
            present, counts = np.unique(codes, return_counts=True)
        cells = self.k * self.k
        out: dict[tuple[int, int], np.ndarray] = {}
        for code, count in zip(present.tolist(), counts.tolist(), strict=True):
            pair, cell = divmod(code, cells)
            key = divmod(pair, self.n_labelers)
            if key not in out:
                out[key] = np.zeros((self.k, self.k), dtype=np.int64)
            out[key][divmod(cell, self.k)] = count
        return out


def _slice(
    name: str, mask: np.ndarray, votes: Votes, counts: _Counts, pairs: _Pairs
) -> SliceAgreement:
    pairable = mask & (counts.m >= 2)
    m, sq = counts.m[pairable], counts.sq[pairable]
    inside = pairable[counts.item]
    n_c = np.bincount(counts.cls[inside], weights=counts.cnt[inside], minlength=pairs.k)
    n = float(n_c.sum())
    agreeing, all_pairs = float((sq - m).sum()), float((m * (m - 1)).sum())
    fleiss = alpha = None
    if len(m):
        chance = float(((n_c / n) ** 2).sum())
        mean_agreement = float(((sq - m) / (m * (m - 1))).mean())
        fleiss = _kappa(mean_agreement, chance)
        disagreeing = float(((m * m - sq) / (m - 1)).sum())
        expected = n * n - float((n_c**2).sum())
        alpha = 1.0 - (n - 1.0) * disagreeing / expected if expected > 0 else None
    confusions = pairs.confusions(mask)
    return SliceAgreement(
        name=name,
        examples=int(pairable.sum()),
        labels=int(n),
        agreement=agreeing / all_pairs if all_pairs else None,
        fleiss_kappa=fleiss,
        alpha=alpha,
        labelers=_labeler_agreement(votes.labelers, confusions),
        pairs=[_pair(votes.labelers, a, b, c) for (a, b), c in sorted(confusions.items())],
    )


def _kappa(observed: float, chance: float) -> float | None:
    return (observed - chance) / (1.0 - chance) if chance < 1.0 - 1e-12 else None


def _pair(labelers: list[str], a: int, b: int, confusion: np.ndarray) -> PairAgreement:
    n = int(confusion.sum())
    observed = float(np.trace(confusion)) / n
    chance = float((confusion.sum(axis=1) / n) @ (confusion.sum(axis=0) / n))
    return PairAgreement(labelers[a], labelers[b], n, observed, _kappa(observed, chance),
                         confusion.tolist())  # fmt: skip


def _labeler_agreement(
    labelers: list[str], confusions: Mapping[tuple[int, int], np.ndarray]
) -> dict[str, float | None]:
    agreed = np.zeros(len(labelers))
    total = np.zeros(len(labelers))
    for (a, b), confusion in confusions.items():
        for who in (a, b):
            agreed[who] += np.trace(confusion)
            total[who] += confusion.sum()
    return {
        name: float(agreed[i] / total[i]) if total[i] else None for i, name in enumerate(labelers)
    }


def disagreements(
    votes: Votes, *, top: int | None = DEFAULT_TOP, min_dissent: float = 0.0
) -> list[Disagreement]:
    """Examples whose labels split (at least ``min_dissent`` of them differ from the most common
    one), most dissent first, then most entropy, then most labels; at most ``top`` (None: all)."""
    return _disagreements(votes, _Counts.of(votes), top, min_dissent)


def _disagreements(
    votes: Votes, counts: _Counts, top: int | None, min_dissent: float = 0.0
) -> list[Disagreement]:
    if (top is not None and top <= 0) or not len(counts.item):
        return []
    starts = np.flatnonzero(np.r_[True, counts.item[1:] != counts.item[:-1]])
    items = counts.item[starts]
    best = np.maximum.reduceat(counts.cnt, starts)
    m = counts.m[items]
    share = counts.cnt / counts.m[counts.item]
    entropy = np.bincount(counts.item, weights=-share * np.log2(share), minlength=len(counts.m))
    dissent = 1.0 - best / m
    split = np.flatnonzero((dissent > 0) & (dissent >= min_dissent - 1e-9))
    order = split[np.lexsort((-m[split], -entropy[items[split]], -dissent[split]))][:top]
    chosen = items[order]
    by_example: dict[int, dict[str, Any]] = {int(e): {} for e in chosen}
    picked = np.isin(votes.example, chosen)
    for e, who, what in zip(votes.example[picked].tolist(), votes.labeler[picked].tolist(),
                            votes.label[picked].tolist(), strict=True):  # fmt: skip
        by_example[e][votes.labelers[who]] = votes.classes[what]
    return [
        Disagreement(
            example_id=votes.example_ids[int(e)],
            row=int(e),
            votes=dict(sorted(by_example[int(e)].items())),
            top_label=_most_common(by_example[int(e)]),
            dissent=float(dissent[i]),
            entropy=float(entropy[int(e)]),
        )
        for i, e in zip(order.tolist(), chosen.tolist(), strict=True)
    ]


def _most_common(votes: Mapping[str, Any]) -> Any:
    """The label most labelers gave; a tie goes to the first in text order (stable, explained)."""
    tally: dict[str, list[Any]] = {}
    for value in votes.values():
        tally.setdefault(label_key(value), [0, value])[0] += 1
    key = min(tally, key=lambda k: (-tally[k][0], k))
    return tally[key][1]


def plain(value: Any) -> Any:
    """numpy scalars as Python values, so reports encode as JSON."""
    return value.item() if isinstance(value, np.generic) else value


# -- slices ------------------------------------------------------------------------------------


def slice_masks(
    frame: pd.DataFrame, specs: Sequence[str] | Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Boolean masks over ``frame``'s rows, one per slice.

    A spec is ``column=value`` (also ``!=``; ``factory=B``), ``column<number`` (also ``<=``,
    ``>``, ``>=``; ``brightness<0.22``), a true/false column's name (``blurry``: its true rows) or
    ``module:function`` (see :mod:`inprod.data.slices`). From Python a mapping gives names to
    masks or to functions of the frame.
    """
    if isinstance(specs, Mapping):
        return {str(name): _given_mask(frame, str(name), how) for name, how in specs.items()}
    return tag_masks(frame, list(dict.fromkeys(specs)), what="slice", field="slices")


def _given_mask(frame: pd.DataFrame, name: str, how: Any) -> np.ndarray:
    mask = how(frame) if callable(how) else how
    array = np.asarray(mask)
    if array.shape != (len(frame),) or array.dtype != bool:
        raise InvalidInput(
            f"slice {name!r} must be {len(frame)} booleans (one per row), or a function of the "
            f"table that returns them; got {array.dtype} of shape {array.shape}",
            field="slices",
        )
    return array


# -- HTML --------------------------------------------------------------------------------------


def _html_sections(report: AgreementReport) -> list[str]:
    overall = report.overall
    classes = ", ".join(label_key(c) for c in report.classes)
    summary = (
        f'<p class="meta">{overall.examples} examples with two or more labels, {overall.labels} '
        f"labels by {len(report.labelers)} labelers; classes: {escape(classes)}"
        + (
            f"; {report.unmatched} labels name examples this version lacks"
            if report.unmatched
            else ""
        )
        + "</p>"
    )
    every = [overall, *report.slices]
    sections = [
        summary,
        "<h2>Overall and per slice</h2>"
        + _table(
            ["slice", "examples", "labels", "agreement", "Fleiss κ", "Krippendorff α"],
            [
                [
                    s.name,
                    s.examples,
                    s.labels,
                    _pct(s.agreement),
                    _shade(s.fleiss_kappa),
                    _shade(s.alpha),
                ]
                for s in every
            ],
        ),
        "<h2>Each labeler's agreement with the others</h2>"
        + _table(
            ["labeler", *(s.name for s in every)],
            [[who, *(_pct(s.labelers.get(who)) for s in every)] for who in report.labelers],
        ),
        "<h2>Pairs of labelers (Cohen's κ)</h2>"
        + _table(
            ["labeler a", "labeler b", "examples", "agreement", "κ"],
            [[p.a, p.b, p.examples, _pct(p.agreement), _shade(p.kappa)] for p in overall.pairs],
        ),
    ]
    shown = overall.pairs if len(overall.pairs) <= 6 else [report.weakest_pair()]
    for pair in shown:
        if pair is not None:
            names = [label_key(c) for c in report.classes]
            rows = [[f"{pair.a}: {n}", *row] for n, row in zip(names, pair.confusion, strict=True)]
            sections.append(
                f"<h2>Confusion: {escape(pair.a)} (rows) vs {escape(pair.b)} (columns)</h2>"
                + _table(["", *(f"{pair.b}: {n}" for n in names)], rows)
            )
    sections.append(
        "<h2>Most disagreement</h2>"
        + _table(
            ["example", "labels", "most common", "dissent", "entropy (bits)"],
            [
                [
                    d.example_id,
                    ", ".join(f"{k}: {label_key(v)}" for k, v in d.votes.items()),
                    label_key(d.top_label),
                    _pct(d.dissent),
                    f"{d.entropy:.2f}",
                ]
                for d in report.disagreements
            ],
        )
    )
    return sections


class _Cell(str):
    """Cell HTML made here (already escaped)."""


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, _Cell):
            return value
        if isinstance(value, int | float):
            return f'<td class="num">{value}</td>'
        return f"<td>{escape(str(value))}</td>"

    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pct(value: float | None) -> _Cell:
    return _Cell('<td class="num">–</td>' if value is None else f'<td class="num">{value:.1%}</td>')


def _shade(value: float | None) -> _Cell:
    """κ and α from red (chance or worse) to green (perfect)."""
    if value is None:
        return _Cell('<td class="num">–</td>')
    hue = 120.0 * min(max(value, 0.0), 1.0)
    return _Cell(f'<td class="num" style="background:hsl({hue:.0f},60%,85%)">{value:.3f}</td>')
