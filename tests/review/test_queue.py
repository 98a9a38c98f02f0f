"""The review queue: claims with leases (oldest first, never shared), decisions that become
feedback and annotations in one transaction, refusals that change nothing, and the stats."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from review_helpers import ENDPOINT, MODEL, classifier, expire_lease, put_task, snapshot
from sqlalchemy import select

from inprod import endpoints
from inprod.errors import Conflict, InvalidInput, NotFound, Unprocessable
from inprod.review import queue
from inprod.store import Store
from inprod.store.tables import Annotation, Feedback


@pytest.fixture
def served(store: Store) -> Store:
    classifier(store)
    return store


def test_next_claims_the_oldest_open_task_with_a_lease(served: Store) -> None:
    middle = put_task(served, age_s=20)
    oldest = put_task(served, age_s=30)
    put_task(served, age_s=10)
    put_task(served, age_s=40, status="decided", decision=1, decided_by="carol")
    before = datetime.now(UTC)
    task = queue.next_task(reviewer="alice", lease_s=60, store=served)
    assert task is not None and task.id == oldest
    assert (task.status, task.claimed_by) == ("claimed", "alice")
    assert (
        before + timedelta(seconds=60)
        <= task.lease_until
        <= datetime.now(UTC) + timedelta(seconds=60)
    )
    assert queue.get_task(oldest, store=served).status == "claimed"
    assert queue.next_task(reviewer="bob", store=served).id == middle


def test_the_default_lease_comes_from_the_settings(served: Store) -> None:
    put_task(served)
    assert served.settings is not None
    task = queue.next_task(reviewer="alice", store=served)
    lease = (task.lease_until - datetime.now(UTC)).total_seconds()
    assert served.settings.review_lease_seconds - 5 < lease <= served.settings.review_lease_seconds


def test_a_reviewer_holding_a_task_gets_the_same_task_back(served: Store) -> None:
    first, second = put_task(served, age_s=20), put_task(served, age_s=10)
    held = queue.next_task(reviewer="alice", lease_s=60, store=served)
    again = queue.next_task(reviewer="alice", lease_s=120, store=served)
    assert held.id == again.id == first
    assert again.lease_until > held.lease_until  # reloading renews the lease
    assert queue.next_task(reviewer="bob", store=served).id == second
    assert queue.next_task(reviewer="carol", store=served) is None


def test_an_empty_queue_gives_none(served: Store) -> None:
    assert queue.next_task(reviewer="alice", store=served) is None
    assert queue.next_task(reviewer="alice", endpoint=ENDPOINT, store=served) is None


def test_two_reviewers_in_two_threads_never_get_the_same_task(served: Store) -> None:
    ids = {put_task(served, age_s=100 - i) for i in range(20)}
    taken: dict[str, list[str]] = {"alice": [], "bob": []}
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def work(reviewer: str) -> None:
        try:
            start.wait()
            while (task := queue.next_task(reviewer=reviewer, store=served)) is not None:
                taken[reviewer].append(task.id)
                queue.decide(task.id, "1", reviewer=reviewer, store=served)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    alice, bob = taken["alice"], taken["bob"]
    assert len(alice) + len(bob) == 20
    assert set(alice) | set(bob) == ids and not set(alice) & set(bob)
    decided = queue.list_tasks(status="decided", limit=100, store=served)
    assert sorted(t.id for t in decided) == sorted(ids)
    assert {t.id: t.decided_by for t in decided} == {
        **{i: "alice" for i in alice},
        **{i: "bob" for i in bob},
    }


def test_an_expired_lease_lets_another_reviewer_claim_the_task(served: Store) -> None:
    task_id = put_task(served)
    queue.next_task(reviewer="alice", store=served)
    assert queue.next_task(reviewer="bob", store=served) is None
    expire_lease(served, task_id)
    assert queue.get_task(task_id, store=served).status == "open"
    assert [t.id for t in queue.list_tasks(status="open", store=served)] == [task_id]
    taken = queue.next_task(reviewer="bob", store=served)
    assert (taken.id, taken.claimed_by, taken.status) == (task_id, "bob", "claimed")
    with pytest.raises(Conflict, match="claimed by 'bob' until"):
        queue.decide(task_id, 0, reviewer="alice", store=served)


def test_release_gives_the_task_back_and_only_its_holder_may(served: Store) -> None:
    task_id = put_task(served)
    queue.next_task(reviewer="alice", store=served)
    with pytest.raises(Conflict, match="held by 'alice', not by 'bob'"):
        queue.release(task_id, reviewer="bob", store=served)
    released = queue.release(task_id, reviewer="alice", store=served)
    assert (released.status, released.claimed_by, released.lease_until) == ("open", None, None)
    with pytest.raises(Conflict, match="held by nobody"):
        queue.release(task_id, reviewer="alice", store=served)
    assert queue.next_task(reviewer="bob", store=served).id == task_id
    queue.decide(task_id, 1, reviewer="bob", store=served)
    with pytest.raises(Conflict, match="already decided"):
        queue.release(task_id, reviewer="bob", store=served)


def test_next_takes_only_the_queue_and_reason_asked_for(served: Store) -> None:
    endpoints.create("line-b", f"{MODEL}@1", store=served)
    audit = put_task(served, age_s=50, reason="audit")
    other = put_task(served, age_s=40, endpoint="line-b")
    low = put_task(served, age_s=30)
    assert queue.next_task(reviewer="a", endpoint="line-b", store=served).id == other
    assert queue.next_task(reviewer="b", reason="low_confidence", store=served).id == low
    assert queue.next_task(reviewer="c", endpoint=ENDPOINT, store=served).id == audit
    assert queue.next_task(reviewer="d", endpoint=ENDPOINT, store=served) is None


def test_next_passes_over_the_tasks_a_reviewer_skipped(served: Store) -> None:
    oldest = put_task(served, age_s=30)
    newer = put_task(served, age_s=20)
    assert queue.next_task(reviewer="alice", store=served).id == oldest
    queue.release(oldest, reviewer="alice", store=served)  # skipped: the oldest again
    assert queue.next_task(reviewer="alice", skip=[oldest], store=served).id == newer
    assert queue.next_task(reviewer="bob", store=served).id == oldest  # others still get it
    assert queue.next_task(reviewer="carol", skip=[newer], store=served) is None


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"endpoint": "phone-inspektor"}, NotFound, "did you mean 'phone-inspector'"),
        ({"reason": "low-confidence"}, InvalidInput, "did you mean 'low_confidence'"),
        ({"reviewer": ""}, InvalidInput, "must be a name of 1 to 100"),
        ({"reviewer": "a\nb"}, InvalidInput, "printable"),
        ({"lease_s": 0}, InvalidInput, "above 0"),
        ({"skip": ["not-a-task-id"]}, InvalidInput, "32 hex digits"),
    ],
)
def test_next_refuses_bad_filters_and_claims_nothing(served: Store, options, error, match) -> None:
    put_task(served)
    before = snapshot(served)
    with pytest.raises(error, match=match):
        queue.next_task(**{"reviewer": "alice", **options}, store=served)
    assert snapshot(served) == before


def test_a_decision_becomes_feedback_and_an_annotation(served: Store) -> None:
    task_id = put_task(served, reason="disagreement")
    queue.next_task(reviewer="alice", store=served)
    decided = queue.decide(task_id, "0", reviewer="alice", note="dark image", store=served)
    assert decided.status == "decided"
    assert (decided.decision, decided.decided_by, decided.agrees) == (0, "alice", False)
    assert decided.decided_at is not None and decided.lease_until is None
    stored = queue.get_task(task_id, store=served)
    assert (stored.status, stored.decision, stored.decided_by) == ("decided", 0, "alice")
    with served.session(write=False) as s:
        [fb] = s.scalars(select(Feedback)).all()
        [ann] = s.scalars(select(Annotation)).all()
    assert fb.prediction_id == decided.prediction_id
    assert fb.label == 0 and type(fb.label) is int  # the model's class type, not the text "0"
    assert fb.source == "review:alice"
    assert fb.details == {"review_task": task_id, "reason": "disagreement", "note": "dark image"}
    assert (ann.example_id, ann.prediction_id) == (decided.prediction_id, decided.prediction_id)
    assert (ann.labeler, ann.label, ann.source, ann.dataset) == ("alice", 0, "review", None)
    assert ann.details == {"endpoint": ENDPOINT, "review_task": task_id}


def test_a_task_nobody_holds_may_be_decided_directly(served: Store) -> None:
    task_id = put_task(served)
    decided = queue.decide(task_id, 1, reviewer="bob", store=served)
    assert (decided.status, decided.claimed_by, decided.decided_by) == ("decided", "bob", "bob")
    assert decided.agrees is True
    assert queue.next_task(reviewer="alice", store=served) is None


def test_deciding_twice_is_refused_naming_who_decided_and_changes_nothing(served: Store) -> None:
    task_id = put_task(served)
    queue.decide(task_id, 1, reviewer="alice", store=served)
    before = snapshot(served)
    with pytest.raises(Conflict, match=r"already decided by 'alice' at \d{4}-\d\d-\d\d .*final"):
        queue.decide(task_id, 0, reviewer="alice", store=served)
    with pytest.raises(Conflict, match="already decided by 'alice'"):
        queue.decide(task_id, 1, reviewer="bob", store=served)
    assert snapshot(served) == before


def test_deciding_after_your_lease_expired_is_refused(served: Store) -> None:
    task_id = put_task(served)
    queue.next_task(reviewer="alice", store=served)
    expire_lease(served, task_id)
    before = snapshot(served)
    with pytest.raises(Conflict) as caught:
        queue.decide(task_id, 1, reviewer="alice", store=served)
    assert re.search(
        r"your lease on review task \w+ expired at .*UTC; take it again with 'inprod review next'",
        caught.value.message,
    )
    assert snapshot(served) == before


def test_deciding_a_task_someone_else_holds_is_refused(served: Store) -> None:
    task_id = put_task(served)
    queue.next_task(reviewer="alice", store=served)
    before = snapshot(served)
    with pytest.raises(Conflict, match=r"claimed by 'alice' until .* take another one"):
        queue.decide(task_id, 1, reviewer="bob", store=served)
    assert snapshot(served) == before


@pytest.mark.parametrize(
    "task_id, label, error, match",
    [
        (None, "scratch", Unprocessable, r"not one of the classes of model inspector@1: 0, 1"),
        (None, 2, Unprocessable, "0, 1"),
        (None, None, InvalidInput, "plain value"),
        (None, ["1"], InvalidInput, "plain value"),
        (None, " ", InvalidInput, "plain value"),
        (None, float("nan"), InvalidInput, "plain value"),
        ("0" * 32, 1, NotFound, "no review task '000"),
        ("../etc", 1, NotFound, "see the tasks with 'inprod review list'"),
    ],
)
def test_bad_decisions_are_refused_and_change_nothing(
    served: Store, task_id, label, error, match
) -> None:
    task = put_task(served)
    queue.next_task(reviewer="alice", store=served)
    before = snapshot(served)
    with pytest.raises(error, match=match):
        queue.decide(task_id or task, label, reviewer="alice", store=served)
    assert snapshot(served) == before


def test_labels_are_free_when_the_model_lists_no_classes(served: Store) -> None:
    task_id = put_task(served)
    with served.session() as s:  # a model the registry does not know (say, an external labeler)
        from inprod.store.tables import ReviewTask as Row

        s.get(Row, task_id).model_name = "unregistered"
    assert queue.decide(task_id, "scratch", reviewer="alice", store=served).decision == "scratch"


def test_add_task_queues_a_prediction_from_outside_the_server(served: Store) -> None:
    prediction = "ab" * 16
    task = queue.add_task(
        prediction,
        endpoint=ENDPOINT,
        model_name=MODEL,
        model_version=1,
        reason="audit",
        inputs={"f0": 1.0},
        outputs={"output": 0},
        confidence=0.97,
        store=served,
    )
    assert re.fullmatch(r"[0-9a-f]{32}", task.id) and task.status == "open"
    assert task.to_dict()["answer"] == 0 and task.to_dict()["model"] == "inspector@1"
    assert queue.next_task(reviewer="alice", store=served).id == task.id
    with pytest.raises(InvalidInput, match="32-character hex"):
        queue.add_task("p1", endpoint=ENDPOINT, model_name=MODEL, model_version=1,
                       reason="audit", store=served)  # fmt: skip
    with pytest.raises(InvalidInput, match="is not one of low_confidence"):
        queue.add_task(prediction, endpoint=ENDPOINT, model_name=MODEL, model_version=1,
                       reason="why-not", store=served)  # fmt: skip
    assert len(queue.list_tasks(store=served)) == 1


def test_a_dataset_example_takes_any_label_even_if_a_model_shares_its_name(
    served: Store,
) -> None:
    """The "model" of a dataset's task is the dataset version; model inspector@1's classes
    (0, 1) must not refuse a label for dataset "inspector" version 1's example."""
    task = queue.add_task("cd" * 16, endpoint="dataset:inspector", model_name=MODEL,
                          model_version=1, reason="label_issue", store=served)  # fmt: skip
    decided = queue.decide(task.id, "scratch", reviewer="alice", store=served)
    assert decided.decision == "scratch"
    served_task = queue.add_task("ef" * 16, endpoint=ENDPOINT, model_name=MODEL,
                                 model_version=1, reason="audit", store=served)  # fmt: skip
    with pytest.raises(Unprocessable, match="not one of the classes"):
        queue.decide(served_task.id, "scratch", reviewer="alice", store=served)


def test_list_tasks_in_queue_order_with_status_filters(served: Store) -> None:
    old, new = put_task(served, age_s=50), put_task(served, age_s=10)
    held = put_task(served, age_s=30, status="claimed", claimed_by="alice", lease_in_s=100)
    first = put_task(served, age_s=90, status="decided", decision=1, decided_by="bob")
    assert [t.id for t in queue.list_tasks(store=served)] == [first, old, held, new]
    assert [t.id for t in queue.list_tasks(status="open", store=served)] == [old, new]
    assert [t.id for t in queue.list_tasks(status="claimed", store=served)] == [held]
    assert [t.id for t in queue.list_tasks(status="decided", store=served)] == [first]
    assert len(queue.list_tasks(limit=2, store=served)) == 2
    with pytest.raises(InvalidInput, match="did you mean 'claimed'"):
        queue.list_tasks(status="claimd", store=served)
    with pytest.raises(InvalidInput, match="between 1 and 1000"):
        queue.list_tasks(limit=0, store=served)


def test_stats_count_the_queue_and_each_reviewers_agreement(served: Store) -> None:
    endpoints.create("line-b", f"{MODEL}@1", store=served)
    put_task(served, age_s=100)
    put_task(served, age_s=50, reason="audit")
    put_task(served, age_s=200, status="claimed", claimed_by="dave", lease_in_s=60)
    put_task(served, age_s=300, reason="disagreement", status="claimed", claimed_by="erin",
             lease_in_s=-5)  # fmt: skip
    for decision, who, outputs, reason in [
        (1, "alice", "default", "low_confidence"),  # the model said 1: agrees
        (0, "alice", "default", "low_confidence"),
        ("1", "bob", "default", "audit"),  # compared as text: agrees
        (0, "bob", None, "human"),  # the model was not asked: not compared
    ]:
        put_task(served, age_s=400, status="decided", decision=decision, decided_by=who,
                 outputs=outputs, reason=reason)  # fmt: skip
    put_task(served, age_s=1000, endpoint="line-b")
    result = queue.stats(endpoint=ENDPOINT, store=served)
    assert (result.open, result.claimed, result.decided) == (3, 1, 4)
    assert result.oldest_open_age_s == pytest.approx(300, abs=10)  # the expired claim counts
    assert result.by_reason == {"audit": 2, "disagreement": 1, "human": 1, "low_confidence": 4}
    assert [r.to_dict() for r in result.reviewers] == [
        {"reviewer": "alice", "decided": 2, "compared": 2, "agreed": 1, "agreement": 0.5},
        {"reviewer": "bob", "decided": 2, "compared": 1, "agreed": 1, "agreement": 1.0},
    ]
    everywhere = queue.stats(store=served)
    assert (everywhere.open, everywhere.oldest_open_age_s) == (4, pytest.approx(1000, abs=10))
    assert everywhere.to_dict()["endpoint"] is None
    empty = queue.stats(endpoint="line-b", store=served)
    assert (empty.claimed, empty.decided, empty.reviewers) == (0, 0, [])


def test_the_python_examples_in_docs_review_run(served: Store) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "review.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", doc, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 2
    namespace: dict = {"prediction_id": uuid.uuid4().hex}
    for block in blocks:
        exec(compile(block, "docs/review.md", "exec"), namespace)
    assert namespace["task"].reason == "audit"
    assert queue.get_task(namespace["task"].id, store=served).decision == "scratch"
    assert namespace["waiting"] == []
