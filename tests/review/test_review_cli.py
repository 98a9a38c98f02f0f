"""``inprod review``: next, decide, release, show, list and stats from the command line, and the
one-line errors a reviewer sees."""

from __future__ import annotations

import json

import pytest
from review_helpers import ENDPOINT, classifier, expire_lease, put_task, snapshot
from sqlalchemy import select

from inprod.provenance import current_user
from inprod.review import queue
from inprod.store import Store
from inprod.store.tables import Feedback


@pytest.fixture
def served(store: Store) -> Store:
    classifier(store)
    return store


def test_next_shows_the_task_and_claims_it_for_the_current_user(cli, served: Store) -> None:
    task_id = put_task(served, reason="disagreement")
    out = cli.ok("review", "next").stdout
    for text in (task_id, "disagreement", ENDPOINT, "inspector@1", "0.55", "f1", "-1.5"):
        assert text in out, text
    assert f"inprod review decide {task_id} LABEL" in out
    assert queue.get_task(task_id, store=served).claimed_by == current_user()
    shown = json.loads(cli.ok("review", "next", "--json").stdout)
    assert (shown["id"], shown["status"], shown["answer"]) == (task_id, "claimed", 1)
    assert json.loads(cli.ok("review", "next", "--reviewer", "bob", "--json").stdout) is None


def test_a_disagreement_shows_both_answers_and_a_human_task_says_the_model_was_not_asked(
    cli, served: Store
) -> None:
    both = {"output": 1, "confidence": 0.7, "shadow": {"output": 0, "confidence": 0.8}}
    put_task(served, age_s=20, reason="disagreement", outputs=both)
    put_task(served, age_s=10, reason="human", outputs=None)
    shown = cli.ok("review", "next", "-r", "alice").stdout
    assert "shadow's answer" in shown and "0 (0.8)" in shown
    shown = cli.ok("review", "next", "-r", "bob").stdout
    assert "human" in shown and "(not asked)" in shown and "shadow's" not in shown


def test_next_on_an_empty_queue_says_so_and_succeeds(cli, served: Store) -> None:
    assert "the queue is empty" in cli.ok("review", "next").stdout
    assert (
        "the queue for phone-inspector is empty"
        in cli.ok("review", "next", "--endpoint", ENDPOINT).stdout
    )


def test_decide_stores_the_label_with_the_models_class_type(cli, served: Store) -> None:
    task_id = put_task(served)
    cli.ok("review", "next", "--reviewer", "alice")
    out = cli.ok("review", "decide", task_id, "1", "--reviewer", "alice", "--note", "ok").stdout
    assert f"decided task {task_id}: 1 by alice (agrees with the model)" in out
    with served.session(write=False) as s:
        [fb] = s.scalars(select(Feedback)).all()
    assert (fb.label, fb.source, fb.details["note"]) == (1, "review:alice", "ok")
    other = put_task(served)
    decided = json.loads(cli.ok("review", "decide", other, "0", "--json").stdout)
    assert (decided["decision"], decided["decided_by"]) == (0, current_user())
    assert "decision" in cli.ok("review", "show", other).stdout


def test_decide_refusals_are_one_line_errors_that_change_nothing(cli, served: Store) -> None:
    task_id = put_task(served)
    cli.ok("review", "next", "--reviewer", "alice")
    before = snapshot(served)
    wrong = "label 'scratch' is not one of the classes of model inspector@1: 0, 1"
    cli.fails("review", "decide", task_id, "scratch", "-r", "alice", match=wrong)
    cli.fails("review", "decide", task_id, "1", "-r", "bob", match="is claimed by 'alice'")
    cli.fails("review", "decide", "f" * 32, "1", match="no review task 'ffff")
    assert snapshot(served) == before
    expire_lease(served, task_id)
    before = snapshot(served)
    cli.fails("review", "decide", task_id, "1", "-r", "alice",
              match="take it again with 'inprod review next'")  # fmt: skip
    assert snapshot(served) == before
    cli.ok("review", "decide", task_id, "1", "-r", "bob")
    cli.fails("review", "decide", task_id, "0", "-r", "bob", match="already decided by 'bob'")


def test_release_gives_a_task_back(cli, served: Store) -> None:
    task_id = put_task(served)
    cli.ok("review", "next", "-r", "alice")
    cli.fails("review", "release", task_id, "-r", "bob", match="not by 'bob'")
    assert "it is open again" in cli.ok("review", "release", task_id, "-r", "alice").stdout
    assert queue.get_task(task_id, store=served).status == "open"


def test_list_shows_tasks_and_filters_by_status(cli, served: Store) -> None:
    waiting = put_task(served, age_s=20)
    done = put_task(served, age_s=30, status="decided", decision=0, decided_by="carol")
    table = cli.ok("review", "list").stdout
    assert waiting in table and done in table and "carol" in table and "1 (0.55)" in table
    listed = json.loads(cli.ok("review", "list", "--status", "open", "--json").stdout)
    assert [t["id"] for t in listed] == [waiting]
    listed = json.loads(cli.ok("review", "list", "-s", "decided", "-e", ENDPOINT, "--json").stdout)
    assert [(t["id"], t["decision"]) for t in listed] == [(done, 0)]
    cli.fails("review", "list", "--status", "done", match="is not one of open, claimed, decided")
    cli.fails("review", "list", "--limit", "0", match="between 1 and 1000")


def test_stats_show_depth_reasons_and_reviewer_agreement(cli, served: Store) -> None:
    put_task(served, age_s=90)
    put_task(served, age_s=10, reason="audit")
    put_task(served, status="decided", decision=1, decided_by="alice")
    put_task(served, status="decided", decision=0, decided_by="alice")
    result = json.loads(cli.ok("review", "stats", "--json").stdout)
    assert (result["open"], result["claimed"], result["decided"]) == (2, 0, 2)
    assert result["by_reason"] == {"audit": 1, "low_confidence": 3}
    assert result["reviewers"] == [
        {"reviewer": "alice", "decided": 2, "compared": 2, "agreed": 1, "agreement": 0.5}
    ]
    assert 85 <= result["oldest_open_age_s"] < 120
    out = cli.ok("review", "stats", "--endpoint", ENDPOINT).stdout
    assert "2 open, 0 claimed, 2 decided" in out and "oldest open task waits" in out
    assert "alice" in out and "50.0%" in out and "audit" in out


def test_unknown_queues_and_reasons_get_suggestions(cli, served: Store) -> None:
    cli.fails("review", "next", "--endpoint", "phone-inspektor", match="did you mean")
    cli.fails("review", "stats", "--endpoint", "nope", match="no endpoint 'nope'")
    cli.fails("review", "next", "--reason", "lowconfidence", match="low_confidence")
    cli.fails("review", "show", "nope", match="no review task 'nope'")
