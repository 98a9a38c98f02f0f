"""Data validation: does a new dataset version (or what an endpoint receives) still look like the
data the model was built on?

Checks, each with a status (pass, warn, fail) and a message naming the column and the numbers:

- ``schema``: a column the reference has is missing (fail), a column is new (warn), or a column
  holds numbers on one side and text on the other (fail).
- ``range``: numbers outside the reference's [min, max]: more than 1% of a column, and more than
  chance would put there, or any beyond it by more than its width (warn: a new sensor, a unit
  change). A fresh sample of the same data puts a few values past the extremes (each falls
  outside with probability 2 / (reference rows + 1)); that is not a change.
- ``missing``: a column's share of missing values grew by more than ``missing_tolerance``
  (warn); any missing label (fail: a training row without a label is not an example).
- ``categories``: values the reference never had (warn; fail for a label: a class the model
  does not know), and classes of the reference with no rows now (warn). Columns with more than
  50 distinct values in the reference are identifiers, not categories, and are not checked.
- ``drift``: the monitoring drift tests (:func:`inprod.monitoring.drift.table_drift`: KS and PSI
  for numbers, chi² and Jensen–Shannon for categories) on every shared column (warn).
- ``images`` (image datasets): image sizes or colour modes that differ (fail).

Why warnings and failures: a failure breaks training or serving code (a missing column, an
unknown class); a warning is a change a person should look at before training on it.

``serving_skew`` runs the same checks on an endpoint's logged inputs against a dataset (by
default the served model's training data): training/serving skew, found before accuracy drops.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInput
from ..monitoring.drift import CATEGORICAL, NUMERIC, infer_kind, table_drift
from ..monitoring.multivariate import DEFAULT_MAX_ROWS
from ..store import Store, get_store
from . import datasets
from .schema import MAX_CATEGORIES, columns_of
from .versions import DatasetVersionInfo

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

PASS, WARN, FAIL = "pass", "warn", "fail"
STATUSES = (PASS, WARN, FAIL)  # in rising severity
DEFAULT_MISSING_TOLERANCE = 0.01  # growth in a column's share of missing values before a warning
RANGE_TOLERANCE = 0.01  # share of values outside the reference's range before a warning...
RANGE_ALPHA = 0.001  # ...when more than chance would put there (binomial tail)
SHOWN_VALUES = 5

__all__ = ["Check", "ValidationReport", "serving_skew", "validate", "validate_table"]


@dataclass(frozen=True)
class Check:
    """One finding: ``check`` is schema | rows | range | missing | categories | drift | images;
    ``column`` is None for a check about the whole table."""

    check: str
    status: str
    message: str
    column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "column": self.column,
            "status": self.status,
            "message": self.message,
        }


@dataclass(frozen=True)
class ValidationReport:
    """Every check on ``subject`` against ``reference``; ``status`` is the worst of them."""

    subject: str
    reference: str
    rows: int
    reference_rows: int
    checks: list[Check]
    note: str = ""

    @property
    def status(self) -> str:
        return max((c.status for c in self.checks), key=STATUSES.index, default=PASS)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == WARN]

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "reference": self.reference,
            "status": self.status,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "failures": len(self.failures),
            "warnings": len(self.warnings),
            "checks": [c.to_dict() for c in self.checks],
            "note": self.note,
        }


def validate(
    new: str,
    *,
    against: str | None = None,
    missing_tolerance: float = DEFAULT_MISSING_TOLERANCE,
    store: Store | None = None,
) -> ValidationReport:
    """Check dataset version ``new`` ("phone-images@3") against ``against`` (by default the
    version before it). Label columns are those declared on ``new``; an image dataset's image
    paths are compared as images (size, mode), not as values. Raises NotFound for an unknown
    version, InvalidInput when there is nothing to compare with or the reference has no rows.
    """
    store = get_store(store)
    info = datasets.get(new, store=store)
    if against is None:
        if info.version == 1:
            raise InvalidInput(
                f"{info.ref} is the first version of {info.name!r}; name the version to "
                "compare it with: against='OTHER@VERSION' (--against)",
                field="against",
            )
        against = f"{info.name}@{info.version - 1}"
    ref = datasets.get(against, store=store)
    skip = [c for c in (info.image_column, ref.image_column) if c]
    report = validate_table(
        datasets.load(info.ref, store=store),
        datasets.load(ref.ref, store=store),
        labels=info.label_columns,
        skip=skip,
        subject=info.ref,
        against=ref.ref,
        missing_tolerance=missing_tolerance,
    )
    report = replace(report, checks=[*report.checks, *_image_checks(info, ref)])
    logger.info("validated %s against %s: %s", info.ref, ref.ref, report.status)
    return report


def validate_table(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    labels: Sequence[str] = (),
    skip: Sequence[str] = (),
    subject: str = "current",
    against: str = "reference",
    missing_tolerance: float = DEFAULT_MISSING_TOLERANCE,
) -> ValidationReport:
    """The checks of the module docstring on two DataFrames. ``labels`` are treated as classes
    (categorical, never missing); ``skip`` columns are only checked for presence."""
    if not 0 <= missing_tolerance < 1:
        raise InvalidInput(
            f"missing_tolerance must be in [0, 1), got {missing_tolerance}",
            field="missing_tolerance",
        )
    if len(reference) == 0:
        raise InvalidInput(f"{against} has no rows; validate against data", field="against")
    report = ValidationReport(subject, against, len(current), len(reference), checks=[])
    checks = _schema_checks(current, reference, set(labels))
    if len(current) == 0:
        return replace(report, checks=[*checks, Check("rows", FAIL, f"{subject} has no rows")])
    kinds = _shared_kinds(current, reference, set(labels), set(skip))
    checks += _range_checks(current, reference, kinds, RANGE_TOLERANCE)
    checks += _missing_checks(current, reference, kinds, set(labels), missing_tolerance)
    cardinal = _high_cardinality(reference, kinds)
    checks += _category_checks(current, reference, kinds, set(labels), cardinal)
    checks += _drift_checks(current, reference, kinds, cardinal)
    note = ""
    if cardinal:
        note = f"identifiers (over {MAX_CATEGORIES} values), not tested: " + _quote(cardinal)
    return replace(report, checks=checks, note=note)


def _quote(values: Sequence[Any]) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:SHOWN_VALUES])
    extra = len(values) - SHOWN_VALUES
    return shown + (f" and {extra} more" if extra > 0 else "")


def _kind(values: pd.Series, is_label: bool) -> str:
    kind = infer_kind(values)
    if is_label and kind == NUMERIC and not _is_float(values):  # 0/1 classes are categories
        return CATEGORICAL
    return kind


def _is_float(values: pd.Series) -> bool:
    from pandas.api import types

    return types.is_float_dtype(values.dtype)


def _schema_checks(current: pd.DataFrame, reference: pd.DataFrame, labels: set[str]) -> list[Check]:
    checks = [
        Check("schema", FAIL, f"column {c!r} is missing (the reference has it)", c)
        for c in reference.columns
        if c not in current.columns
    ]
    checks += [
        Check("schema", WARN, f"column {c!r} is new (the reference does not have it)", c)
        for c in current.columns
        if c not in reference.columns
    ]
    for c in reference.columns:
        if c not in current.columns or current[c].isna().all():
            continue  # an all-missing column has no kind; the missing check reports it
        was, now = _kind(reference[c], c in labels), _kind(current[c], c in labels)
        if was != now:
            words = {NUMERIC: "numbers", CATEGORICAL: "text or categories"}
            checks.append(
                Check("schema", FAIL, f"column {c!r} held {words[was]}, now {words[now]}", c)
            )
    if not checks:
        checks.append(
            Check("schema", PASS, f"the same {len(reference.columns)} columns, of the same kinds")
        )
    return checks


def _shared_kinds(
    current: pd.DataFrame, reference: pd.DataFrame, labels: set[str], skip: set[str]
) -> dict[str, str]:
    """Columns both sides have, of one kind, not skipped: their kind."""
    out = {}
    for c in reference.columns:
        if c in skip or c not in current.columns:
            continue
        kind = _kind(reference[c], c in labels)
        if current[c].isna().all() or _kind(current[c], c in labels) == kind:
            out[c] = kind
    return out


def _finite(values: pd.Series) -> np.ndarray:
    import pandas as pd

    array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return array[np.isfinite(array)]


def _range_checks(
    current: pd.DataFrame, reference: pd.DataFrame, kinds: dict[str, str], range_tolerance: float
) -> list[Check]:
    from pandas.api import types

    checks = []
    for c, kind in kinds.items():
        if kind != NUMERIC or types.is_datetime64_any_dtype(reference[c].dtype):
            continue  # later times are expected, not out of range
        ref, cur = _finite(reference[c]), _finite(current[c])
        if len(ref) == 0 or len(cur) == 0:
            continue
        low, high = float(ref.min()), float(ref.max())
        outside = int(((cur < low) | (cur > high)).sum())
        span = high - low
        far = int(((cur < low - span) | (cur > high + span)).sum())
        if far or (outside > range_tolerance * len(cur) and _unlikely(outside, len(cur), len(ref))):
            checks.append(
                Check(
                    "range",
                    WARN,
                    f"{outside:,} of {len(cur):,} values of {c!r} ({outside / len(cur):.1%}) are "
                    f"outside the reference's range {low:.4g} to {high:.4g} (now "
                    f"{cur.min():.4g} to {cur.max():.4g})",
                    c,
                )
            )
    return checks or [
        Check("range", PASS, f"at most {range_tolerance:.0%} of any column outside its range")
    ]


def _unlikely(outside: int, n: int, n_reference: int) -> bool:
    """Whether ``outside`` of ``n`` new values past the extremes of ``n_reference`` is more than
    chance: a value from the same distribution falls outside them with probability
    2 / (n_reference + 1), so 1% of 300 rows is expected from a 300-row reference."""
    from scipy import stats

    return bool(stats.binom.sf(outside - 1, n, 2 / (n_reference + 1)) < RANGE_ALPHA)


def _missing_share(values: pd.Series) -> float:
    import pandas as pd
    from pandas.api import types

    if types.is_numeric_dtype(values.dtype) and not types.is_bool_dtype(values.dtype):
        array = pd.to_numeric(values).to_numpy(dtype=np.float64, na_value=np.nan)
        return float((~np.isfinite(array)).mean()) if len(array) else 0.0
    return float(values.isna().mean()) if len(values) else 0.0


def _missing_checks(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    kinds: dict[str, str],
    labels: set[str],
    tolerance: float,
) -> list[Check]:
    checks = []
    for c in kinds:
        was, now = _missing_share(reference[c]), _missing_share(current[c])
        if c in labels and now > 0:
            count = int(current[c].isna().sum())
            checks.append(
                Check("missing", FAIL, f"label {c!r} is missing in {count:,} row(s) ({now:.1%})", c)
            )
        elif now > was + tolerance:
            checks.append(
                Check(
                    "missing",
                    WARN,
                    f"{now:.1%} of {c!r} is missing, {was:.1%} in the reference",
                    c,
                )
            )
    return checks or [
        Check("missing", PASS, f"no column lost more than {tolerance:.0%} of its values")
    ]


def _high_cardinality(reference: pd.DataFrame, kinds: dict[str, str]) -> list[str]:
    return [
        c
        for c, kind in kinds.items()
        if kind == CATEGORICAL and reference[c].nunique(dropna=True) > MAX_CATEGORIES
    ]


def _category_checks(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    kinds: dict[str, str],
    labels: set[str],
    cardinal: list[str],
) -> list[Check]:
    checks = []
    for c, kind in kinds.items():
        if kind != CATEGORICAL or c in cardinal:
            continue
        known = set(reference[c].dropna().astype(str))
        counts = current[c].dropna().astype(str).value_counts()
        unseen = counts[~counts.index.isin(known)]
        what = "class(es)" if c in labels else "value(s)"
        if len(unseen):
            shown = ", ".join(f"{v!r} ({n:,} rows)" for v, n in unseen.head(SHOWN_VALUES).items())
            status = FAIL if c in labels else WARN
            checks.append(
                Check(
                    "categories",
                    status,
                    f"{c!r} has {len(unseen)} {what} the reference never had: {shown}",
                    c,
                )
            )
        gone = sorted(known - set(counts.index))
        if gone and c in labels:
            checks.append(
                Check("categories", WARN, f"{c!r} has no rows of class(es) {_quote(gone)}", c)
            )
    return checks or [Check("categories", PASS, "no new or vanished categories")]


def _drift_checks(
    current: pd.DataFrame, reference: pd.DataFrame, kinds: dict[str, str], cardinal: list[str]
) -> list[Check]:
    tested = [c for c in kinds if c not in cardinal]
    if not tested:
        return [Check("drift", PASS, "no column to test")]
    result = table_drift(reference, current, columns=tested, kinds={c: kinds[c] for c in tested})
    checks = []
    for d in result.most_drifted_first():
        if not d.drifted:
            break
        if d.effect_size is None:
            detail = d.note
        else:
            detail = f"{d.effect.upper()} {d.effect_size:.3g}, {d.test} p = {d.p_value:.2g}"
        checks.append(Check("drift", WARN, f"{d.column!r} drifted ({detail})", d.column))
    return checks or [Check("drift", PASS, f"no drift in {len(tested)} column(s)")]


def _image_checks(new: DatasetVersionInfo, ref: DatasetVersionInfo) -> list[Check]:
    if not (new.image_column and ref.image_column):
        return []
    a = columns_of(ref.schema)[ref.image_column]
    b = columns_of(new.schema)[new.image_column]

    def shape(e: dict[str, Any]) -> str:
        w, h = (_span(e[k]) for k in ("width_range", "height_range"))
        return f"{w}x{h} {'/'.join(e['modes'])}"

    if shape(a) != shape(b):
        return [Check("images", FAIL, f"images are {shape(b)}, {shape(a)} in the reference")]
    return [Check("images", PASS, f"images are {shape(b)}, as in the reference")]


def _span(bounds: list[int]) -> str:
    low, high = bounds
    return str(low) if low == high else f"{low}-{high}"


def serving_skew(
    dataset: str | None,
    endpoint: str,
    *,
    since: str | datetime = "24h",
    until: str | datetime | None = None,
    role: str = "primary",
    max_rows: int = DEFAULT_MAX_ROWS,
    missing_tolerance: float = DEFAULT_MISSING_TOLERANCE,
    store: Store | None = None,
) -> ValidationReport:
    """Training/serving skew: the checks on ``endpoint``'s logged inputs in [since, until)
    (ISO times or spans back from now such as "24h"; ``until`` defaults to now) against
    table dataset ``dataset`` (default: the served model's training data).

    The dataset's model inputs are named as the endpoint names them (dict keys, or ``x0 ..
    xN`` for positional rows, following the served model's signature); at most ``max_rows``
    a side are compared, sampled at random. Fields the endpoint redacts are left out. Raises
    NotFound for an unknown endpoint or dataset, InvalidInput for a span without tabular inputs.
    """
    from .. import endpoints
    from ..monitoring.multivariate import check_logged, holds_value, logged_inputs, reference_rows
    from ..monitoring.reference import DATASET_PREFIX
    from ..monitoring.report import parse_time

    store = get_store(store)
    now = datetime.now(UTC)
    start = parse_time(since, now=now)
    end = now if until is None else parse_time(until, now=now)
    endpoints.get(endpoint, store=store)  # NotFound before "nothing logged"
    current = logged_inputs(
        endpoint, since=start, until=end, role=role, limit=max_rows, store=store
    )
    span = f"endpoint {endpoint!r} in role {role!r} from {start.isoformat()} to {end.isoformat()}"
    check_logged(current, span, "since")
    given = None if dataset is None else DATASET_PREFIX + dataset
    description, reference = reference_rows(endpoint, given, max_rows, store)
    redacted = [c for c in current.columns if holds_value(current[c], endpoints.REDACTED)]
    report = validate_table(
        current.drop(columns=redacted),
        reference.drop(columns=redacted, errors="ignore"),
        subject=span,
        against=description.removeprefix(DATASET_PREFIX),
        missing_tolerance=missing_tolerance,
    )
    notes = [report.note] if report.note else []
    if reference.attrs.get("sampled"):
        notes.append(f"a random {len(reference):,} of the reference rows")
    if current.attrs.get("sampled"):
        notes.append(f"a random {len(current):,} of the logged inputs")
    if current.attrs.get("skipped"):
        notes.append(f"{current.attrs['skipped']} logged instance(s) not tabular, skipped")
    if redacted:
        notes.append(f"redacted in the log, left out: {_quote(redacted)}")
    return replace(report, note="; ".join(notes))
