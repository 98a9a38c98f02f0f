"""The results table and the verdicts against the issue's targets."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import _inprod
from _wrk import Load

GOAL_THROUGHPUT, GOAL_P99, GOAL_BATCHING = 0.85, 1.3, 3.0


@dataclass
class Row:
    """One server at one client count: medians over the rounds (wrk runs) it got."""

    server: str
    clients: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rps_min: float
    rps_max: float
    busy_pct: float  # mean share of both cores busy just before each run (others' work)
    load1: float  # mean 1-minute load average at the end of each run
    note: str = ""

    @classmethod
    def of(cls, server: str, clients: int, runs: list[tuple[Load, float, float]]) -> Row:
        loads = [r[0] for r in runs]
        return cls(
            server,
            clients,
            statistics.median(x.rps for x in loads),
            statistics.median(x.p50_ms for x in loads),
            statistics.median(x.p99_ms for x in loads),
            sum(x.errors for x in loads),
            min(x.rps for x in loads),
            max(x.rps for x in loads),
            statistics.fmean(r[1] for r in runs),
            statistics.fmean(r[2] for r in runs),
        )


@dataclass
class Report:
    rounds: int = 1
    duration_s: float = 0.0
    rows: list[Row] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    log_checks: dict[str, dict] = field(default_factory=dict)
    soak: dict | None = None
    profile: str | None = None
    load_before: tuple[float, ...] = ()
    load_after: tuple[float, ...] = ()


def fmt_load(load: tuple[float, ...]) -> str:
    return " / ".join(f"{x:.2f}" for x in load) + " (1/5/15 min)" if load else "?"


def render(report: Report) -> str:
    out = [
        "== serving benchmark: wrk on core 1, server on core 0; medians of "
        f"{report.rounds} interleaved run(s) of {report.duration_s:g} s per cell",
        f"load average before {fmt_load(report.load_before)}, after {fmt_load(report.load_after)}",
        "busy%: both cores' busy share in the second before each run (others' work; 50 = a core)",
        f"{'server':<24}{'clients':>8}{'req/s':>9}{'(min-max)':>14}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'errors':>7}{'busy%':>7}{'load':>6}  note",
    ]
    for r in report.rows:
        spread = f"{r.rps_min:.0f}-{r.rps_max:.0f}"
        out.append(
            f"{r.server:<24}{r.clients:>8}{r.rps:>9.0f}{spread:>14}{r.p50_ms:>9.2f}"
            f"{r.p99_ms:>9.2f}{r.errors:>7}{r.busy_pct:>7.0f}{r.load1:>6.2f}  {r.note}"
        )
    for name, why in report.skipped.items():
        out.append(f"{name:<24} skipped: {why}")
    for name, check in report.log_checks.items():
        out.append(
            f"prediction log ({name}): {check['logged_requests']} predictions answered, "
            f"{check['rows']} rows stored, {check['dropped']} dropped, "
            f"{check['buffered_at_end']} buffered when the load stopped"
        )
    if report.soak:
        s = report.soak
        out.append(
            f"soak: {s['seconds']} s at {s['clients']} clients, {s['rps']:.0f} req/s, "
            f"p99 {s['p99_ms']:.2f} ms; RSS min {s['rss_min_mib']:.1f} MiB, max "
            f"{s['rss_max_mib']:.1f} MiB (first {s['rss_first_mib']:.1f}, last "
            f"{s['rss_last_mib']:.1f}); log: {s['log']['rows']} rows of "
            f"{s['log']['logged_requests']}, {s['log']['dropped']} dropped"
        )
    out.append("")
    out += verdicts(report)
    if report.profile:
        out += ["", "== where inprod's time goes at 32 clients (py-spy --gil)", report.profile]
    return "\n".join(out)


def _row(report: Report, server: str, clients: int) -> Row | None:
    return next((r for r in report.rows if r.server == server and r.clients == clients), None)


def verdicts(report: Report) -> list[str]:
    out = []

    def say(ok: bool, text: str) -> None:
        out.append(f"[{'PASS' if ok else 'MISS'}] {text}")

    ceiling, inprod = _row(report, "ceiling", 32), _row(report, "inprod", 32)
    if ceiling and inprod:
        ratio = inprod.rps / ceiling.rps
        say(
            ratio >= GOAL_THROUGHPUT,
            f"inprod throughput at 32 clients {ratio:.2f}x the ceiling (goal >= {GOAL_THROUGHPUT})",
        )
        p99 = inprod.p99_ms / ceiling.p99_ms
        say(
            p99 <= GOAL_P99,
            f"inprod p99 at 32 clients {p99:.2f}x the ceiling's (goal <= {GOAL_P99})",
        )
    for peer in ("mlflow", "bentoml"):
        for clients in sorted({r.clients for r in report.rows if r.server == "inprod"}):
            ours, theirs = _row(report, "inprod", clients), _row(report, peer, clients)
            if ours and theirs:
                say(
                    ours.rps > theirs.rps,
                    f"inprod ahead of {peer} at {clients} clients: "
                    f"{ours.rps / theirs.rps:.2f}x the req/s",
                )
    for model in _inprod.BATCHING_MODELS:
        on = _row(report, f"inprod {_inprod.batching_endpoint(model, _inprod.BATCH_ON)}", 64)
        off = _row(report, f"inprod {_inprod.batching_endpoint(model, _inprod.BATCH_OFF)}", 64)
        if on and off:
            text = f"batching {model} at 64 clients: {on.rps / off.rps:.2f}x no batching"
            if model == "fixed-cost":
                say(on.rps / off.rps >= GOAL_BATCHING, f"{text} (goal >= {GOAL_BATCHING})")
            else:
                out.append(f"[INFO] {text} (the model's call is cheap next to a request)")
    checks = list(report.log_checks.values()) + ([report.soak["log"]] if report.soak else [])
    if checks:
        lost = sum(c["dropped"] for c in checks)
        missing = sum(c["logged_requests"] - c["rows"] for c in checks)
        say(lost == 0 and missing == 0, f"prediction log: {lost} dropped, {missing} missing rows")
    return out
