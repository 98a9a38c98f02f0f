"""/api/review: claim, decide, release, list and stats over HTTP, the status codes of each
refusal, and the ``reviewer`` role when auth is on."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from inprod import endpoints, tokens
from inprod.review import queue
from inprod.serving.app import create_app
from inprod.serving.auth import required_role
from inprod.store import Store
from inprod.store.tables import Feedback

ENDPOINT = "phone-inspector"


@pytest.fixture
def served(store: Store, tiny_model: str) -> Store:
    endpoints.create(ENDPOINT, tiny_model, store=store)
    return store


def _task(store: Store, *, reason: str = "low_confidence") -> str:
    return queue.add_task(
        uuid.uuid4().hex,
        endpoint=ENDPOINT,
        model_name="tiny",
        model_version=1,
        reason=reason,
        inputs=[[0.1, 0.2, 0.3, 0.4]],
        outputs={"output": 1, "confidence": 0.6},
        confidence=0.6,
        store=store,
    ).id


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_next_claims_a_task_or_answers_204_when_the_queue_is_empty(served: Store) -> None:
    with TestClient(create_app(served)) as client:
        empty = client.get("/api/review/next", params={"queue": ENDPOINT})
        assert (empty.status_code, empty.content) == (204, b"")
        task_id = _task(served)
        r = client.get("/api/review/next", params={"queue": ENDPOINT, "reviewer": "alice"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["id"], body["status"], body["claimed_by"]) == (task_id, "claimed", "alice")
        assert (body["answer"], body["reason"], body["model"]) == (1, "low_confidence", "tiny@1")
        assert client.get("/api/review/next", params={"reviewer": "alice"}).json()["id"] == task_id
        assert client.get("/api/review/next", params={"reviewer": "bob"}).status_code == 204
        # without a reviewer and without auth, the caller is "api"
        other = _task(served)
        assert client.get("/api/review/next").json()["claimed_by"] == "api"
        assert queue.get_task(other, store=served).claimed_by == "api"


def test_a_decision_is_committed_as_feedback_before_the_200(served: Store) -> None:
    task_id = _task(served)
    with TestClient(create_app(served)) as client:
        client.get("/api/review/next", params={"reviewer": "alice"})
        r = client.post(
            f"/api/review/{task_id}/decision",
            json={"label": "0", "reviewer": "alice", "note": "a scratch the model missed"},
        )
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["decision"], r.json()["decided_by"]) == (
            "decided",
            0,
            "alice",
        )
        with served.session(write=False) as s:
            [fb] = s.scalars(select(Feedback)).all()
        assert (fb.label, fb.source) == (0, "review:alice")
        shown = client.get(f"/api/review/{task_id}").json()
        assert (shown["status"], shown["decision"]) == ("decided", 0)


def test_refusals_answer_404_409_and_422_and_change_nothing(served: Store) -> None:
    task_id = _task(served)
    with TestClient(create_app(served)) as client:
        client.get("/api/review/next", params={"reviewer": "alice"})
        missing = client.post(f"/api/review/{'0' * 32}/decision", json={"label": 1})
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "NotFound"
        assert client.get("/api/review/nope").status_code == 404
        held = client.post(f"/api/review/{task_id}/decision", json={"label": 1, "reviewer": "bob"})
        assert held.status_code == 409 and "claimed by 'alice'" in held.json()["error"]["message"]
        wrong = client.post(
            f"/api/review/{task_id}/decision", json={"label": "scratch", "reviewer": "alice"}
        )
        assert wrong.status_code == 422
        assert wrong.json()["error"]["field"] == "label"
        assert "not one of the classes of model tiny@1: 0, 1" in wrong.json()["error"]["message"]
        for body in ({}, {"label": [1]}, {"label": 1, "extra": True}):
            bad = client.post(f"/api/review/{task_id}/decision", json=body)
            assert bad.status_code == 422, body
        assert queue.get_task(task_id, store=served).status == "claimed"
        ok = client.post(f"/api/review/{task_id}/decision", json={"label": 1, "reviewer": "alice"})
        assert ok.status_code == 200
        twice = client.post(f"/api/review/{task_id}/decision", json={"label": 0})
        assert twice.status_code == 409
        assert "already decided by 'alice'" in twice.json()["error"]["message"]
        assert client.get("/api/review/next", params={"queue": "nope"}).status_code == 404
        assert client.get("/api/review/next", params={"reason": "bored"}).status_code == 400
    with served.session(write=False) as s:
        assert [f.label for f in s.scalars(select(Feedback))] == [1]


def test_release_list_and_stats(served: Store) -> None:
    first, second = _task(served), _task(served, reason="audit")
    with TestClient(create_app(served)) as client:
        client.get("/api/review/next", params={"reviewer": "alice"})
        refused = client.post(f"/api/review/{first}/release", json={"reviewer": "bob"})
        assert refused.status_code == 409
        r = client.post(f"/api/review/{first}/release", json={"reviewer": "alice"})
        assert r.status_code == 200 and r.json()["status"] == "open"
        client.post(f"/api/review/{second}/decision", json={"label": 0, "reviewer": "bob"})
        listed = client.get("/api/review/tasks", params={"status": "open"}).json()
        assert [t["id"] for t in listed] == [first]
        everything = client.get("/api/review/tasks", params={"endpoint": ENDPOINT, "limit": 1})
        assert [t["id"] for t in everything.json()] == [first]
        assert client.get("/api/review/tasks", params={"status": "gone"}).status_code == 400
        assert client.get("/api/review/tasks", params={"limit": 0}).status_code == 422
        stats = client.get("/api/review/stats", params={"endpoint": ENDPOINT}).json()
        assert (stats["open"], stats["claimed"], stats["decided"]) == (1, 0, 1)
        assert stats["by_reason"] == {"audit": 1, "low_confidence": 1}
        assert stats["reviewers"] == [
            {"reviewer": "bob", "decided": 1, "compared": 1, "agreed": 0, "agreement": 0.0}
        ]


@pytest.mark.parametrize(
    "method, path, needed",
    [
        ("GET", "/api/review/next", "reviewer"),
        ("GET", "/api/review/stats", "reviewer"),
        ("POST", "/api/review/abc/decision", "reviewer"),
        ("GET", "/api/review", "reviewer"),
        ("GET", "/api/reviewers", "predict"),
    ],
)
def test_the_review_queue_needs_the_reviewer_role(method: str, path: str, needed: str) -> None:
    assert required_role(method, path) == needed


def test_with_auth_reviewers_and_higher_may_review_and_predict_tokens_may_not(
    served: Store,
) -> None:
    made = {role: tokens.create(role, store=served) for role in tokens.ROLES}
    _task(served)
    with TestClient(create_app(served, auth=True)) as client:
        assert client.get("/api/review/next").status_code == 401
        refused = client.get("/api/review/next", headers=_bearer(made["predict"].secret))
        assert refused.status_code == 403
        message = refused.json()["error"]["message"]
        assert "needs role 'reviewer' or higher (predict < reviewer < operator < admin)" in message
        reviewer = made["reviewer"]
        r = client.get("/api/review/next", headers=_bearer(reviewer.secret))
        assert r.status_code == 200 and r.json()["claimed_by"] == f"token:{reviewer.info.id}"
        task_id = r.json()["id"]
        for role in ("operator", "admin"):
            assert (
                client.get("/api/review/next", headers=_bearer(made[role].secret)).status_code
                == 204
            )
        denied = client.post(
            f"/api/review/{task_id}/decision", json={"label": 1},
            headers=_bearer(made["predict"].secret),
        )  # fmt: skip
        assert denied.status_code == 403
        decided = client.post(
            f"/api/review/{task_id}/decision", json={"label": 1}, headers=_bearer(reviewer.secret)
        )
        assert (
            decided.status_code == 200
            and decided.json()["decided_by"] == f"token:{reviewer.info.id}"
        )
        # a reviewer may read the rest of /api but not change it
        assert client.get("/api/endpoints", headers=_bearer(reviewer.secret)).status_code == 200
        assert (
            client.delete(
                f"/api/endpoints/{ENDPOINT}", headers=_bearer(reviewer.secret)
            ).status_code
            == 403
        )
