"""The rollout and review pages without a browser: their data, their actions over HTTP (CSRF,
once-only, refusals shown in place, nothing stored on a refusal) and bad input, on SQLite and
PostgreSQL."""

from __future__ import annotations

import base64
import html as html_text
import io
import re
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sqlalchemy import func, select

from inprod import deploy, endpoints, models, tokens
from inprod.data.slices import as_text as label_text
from inprod.review import queue
from inprod.serving.app import create_app
from inprod.store import Store
from inprod.store.tables import Feedback
from inprod.ui.inputs import input_fields, input_image
from inprod.ui.pages.review import Filters
from inprod.ui.pages.rollout import buttons

ENDPOINT = "phone-inspector"
MODEL = "inspector"
ROLLOUT = f"/ui/endpoints/{ENDPOINT}/rollout"
CSRF_RE = re.compile(r'"X-CSRF-Token": "([0-9a-f]+)"')


@pytest.fixture
def served(store: Store) -> Store:
    """``inspector@1`` (alias champion, classes 0 and 1) serving the endpoint; ``@2`` ready."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    for c in (1.0, 0.3):
        model = LogisticRegression(C=c).fit(X, y)
        models.register(MODEL, model, sample=X[:3], alias="champion" if c == 1 else None,
                        store=store)  # fmt: skip
    endpoints.create(ENDPOINT, f"{MODEL}@champion", store=store)
    return store


@pytest.fixture
def client(served: Store) -> Iterator[TestClient]:
    with TestClient(create_app(served)) as client:
        yield client


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match is not None, "the page carries no CSRF token"
    return match.group(1)


def action_ids(html: str) -> dict[str, str]:
    """The action id of each steering form on a rollout page, by action."""
    found = re.findall(r'rollout/(\w+)"[^>]*>\s*<input type="hidden" name="action_id" '
                       r'value="([0-9a-f]{32})"', html)  # fmt: skip
    return dict(found)


def steer(client: TestClient, action: str, reason: str | None, action_id: str, csrf: str):
    """POST a steering form as htmx does, with the reason in ``HX-Prompt`` (ASCII here: the test
    client re-encodes other header bytes; the browser tests send Latin-1 and the rest)."""
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf}
    if reason is not None:
        headers["HX-Prompt"] = reason
    return client.post(f"{ROLLOUT}/{action}", data={"action_id": action_id}, headers=headers)


def text(response) -> str:
    """A page's text as a person reads it (quotes unescaped)."""
    return html_text.unescape(response.text)


def rollbacks(store: Store) -> list[deploy.PlanEvent]:
    return [e for e in deploy.history(ENDPOINT, store=store) if e.action == "rollback"]


# -- rollout --------------------------------------------------------------------------------


def test_the_rollout_page_shows_the_plan_gates_and_history(client, served) -> None:
    deploy.canary(ENDPOINT, f"{MODEL}@2", steps="10,50,100", gates=["error_rate<=0.01"],
                  min_requests=50, reason="try v2", store=served)  # fmt: skip
    html = client.get(ROLLOUT).text
    assert 'data-state="ramping"' in html and "inspector@2" in html
    assert "Canary: step 1 of 3" in html and "error_rate&lt;=0.01" in html
    assert "has 0 of 50 canary requests" in html  # the controller's judgement, as deploy status
    assert "try v2" in html  # the history
    assert set(action_ids(html)) == {"promote", "pause", "rollback"}  # no resume while ramping
    live = client.get(f"{ROLLOUT}/live")
    assert (
        live.status_code == 200 and "<html" not in live.text and 'data-state="ramping"' in live.text
    )


def test_rollback_runs_once_per_action_id_and_is_audited_with_its_reason(client, served) -> None:
    deploy.canary(ENDPOINT, f"{MODEL}@2", min_requests=50, store=served)
    html = client.get(ROLLOUT).text
    csrf, action_id = csrf_of(html), action_ids(html)["rollback"]
    first = steer(client, "rollback", "v2 is worse on dark phones", action_id, csrf)
    assert first.status_code == 200, first.text
    assert deploy.get_plan(ENDPOINT, store=served).state == "rolled_back"
    again = steer(client, "rollback", "v2 is worse on dark phones", action_id, csrf)
    assert again.status_code == 200 and 'class="error"' not in again.text  # not "nothing to …"
    [event] = rollbacks(served)
    assert (event.actor, event.reason) == ("ui", "v2 is worse on dark phones")
    assert 'hx-swap-oob="true"' in first.text and "Rolled back by ui" in first.text


def test_a_reason_htmx_had_to_uri_encode_is_decoded(client, served) -> None:
    deploy.canary(ENDPOINT, f"{MODEL}@2", min_requests=50, store=served)
    html = client.get(ROLLOUT).text
    response = client.post(
        f"{ROLLOUT}/pause",
        data={"action_id": action_ids(html)["pause"]},
        headers={"X-CSRF-Token": csrf_of(html), "HX-Prompt": "hold %E2%80%94 night shift",
                 "HX-Prompt-URI-AutoEncoded": "true"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert deploy.history(ENDPOINT, store=served)[-1].reason == "hold — night shift"


def test_an_empty_reason_or_a_refused_action_is_shown_in_place_and_changes_nothing(
    client, served
) -> None:
    deploy.canary(ENDPOINT, f"{MODEL}@2", min_requests=50, store=served)
    html = client.get(ROLLOUT).text
    csrf, ids = csrf_of(html), action_ids(html)
    empty = steer(client, "rollback", "  ", ids["rollback"], csrf)
    assert empty.status_code == 400 and "give a reason" in empty.text
    assert deploy.get_plan(ENDPOINT, store=served).state == "ramping"
    refused = steer(client, "resume", "go on", ids["pause"], csrf)  # nothing is paused
    assert refused.status_code == 409 and "nothing is paused" in refused.text
    assert 'data-state="ramping"' in refused.text  # the plan re-rendered under the message
    assert rollbacks(served) == [] and deploy.get_plan(ENDPOINT, store=served).revision == 1


def test_steering_needs_the_csrf_token_an_action_id_and_a_known_action(client, served) -> None:
    deploy.canary(ENDPOINT, f"{MODEL}@2", min_requests=50, store=served)
    html = client.get(ROLLOUT).text
    csrf, action_id = csrf_of(html), action_ids(html)["rollback"]
    assert steer(client, "rollback", "why", action_id, "0" * 32).status_code == 403
    assert "action id" in steer(client, "rollback", "why", "", csrf).text
    assert steer(client, "explode", "why", action_id, csrf).status_code == 404
    assert deploy.get_plan(ENDPOINT, store=served).state == "ramping"


def test_an_unknown_endpoint_is_a_404_page_that_links_back(client) -> None:
    for path in ("/ui/endpoints/nope/rollout", "/ui/endpoints/nope/rollout/live"):
        response = client.get(path)
        assert response.status_code == 404 and "no endpoint 'nope'" in text(response)
    assert 'href="/ui/"' in client.get("/ui/endpoints/nope/rollout").text


def test_buttons_follow_the_state_machine(served) -> None:
    def shown(state: str, **plan) -> list[str]:
        status = {"allowed_actions": [], "candidate": None, "previous": None, **plan}
        status["allowed_actions"] = deploy.DeploymentPlan(ENDPOINT, "x@1", state).to_dict()[
            "allowed_actions"
        ]
        return [b.action for b in buttons(ENDPOINT, status)]

    canary = {"ref": "inspector@2", "role": "canary", "weight": 0.1}
    assert shown("stable") == []
    assert shown("ramping", candidate=canary) == ["promote", "pause", "rollback"]
    assert shown("paused", candidate=canary) == ["promote", "resume", "rollback"]
    assert shown("shadowing", candidate={**canary, "role": "shadow"}) == ["promote", "abort"]
    assert shown("promoted") == []  # nothing kept to go back to
    back = buttons(ENDPOINT, {"allowed_actions": ["rollback"], "candidate": None,
                              "previous": {"ref": "inspector@1", "until": "…"}})  # fmt: skip
    assert [b.label for b in back] == ["Roll back to inspector@1"]


# -- review -----------------------------------------------------------------------------------

PIXELS = (np.arange(1024) % 256 / 255.0).round(4).tolist()  # a 32×32 gradient in 0..1


def put_task(store: Store, *, inputs=PIXELS, answer: int = 1, reason: str = "low_confidence"):
    return queue.add_task(
        uuid.uuid4().hex, endpoint=ENDPOINT, model_name=MODEL, model_version=1, reason=reason,
        inputs=inputs, confidence=0.61, store=store,
        outputs={"output": answer, "confidence": 0.61,
                 "probabilities": {"0": 0.39, "1": 0.61} if answer else {"0": 0.61, "1": 0.39}},
    ).id  # fmt: skip


def task_on(html: str) -> str | None:
    match = re.search(r'data-task="([0-9a-f]{32})"', html)
    return match.group(1) if match else None


def form_of(html: str, **extra: str) -> dict[str, str]:
    """The hidden fields of the first form in ``html`` (action id, filters, skips)."""
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html)[:4])
    return {**fields, **extra}


def feedback_count(store: Store) -> int:
    with store.session(write=False) as s:
        return s.scalar(select(func.count()).select_from(Feedback))


def test_the_page_claims_the_next_task_and_shows_the_image_classes_and_answer(
    client, served
) -> None:
    task_id = put_task(served)
    html = client.get("/ui/review", params={"endpoint": ENDPOINT}).text
    assert task_on(html) == task_id
    assert queue.get_task(task_id, store=served).claimed_by == "ui"
    assert 'src="data:image/png;base64,' in html
    assert 'data-key="1"' in html and 'data-key="2"' in html and 'data-key="Enter"' in html
    assert "61.0%" in html and "1 waiting" not in html  # the claimed task is not waiting
    assert re.search(r'class="open">0<', html)


def test_a_decision_is_stored_with_feedback_and_the_next_task_takes_its_place(
    client, served
) -> None:
    first, second = put_task(served), put_task(served)
    html = client.get("/ui/review", params={"endpoint": ENDPOINT}).text
    form = form_of(html, label="0")
    url = f"/ui/review/{first}/decide"
    headers = {"X-CSRF-Token": csrf_of(html), "HX-Request": "true"}
    response = client.post(url, data=form, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["HX-Trigger"] == "review-decided"
    assert task_on(response.text) == second and "Decided 0; the model said 1." in response.text
    decided = queue.get_task(first, store=served)
    assert (decided.status, decided.decision, decided.decided_by) == ("decided", 0, "ui")
    again = client.post(url, data=form, headers=headers)  # a double key press: the same form
    assert again.status_code == 200 and 'class="error"' not in again.text
    assert feedback_count(served) == 1


def test_a_task_claimed_by_someone_else_is_refused_in_place_and_nothing_is_stored(
    client, served
) -> None:
    task_id = put_task(served)
    html = client.get("/ui/review", params={"endpoint": ENDPOINT}).text
    queue.release(task_id, reviewer="ui", store=served)
    assert queue.next_task(reviewer="inspector-2", store=served).id == task_id
    response = client.post(
        f"/ui/review/{task_id}/decide",
        data=form_of(html, label="1"),
        headers={"X-CSRF-Token": csrf_of(html), "HX-Request": "true"},
    )
    assert response.status_code == 409
    assert "is claimed by 'inspector-2'" in text(response)
    task = queue.get_task(task_id, store=served)
    assert (task.status, task.claimed_by, task.decision) == ("claimed", "inspector-2", None)
    assert feedback_count(served) == 0


def test_a_label_the_model_does_not_know_is_refused_and_the_task_stays(client, served) -> None:
    task_id = put_task(served)
    html = client.get("/ui/review", params={"endpoint": ENDPOINT}).text
    response = client.post(
        f"/ui/review/{task_id}/decide",
        data=form_of(html, label="7"),
        headers={"X-CSRF-Token": csrf_of(html)},
    )
    assert response.status_code == 422 and "not one of the classes" in response.text
    assert task_on(response.text) == task_id and feedback_count(served) == 0


def test_skip_releases_the_task_and_passes_over_it(client, served) -> None:
    first, second = put_task(served), put_task(served)
    html = client.get("/ui/review", params={"endpoint": ENDPOINT}).text
    response = client.post(
        f"/ui/review/{first}/skip", data=form_of(html), headers={"X-CSRF-Token": csrf_of(html)}
    )
    assert response.status_code == 200, response.text
    assert task_on(response.text) == second
    assert queue.get_task(first, store=served).status == "open"
    assert f'name="skipped" value="{first}"' in response.text
    after = client.post(
        f"/ui/review/{second}/skip",
        data=form_of(response.text),
        headers={"X-CSRF-Token": csrf_of(html)},
    )
    assert task_on(after.text) is None and "besides the 2 you skipped" in after.text


def test_an_empty_queue_says_so(client, served) -> None:
    html = client.get("/ui/review", params={"endpoint": ENDPOINT}).text
    assert "Nothing to review" in html and task_on(html) is None


def test_bad_filters_are_a_404_or_a_400_page(client, served) -> None:
    unknown = client.get("/ui/review", params={"endpoint": "nope"})
    assert unknown.status_code == 404 and 'href="/ui/"' in unknown.text
    bad = client.get("/ui/review", params={"reason": "boredom"})
    assert bad.status_code == 400 and "reason 'boredom' is not one of" in text(bad)


def test_with_auth_a_reviewer_claims_as_their_token_and_a_viewer_is_refused(served) -> None:
    reviewer = tokens.create("reviewer", name="r", store=served)
    viewer = tokens.create("predict", name="v", store=served)
    task_id = put_task(served)
    with TestClient(create_app(served, auth=True)) as client:
        seen = client.get("/ui/review", headers={"Authorization": f"Bearer {viewer.secret}"})
        assert seen.status_code == 403 and "needs reviewer" in seen.text
        page = client.get("/ui/review", headers={"Authorization": f"Bearer {reviewer.secret}"})
        assert page.status_code == 200 and task_on(page.text) == task_id
    assert queue.get_task(task_id, store=served).claimed_by == f"token:{reviewer.info.id}"


# -- how inputs are shown -------------------------------------------------------------------


def decoded(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_pixels_become_an_image_of_their_shape() -> None:
    gray = decoded(input_image(PIXELS))
    assert (gray.size, gray.mode) == ((32, 32), "L")
    assert gray.getpixel((31, 0)) == 31 and gray.getpixel((0, 1)) == 32  # rows of 32, ×255
    rgb = decoded(input_image(np.full((1, 20, 24, 3), 200).tolist()))  # a batch of one
    assert (rgb.size, rgb.mode, rgb.getpixel((0, 0))) == ((24, 20), "RGB", (200, 200, 200))


@pytest.mark.parametrize(
    "value",
    [[0.1, 0.2, 0.3, 0.4], [0.5] * 1000, [300.0] * 256, [-1.0] * 256, [[1, 2], [3, 4]],
     {"a": 1}, "text", None, [0.5] * 255 + [float("nan")]],
)  # fmt: skip
def test_what_is_not_an_image_is_not_drawn(value) -> None:
    assert input_image(value) is None


def test_other_inputs_are_a_table_with_images_inside_and_a_count_of_the_rest() -> None:
    fields, more = input_fields({"photo": PIXELS, "factory": "B", "note": "x" * 500})
    assert [f.name for f in fields] == ["photo", "factory", "note"] and more == 0
    assert fields[0].image is not None and fields[1].text == "B"
    assert len(fields[2].text) == 200 and fields[2].text.endswith("…")
    fields, more = input_fields(list(range(60)))
    assert (len(fields), more, fields[3].text) == (50, 10, "3")


def test_labels_post_as_the_queue_compares_them_and_filters_keep_the_last_skips() -> None:
    assert [label_text(v) for v in (1, 1.0, 1.5, True, "scratch")] == [
        "1", "1", "1.5", "True", "scratch"
    ]  # fmt: skip
    ids = [uuid.uuid4().hex for _ in range(120)]
    filters = Filters.of({"endpoint": " a ", "reason": "", "skipped": ",".join(ids)})
    assert (filters.endpoint, filters.reason, filters.skipped) == ("a", None, tuple(ids[-100:]))
    assert filters.query == "endpoint=a" and filters.skipping("x").skipped[-1] == "x"
