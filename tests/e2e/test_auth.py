"""Bearer tokens against a real ``inprod serve --auth on``: who may do what, and how fast a
revocation made elsewhere (the CLI) takes effect."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from e2e_server import HERE, INPROD, Server, register_models, run_server, server_env

from inprod import tokens
from inprod.store import Store

REFRESH_S = 0.5


@dataclass
class Secured:
    server: Server
    store: Store
    home: Path
    predict: str
    reviewer: str
    operator: str
    admin: str


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    home = tmp_path_factory.mktemp("secured")
    sys.path.insert(0, str(HERE))
    store = Store(f"sqlite:///{home / 'store.db'}", str(home / "artifacts"))
    register_models(store)
    made = {role: tokens.create(role, name=role, store=store).secret for role in tokens.ROLES}
    with run_server(
        store, home, "--auth", "on", INPROD_AUTH_REFRESH_SECONDS=str(REFRESH_S)
    ) as server:
        yield Secured(server, store, home, **made)
    store.close()


def call(s: Secured, method: str, path: str, secret: str | None = None, **kw) -> httpx.Response:
    headers = kw.pop("headers", {})
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    return httpx.request(method, s.server.url + path, headers=headers, timeout=30, **kw)


ROW = [0.1] * 20


def test_requests_without_a_token_get_401_with_a_bearer_challenge(secured) -> None:
    for method, path in [
        ("POST", "/v1/endpoints/tiny/predict"),
        ("GET", "/api/endpoints"),
        ("GET", "/api/tokens"),
        ("POST", "/v2/models/tiny/infer"),
    ]:
        r = call(secured, method, path, json={"instances": [ROW]})
        assert r.status_code == 401, (path, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        body = r.json()
        if path.startswith("/v2/"):  # the protocol's shape: "error" is the message
            assert body["type"] == "Unauthorized" and "bearer token" in body["error"]
        else:
            error = body["error"]
            assert error["type"] == "Unauthorized" and "bearer token" in error["message"]


@pytest.mark.parametrize(
    "header, challenge",
    [
        ("Bearer not-a-token", "invalid_request"),
        ("Basic dXNlcjpwdw==", "invalid_request"),
        ("Bearer", "invalid_request"),
        ("Bearer inp_" + "x" * 43, "invalid_token"),
    ],
)
def test_bad_tokens_get_401(secured, header: str, challenge: str) -> None:
    r = call(
        secured,
        "POST",
        "/v1/endpoints/tiny/predict",
        headers={"Authorization": header},
        json={"instances": [ROW]},
    )
    assert r.status_code == 401
    assert f'error="{challenge}"' in r.headers["www-authenticate"]
    assert r.json()["error"]["type"] == "Unauthorized"


def test_health_metrics_and_docs_stay_open(secured) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/api/openapi.json", "/api/docs"):
        assert call(secured, "GET", path).status_code == 200, path
    assert call(secured, "GET", "/v2/health/live").status_code not in (401, 403)


def test_a_predict_token_predicts_and_reads_but_may_not_change_endpoints(secured) -> None:
    r = call(
        secured, "POST", "/v1/endpoints/tiny/predict", secured.predict, json={"instances": [ROW]}
    )
    assert r.status_code == 200, r.text
    assert call(secured, "GET", "/api/endpoints", secured.predict).status_code == 200
    r = call(
        secured,
        "POST",
        "/api/endpoints",
        secured.predict,
        json={"name": "by-predict", "model": "tiny@1"},
    )
    assert r.status_code == 403
    assert r.json()["error"]["type"] == "Forbidden"
    assert "needs role 'operator'" in r.json()["error"]["message"]
    assert "by-predict" not in [
        e["name"] for e in call(secured, "GET", "/api/endpoints", secured.predict).json()
    ]


def test_an_operator_creates_endpoints_but_may_not_manage_tokens(secured) -> None:
    r = call(
        secured, "POST", "/api/endpoints", secured.operator, json={"name": "ops", "model": "tiny@1"}
    )
    assert r.status_code == 201, r.text
    before = tokens.list_tokens(store=secured.store)
    for method in ("GET", "POST"):
        r = call(secured, method, "/api/tokens", secured.operator, json={"role": "admin"})
        assert r.status_code == 403
        assert "needs role 'admin'" in r.json()["error"]["message"]
    assert tokens.list_tokens(store=secured.store) == before


def test_an_admin_creates_a_token_through_the_api_that_works_at_once(secured) -> None:
    r = call(
        secured, "POST", "/api/tokens", secured.admin, json={"role": "predict", "name": "via-api"}
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert tokens.verify(made["secret"], store=secured.store).role == "predict"
    r = call(
        secured, "POST", "/v1/endpoints/tiny/predict", made["secret"], json={"instances": [ROW]}
    )
    assert r.status_code == 200, r.text
    listed = call(secured, "GET", "/api/tokens", secured.admin).json()
    assert made["id"] in [t["id"] for t in listed]
    assert all("secret" not in t and "token_hash" not in t for t in listed)


def test_a_token_revoked_with_the_cli_is_refused_within_the_refresh_interval(secured) -> None:
    secret = tokens.create("predict", name="short-lived", store=secured.store).secret
    deadline = time.monotonic() + 10
    while call(secured, "GET", "/api/endpoints", secret).status_code != 200:
        assert time.monotonic() < deadline, "a new token was not picked up"
        time.sleep(0.05)
    subprocess.run(
        [str(INPROD), "tokens", "revoke", secret[:12]],
        env=server_env(secured.store, secured.home),
        check=True,
        capture_output=True,
    )
    revoked_at = time.monotonic()
    while call(secured, "GET", "/api/endpoints", secret).status_code != 401:
        assert time.monotonic() - revoked_at < REFRESH_S + 2, "revoked token still accepted"
        time.sleep(0.05)
    assert call(secured, "GET", "/api/endpoints", secured.predict).status_code == 200


def test_the_api_docs_page_needs_no_network() -> None:
    """Swagger UI comes from the package: the page names no outside address and its files are
    served (open, like the page) by the server itself."""
    import tempfile
    from pathlib import Path

    from fastapi.testclient import TestClient

    from inprod.serving.app import create_app
    from inprod.store import Store

    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{Path(folder) / 's.db'}", str(Path(folder) / "a"))
        with TestClient(create_app(store, auth=True)) as client:
            page = client.get("/api/docs").text
            assert "http://" not in page and "https://" not in page
            for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
                served = client.get(f"/api/docs/static/{asset}")
                assert served.status_code == 200 and len(served.content) > 10_000
        store.close()
