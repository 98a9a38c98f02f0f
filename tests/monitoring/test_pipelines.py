"""Pipelines: definitions, function stages, one trace, and the view joining stages by trace id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from inprod import endpoints, models
from inprod.cli import pipeline as pipeline_cli
from inprod.errors import Conflict, InvalidInput, NotFound
from inprod.monitoring import pipelines, rollups
from inprod.monitoring.windows import WindowAggregator, read_profiles
from inprod.serving.tap import PredictionLog
from inprod.store import Store
from inprod.store.tables import AuditEvent, Prediction

T0 = datetime(2026, 11, 25, 12, 0, 5, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def speech(store: Store) -> Store:
    """Endpoints vad-ep and asr-ep (python callables; never called here) and pipeline speech."""
    models.register("toy", flavor="python", callable_ref="json:dumps", store=store)
    for name in ("vad-ep", "asr-ep"):
        endpoints.create(name, "toy@1", store=store)
    pipelines.create("speech", ["vad=vad-ep", "asr=asr-ep"], actor="ana", store=store)
    return store


def _served(tap: PredictionLog, endpoint: str, when: datetime, trace_id: str | None, *,
            output: float | str, confidence: float | None = None, latency_ms: float = 10.0,
            role: str = "primary", version: int = 1) -> None:  # fmt: skip
    """One prediction as the server logs it (one record per instance, in the tap's order)."""
    row = {"output": output} if confidence is None else {"output": output, "confidence": confidence}
    tap.record((uuid.uuid4().hex, when, endpoint, "toy", version, role, None, None, trace_id,
                [1.0, 2.0], row, confidence, latency_ms, "ok", None, None))  # fmt: skip


def _two_windows(store: Store) -> None:
    """Window 1: 4 traces, clips of 2 s, 3 reach asr (confidence 0.9). Window 2: 3 traces, clips
    of 1 s, 2 reach asr (confidence 0.5). asr answers 100 ms after vad, in 30 ms; vad takes 10 ms,
    so each complete trace takes 110 ms end to end. Shadows and canaries are logged too."""
    tap = PredictionLog(store, windows=WindowAggregator(replica="test"))
    for window, (traces, reach, clip, conf) in enumerate([(4, 3, 2.0, 0.9), (3, 2, 1.0, 0.5)]):
        for i in range(traces):
            when = T0 + window * MINUTE + timedelta(seconds=i)
            trace_id = f"w{window}-t{i}"
            role = "canary" if i == 0 else "primary"  # canaries feed the next stage too
            _served(tap, "vad-ep", when, trace_id, output=clip, role=role, version=1 + (i == 0))
            _served(tap, "vad-ep", when, trace_id, output=99.0, role="shadow")  # goes nowhere
            if i < reach:
                _served(tap, "asr-ep", when + timedelta(milliseconds=100), trace_id,
                        output="yes", confidence=conf, latency_ms=30.0)  # fmt: skip
    _served(tap, "vad-ep", T0, None, output=2.0)  # a client that sent no trace id
    tap.close()


# -- definitions --------------------------------------------------------------------------------


def test_a_pipeline_keeps_its_stages_in_order_and_the_change_is_audited(speech: Store) -> None:
    info = pipelines.get("speech", store=speech)
    assert [(s.name, s.endpoint, s.logged_as) for s in info.stages] == [
        ("vad", "vad-ep", "vad-ep"),
        ("asr", "asr-ep", "asr-ep"),
    ]
    assert info.created_by == "ana"
    with_function = pipelines.create(
        "speech-post", [("vad", "vad-ep"), ("post", "py:mypkg.post:clean")], store=speech
    )
    post = with_function.stage("post")
    assert (post.function, post.logged_as) == ("mypkg.post:clean", "speech-post/post")
    assert post.to_dict() == {
        "name": "post", "function": "mypkg.post:clean", "logged_as": "speech-post/post"
    }  # fmt: skip
    assert [p.name for p in pipelines.list_pipelines(store=speech)] == ["speech", "speech-post"]
    with speech.session(write=False) as s:  # monitors may watch a function stage by this name
        assert pipelines.is_function_stage(s, "speech-post/post")
        assert not pipelines.is_function_stage(s, "speech-post/vad")  # an endpoint stage
        assert not pipelines.is_function_stage(s, "speech/post")
        assert not pipelines.is_function_stage(s, "vad-ep")
    pipelines.delete("speech-post", actor="bo", store=speech)
    with speech.session(write=False) as s:
        events = s.execute(
            select(AuditEvent.kind, AuditEvent.actor, AuditEvent.subject).order_by(AuditEvent.id)
        ).all()
    assert [tuple(e) for e in events if e.subject.startswith("pipeline:")] == [
        ("pipeline.created", "ana", "pipeline:speech"),
        ("pipeline.created", events[-2].actor, "pipeline:speech-post"),
        ("pipeline.deleted", "bo", "pipeline:speech-post"),
    ]
    with pytest.raises(NotFound, match="did you mean 'speech'"):
        pipelines.get("speach", store=speech)


@pytest.mark.parametrize(
    ("name", "stages", "message"),
    [
        ("p", [], "at least one stage"),
        ("p", ["vad"], "not NAME=ENDPOINT"),
        ("p", ["vad=vad-ep", "vad=asr-ep"], "'vad' is used twice"),
        ("p", ["vad=vad-edp"], "no endpoint 'vad-edp'; did you mean 'vad-ep'"),
        ("p", ["a=vad-ep", "b=vad-ep"], "both stage 'a' and stage 'b'"),
        ("p", ["bad stage=vad-ep"], "stage name 'bad stage' is not allowed"),
        ("p", ["post=py:not a function"], "stage 'post': callable"),
        ("bad/name", ["vad=vad-ep"], "pipeline name 'bad/name' is not allowed"),
        ("p" * 150, ["s" * 60 + "=py:m:f"], "at most 200 characters"),
    ],
)
def test_a_bad_definition_is_refused_naming_what_to_fix(
    speech: Store, name: str, stages: list[str], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        pipelines.create(name, stages, store=speech)
    assert [p.name for p in pipelines.list_pipelines(store=speech)] == ["speech"]


def test_a_taken_name_is_a_conflict(speech: Store) -> None:
    with pytest.raises(Conflict, match="already exists"):
        pipelines.create("speech", ["vad=vad-ep"], store=speech)


# -- function stages ------------------------------------------------------------------------------


def test_a_function_stage_is_logged_and_profiled_like_an_endpoint(speech: Store) -> None:
    pipelines.create("spoken", ["vad=vad-ep", "post=py:mypkg.post:clean"], store=speech)
    ids = [
        pipelines.log_stage(
            "spoken",
            "post",
            trace_id=f"t{i}",
            inputs={"chars": 10 + i},
            outputs=float(i),
            latency_ms=2.0,
            confidence=0.5 + i / 10,
            when=T0 + timedelta(seconds=i),
            store=speech,
        )
        for i in range(3)
    ]
    pipelines.log_stage("spoken", "post", trace_id="t9", inputs={"chars": 1}, outputs=None,
                        latency_ms=1.0, status="error", when=T0, store=speech)  # fmt: skip
    pipelines.flush_stages(store=speech)
    with speech.session(write=False) as s:
        rows = s.scalars(select(Prediction).where(Prediction.id.in_(ids)).order_by("time")).all()
        assert [(r.endpoint, r.stage, r.model_name, r.model_version, r.trace_id) for r in rows] == [
            ("spoken/post", "post", "mypkg.post:clean", 0, f"t{i}") for i in range(3)
        ]
        assert rows[2].outputs == {"output": 2.0, "confidence": 0.7}
    profiles = read_profiles("spoken/post", since=T0 - MINUTE, until=T0 + MINUTE, store=speech)
    summary = profiles[("mypkg.post:clean", 0, "primary")].summary()
    assert (summary["requests"], summary["errors"]) == (4, 1)
    assert summary["outputs"]["mean_value"] == pytest.approx(1.0)
    assert summary["features"]["chars"]["mean"] == pytest.approx((10 + 11 + 12 + 1) / 4)


def test_log_stage_refuses_what_it_cannot_log(speech: Store) -> None:
    pipelines.create("spoken", ["vad=vad-ep", "post=py:m:f"], store=speech)
    ok = {"inputs": [1.0], "outputs": 1.0, "latency_ms": 1.0, "store": speech}
    with pytest.raises(InvalidInput, match="send the trace id in the X-Trace-Id header"):
        pipelines.log_stage("spoken", "vad", trace_id="t", **ok)
    with pytest.raises(NotFound, match="no stage 'pots'; did you mean 'post'"):
        pipelines.log_stage("spoken", "pots", trace_id="t", **ok)
    with pytest.raises(NotFound, match="no pipeline 'spokn'"):
        pipelines.log_stage("spokn", "post", trace_id="t", **ok)
    with pytest.raises(InvalidInput, match="1 to 64 characters"):
        pipelines.log_stage("spoken", "post", trace_id="x" * 65, **ok)
    with pytest.raises(InvalidInput, match="must be >= 0"):
        pipelines.log_stage("spoken", "post", trace_id="t", **{**ok, "latency_ms": -1.0})
    with pytest.raises(InvalidInput, match="not one of ok, error"):
        pipelines.log_stage("spoken", "post", trace_id="t", status="meh", **ok)
    pipelines.flush_stages(store=speech)
    with speech.session(write=False) as s:
        assert s.scalars(select(Prediction.id)).all() == []


# -- one trace ----------------------------------------------------------------------------------


def test_a_trace_lists_each_stage_in_order_with_shadows_marked(speech: Store) -> None:
    _two_windows(speech)
    trace = pipelines.trace("speech", "w0-t1", store=speech)
    vad, asr = trace.stages["vad"], trace.stages["asr"]
    assert list(trace.stages) == ["vad", "asr"]
    assert sorted(r.role for r in vad) == ["primary", "shadow"]
    assert [(r.outputs["output"], r.confidence) for r in asr] == [("yes", 0.9)]
    stopped = pipelines.trace("speech", "w0-t3", store=speech)
    assert stopped.stages["asr"] == [] and len(stopped.stages["vad"]) == 2
    assert stopped.to_dict()["stages"][1] == {"stage": "asr", "predictions": []}
    with pytest.raises(NotFound, match="no stage of pipeline 'speech' logged trace 'nope'"):
        pipelines.trace("speech", "nope", store=speech)


# -- the view -----------------------------------------------------------------------------------


def test_the_view_shows_the_upstream_change_next_to_the_downstream_metrics(speech: Store) -> None:
    _two_windows(speech)
    view = pipelines.pipeline_view(
        "speech", since=T0 - MINUTE, until=T0 + 3 * MINUTE, store=speech,
        metrics={"vad": ["requests", "output.value.mean"]},
    )  # fmt: skip
    assert [w.start for w in view.windows] == [T0.replace(second=0), T0.replace(second=0) + MINUTE]
    first, second = view.windows
    # stage 1: served traffic only (primary and canary), shadows left out
    assert first.stages["vad"].metrics == {"requests": 5.0, "output.value.mean": 2.0}
    assert first.stages["vad"].versions == ["toy@1 primary", "toy@2 canary"]
    assert second.stages["vad"].metrics["output.value.mean"] == 1.0
    # stage 2, next to it: the default metrics
    assert first.stages["asr"].metrics["output.confidence.mean"] == pytest.approx(0.9)
    assert second.stages["asr"].metrics["output.confidence.mean"] == pytest.approx(0.5)
    assert first.stages["asr"].summary["requests"] == 3
    # the join: traces with an id only; 110 ms end to end (10 ms vad + 100 ms later, 30 ms asr)
    assert (first.join.traces, first.join.sampled, first.join.completed) == (4, False, 3)
    assert first.join.reached == {"vad": 4, "asr": 3}
    assert first.join.stopped_after == {"vad": 1}
    assert first.join.latency_ms["p50"] == pytest.approx(110.0)
    assert second.join.reached == {"vad": 3, "asr": 2}
    assert view.to_dict()["windows"][1]["join"]["stopped_after"] == {"vad": 1}


def test_wider_windows_merge_profiles_and_the_join_samples_a_bounded_number(
    speech: Store,
) -> None:
    _two_windows(speech)
    start = T0.replace(second=0)
    view = pipelines.pipeline_view(
        "speech", since=start, until=start + 2 * MINUTE, window_s=120, max_traces=5, store=speech
    )
    (only,) = view.windows
    assert only.stages["vad"].metrics["requests"] == 8.0
    assert only.stages["vad"].metrics["output.value.mean"] == pytest.approx((5 * 2 + 3 * 1) / 8)
    assert (only.join.traces, only.join.sampled) == (5, True)
    # the sample is the first 5 trace ids: w0-t0..t3 (t3 stopped after vad) and w1-t0
    assert only.join.reached == {"vad": 5, "asr": 4}
    assert only.join.stopped_after == {"vad": 1}


def test_hour_rollups_stand_in_for_their_minutes_without_counting_twice(speech: Store) -> None:
    _two_windows(speech)
    assert rollups.roll_up(now=T0 + 2 * timedelta(hours=1), store=speech) > 0
    hour = T0.replace(minute=0, second=0)
    view = pipelines.pipeline_view(
        "speech", since=hour, until=hour + timedelta(hours=1), window_s=3600, store=speech
    )
    (only,) = view.windows
    assert only.stages["vad"].metrics["requests"] == 8.0
    assert only.stages["asr"].metrics["requests"] == 5.0
    minutes = pipelines.pipeline_view("speech", since=hour, until=hour + 2 * MINUTE, store=speech)
    assert [w.stages["vad"].metrics["requests"] for w in minutes.windows] == [5.0, 3.0]


def test_the_view_refuses_metrics_and_spans_it_cannot_show(speech: Store) -> None:
    span = {"since": T0, "until": T0 + MINUTE, "store": speech}
    with pytest.raises(InvalidInput, match="not computed from window profiles"):
        pipelines.pipeline_view("speech", metrics={"asr": ["accuracy"]}, **span)
    with pytest.raises(NotFound, match="no stage 'asrr'"):
        pipelines.pipeline_view("speech", metrics={"asrr": ["requests"]}, **span)
    with pytest.raises(InvalidInput, match="at most 500"):
        pipelines.pipeline_view("speech", since=T0, until=T0 + timedelta(days=1), window_s=60,
                                store=speech)  # fmt: skip
    with pytest.raises(InvalidInput, match="at least 1 second"):
        pipelines.pipeline_view("speech", window_s=0, **span)
    assert pipelines.pipeline_view("speech", **span).windows == []


def test_a_span_is_a_duration_back_from_now_or_iso_times() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert pipelines.resolve_span("90m", now=now) == (now - timedelta(minutes=90), now)
    since, until = pipelines.resolve_span("2026-11-25T10:00", "2026-11-25T12:30+01:00", now=now)
    assert since == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # no zone: UTC
    assert until == datetime(2026, 11, 25, 11, 30, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="not a duration"):
        pipelines.resolve_span("yesterday", now=now)
    with pytest.raises(InvalidInput, match="must be before until"):
        pipelines.resolve_span("2026-11-25T13:00", now=now)
    with pytest.raises(InvalidInput, match="not a time"):
        pipelines.resolve_span("1h", "soon", now=now)
    assert pipelines.parse_stage_metrics(["vad=requests", "vad=error_rate"]) == {
        "vad": ["requests", "error_rate"]
    }
    with pytest.raises(InvalidInput, match="not STAGE=METRIC"):
        pipelines.parse_stage_metrics(["requests"])


# -- the command line ---------------------------------------------------------------------------


def test_the_commands_create_show_view_trace_and_delete(speech: Store) -> None:
    _two_windows(speech)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(pipeline_cli.app, list(args))
        assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
        return result.output

    assert "vad (vad-ep) → post (m:f)" in run(
        "create", "two", "-s", "vad=vad-ep", "-s", "post=py:m:f"
    )
    assert "two/post" in run("show", "two")
    assert "speech" in run("list")
    since = (T0 - MINUTE).isoformat()
    table = run("view", "speech", "--since", since, "--until", (T0 + 3 * MINUTE).isoformat(),
                "--metric", "vad=output.value.mean")  # fmt: skip
    # one row a window (the console may be narrow: check tokens that never wrap)
    assert "pipeline speech" in table and "(25%)" in table and "(33%)" in table
    assert '"stopped_after"' in run(
        "view", "speech", "--since", since, "--until", "2026-11-25T13:00", "--json"
    )
    assert "(not reached)" in run("trace", "speech", "w0-t3")
    assert "deleted pipeline two" in run("delete", "two")
