"""Bearer tokens: only hashes stored, roles ordered, revoke by id or prefix, clean errors; the
middleware's rules, checked in-process (a real server is in tests/e2e/test_auth.py)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from inprod import tokens
from inprod.errors import Conflict, InvalidInput, NotFound, Unauthorized
from inprod.serving.auth import guard_of, is_loopback, required_role, resolve_mode
from inprod.store.tables import ApiToken


def _rows(store) -> list[tuple[int, str, str, str, str, object]]:
    with store.session(write=False) as s:
        return [
            (r.id, r.name, r.role, r.token_hash, r.prefix, r.revoked_at)
            for r in s.scalars(select(ApiToken).order_by(ApiToken.id))
        ]


def test_creating_a_token_stores_its_sha256_and_prefix_never_the_secret(store) -> None:
    created = tokens.create("operator", name="ci-bot", store=store)
    secret = created.secret
    assert re.fullmatch(r"inp_[A-Za-z0-9_-]{43}", secret)
    [(token_id, name, role, token_hash, prefix, revoked)] = _rows(store)
    assert token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert prefix == secret[:12] == created.info.prefix
    assert (token_id, name, role, revoked) == (created.info.id, "ci-bot", "operator", None)
    assert secret not in json.dumps([str(v) for v in _rows(store)[0]])
    assert "secret" not in tokens.list_tokens(store=store)[0].to_dict()
    assert tokens.create("predict", store=store).secret != secret


def test_verify_accepts_an_active_secret_and_refuses_unknown_or_revoked_ones(store) -> None:
    created = tokens.create("predict", store=store)
    assert tokens.verify(created.secret, store=store).id == created.info.id
    with pytest.raises(Unauthorized, match="not an inprod token"):
        tokens.verify("hunter2", store=store)
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        tokens.verify("inp_" + "A" * 43, store=store)
    tokens.revoke(created.info.id, store=store)
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        tokens.verify(created.secret, store=store)


def test_active_grants_map_hashes_to_roles_without_revoked_tokens(store) -> None:
    a = tokens.create("admin", store=store)
    p = tokens.create("predict", store=store)
    tokens.revoke(a.info.id, store=store)
    grants = tokens.active_grants(store=store)
    assert grants == {tokens.hash_secret(p.secret): tokens.Grant(p.info.id, "predict")}


def test_roles_are_ordered_predict_reviewer_operator_admin() -> None:
    allowed = {(r, n) for r in tokens.ROLES for n in tokens.ROLES if tokens.role_allows(r, n)}
    assert allowed == {
        ("predict", "predict"),
        ("reviewer", "predict"),
        ("reviewer", "reviewer"),
        ("operator", "predict"),
        ("operator", "reviewer"),
        ("operator", "operator"),
        ("admin", "predict"),
        ("admin", "reviewer"),
        ("admin", "operator"),
        ("admin", "admin"),
    }
    assert not tokens.role_allows("root", "predict")


def test_revoke_finds_a_token_by_id_prefix_start_or_secret(store) -> None:
    made = [tokens.create("predict", store=store) for _ in range(4)]
    assert tokens.revoke(str(made[0].info.id), store=store).revoked_at is not None
    assert tokens.revoke(made[1].info.prefix, store=store).id == made[1].info.id
    assert tokens.revoke(made[2].secret[:9], store=store).id == made[2].info.id
    assert tokens.revoke(made[3].secret, store=store).id == made[3].info.id
    assert all(not t.active for t in tokens.list_tokens(store=store))
    assert tokens.list_tokens(include_revoked=False, store=store) == []


@pytest.mark.parametrize(
    "ref, error, match",
    [
        ("99", NotFound, "no token with id 99"),
        ("99999999999", NotFound, "no token with id"),
        ("inp_zzzzzzzz", NotFound, "no token with prefix"),
        ("inp_" + "z" * 43, NotFound, "no token matches the secret"),
        ("inp_zzzzzzzzzz", NotFound, "no token with prefix"),
        ("ci-bot", InvalidInput, "neither a token id"),
        ("inp_", InvalidInput, "neither a token id"),
    ],
)
def test_revoking_an_unknown_token_is_a_clear_error_that_changes_nothing(
    store, ref: str, error: type[Exception], match: str
) -> None:
    tokens.create("predict", store=store)
    before = _rows(store)
    with pytest.raises(error, match=match):
        tokens.revoke(ref, store=store)
    assert _rows(store) == before


def test_an_ambiguous_prefix_or_a_second_revoke_is_refused(store) -> None:
    with store.session() as s:
        for i in (1, 2):
            s.add(ApiToken(role="predict", token_hash=f"{i:064x}", prefix="inp_sameSame"))
    with pytest.raises(InvalidInput, match="matches tokens 1, 2"):
        tokens.revoke("inp_same", store=store)
    assert [r[5] for r in _rows(store)] == [None, None]
    tokens.revoke(1, store=store)
    before = _rows(store)
    with pytest.raises(Conflict, match="already revoked"):
        tokens.revoke(1, store=store)
    assert _rows(store) == before


@pytest.mark.parametrize(
    "role, name, match",
    [
        ("admn", "", "did you mean 'admin'"),
        ("", "", "is not one of predict, reviewer, operator, admin"),
        ("Admin", "", "is not one of"),
        ("predict", "x" * 201, "at most 200"),
        ("predict", "a\nb", "control characters"),
    ],
)
def test_bad_role_or_name_is_refused_and_nothing_is_stored(store, role, name, match) -> None:
    with pytest.raises(InvalidInput, match=match):
        tokens.create(role, name=name, store=store)
    assert _rows(store) == []


def test_tokens_cli_creates_lists_and_revokes(cli, store) -> None:
    created = json.loads(
        cli.ok("tokens", "create", "--role", "admin", "--name", "me", "--json").stdout
    )
    assert tokens.verify(created["secret"], store=store).role == "admin"
    human = cli.ok("tokens", "create", "--role", "predict").stdout
    secret = re.search(r"inp_[A-Za-z0-9_-]{43}", human).group(0)
    assert "shown again" in human and tokens.verify(secret, store=store).role == "predict"
    listed = json.loads(cli.ok("tokens", "list", "--json").stdout)
    assert [(t["id"], t["role"], t["name"]) for t in listed] == [
        (1, "admin", "me"),
        (2, "predict", ""),
    ]
    assert all("secret" not in t and t["revoked_at"] is None for t in listed)
    table = cli.ok("tokens", "list").stdout
    assert created["prefix"] in table and created["secret"] not in table
    assert "revoked token 2" in cli.ok("tokens", "revoke", secret[:12]).stdout
    assert json.loads(cli.ok("tokens", "list", "--json").stdout)[1]["revoked_at"] is not None


def test_tokens_cli_errors_are_one_line_and_store_nothing(cli, store) -> None:
    cli.fails("tokens", "create", "--role", "superuser", match="is not one of predict")
    assert _rows(store) == []
    cli.fails("tokens", "revoke", "7", match="no token with id 7")
    cli.fails("tokens", "revoke", "inp_abc", match="no token with prefix")
    cli.ok("tokens", "create", "--role", "predict")
    cli.ok("tokens", "revoke", "1")
    cli.fails("tokens", "revoke", "1", match="already revoked")
    assert "--role" in cli("tokens", "create").stderr


@pytest.mark.parametrize(
    "method, path, needed",
    [
        ("GET", "/healthz", None),
        ("GET", "/readyz", None),
        ("GET", "/metrics", None),
        ("GET", "/api/docs", None),
        ("GET", "/api/docs/static/swagger-ui.css", None),
        ("GET", "/api/openapi.json", None),
        ("GET", "/v2/health/ready", None),
        ("GET", "/v2/health/ready/../../models/x", "predict"),
        ("GET", "/healthz/x", "predict"),
        ("POST", "/v1/endpoints/tiny/predict", "predict"),
        ("POST", "/v1/predictions/abc/feedback", "predict"),
        ("POST", "/v2/models/tiny/infer", "predict"),
        ("GET", "/v2/models/tiny", "predict"),
        ("GET", "/api/endpoints", "predict"),
        ("POST", "/api/endpoints", "operator"),
        ("PATCH", "/api/endpoints/tiny", "operator"),
        ("DELETE", "/api/endpoints/tiny", "operator"),
        ("GET", "/api/tokens", "admin"),
        ("POST", "/api/tokens", "admin"),
        ("DELETE", "/api/tokens/3", "admin"),
        ("GET", "/ui", None),  # the dashboard checks its own login (cookie or bearer)
        ("POST", "/ui/alerts/1/ack", None),
        ("GET", "/uix", "predict"),
        ("POST", "/anything", "operator"),
    ],
)
def test_each_path_needs_its_role(method: str, path: str, needed: str | None) -> None:
    assert required_role(method, path) == needed


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("inference.internal", False),
    ],
)
def test_auth_auto_is_on_unless_the_host_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert resolve_mode("auto", host) is not loopback
    assert resolve_mode("on", host) is True and resolve_mode("off", host) is False


def test_serve_resolves_auth_and_warns_when_exposed_without_it(cli, monkeypatch) -> None:
    from inprod.serving import server

    calls: list[dict] = []
    monkeypatch.setattr(server, "run", lambda **kw: calls.append(kw))
    assert "warning" not in cli.ok("serve").stderr
    cli.ok("serve", "--host", "0.0.0.0")
    exposed = cli.ok("serve", "--host", "0.0.0.0", "--auth", "off")
    assert [c["auth"] for c in calls] == [False, True, False]
    assert "warning: serving on 0.0.0.0 with auth off" in exposed.stderr
    cli.fails("serve", "--auth", "maybe", match="not one of on, off, auto")
    assert len(calls) == 3


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@contextlib.asynccontextmanager
async def _running(app) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan started (httpx's ASGI transport does not run it)."""
    to_app: asyncio.Queue = asyncio.Queue()
    from_app: asyncio.Queue = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    assert (await from_app.get())["type"] == "lifespan.startup.complete"
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        assert (await from_app.get())["type"] == "lifespan.shutdown.complete"
        await task


def test_the_app_refuses_missing_bad_and_low_role_tokens_in_process(store) -> None:
    from inprod.serving.app import create_app

    predict = tokens.create("predict", store=store).secret
    admin = tokens.create("admin", store=store).secret

    async def scenario() -> None:
        async with _running(create_app(store, auth=True)) as client:
            assert (await client.get("/healthz")).status_code == 200
            r = await client.get("/api/endpoints")
            assert r.status_code == 401
            assert r.headers["www-authenticate"] == 'Bearer realm="inprod"'
            assert r.json()["error"]["type"] == "Unauthorized"
            r = await client.get("/api/endpoints", headers={"Authorization": "Basic " + predict})
            assert r.status_code == 401
            assert 'error="invalid_request"' in r.headers["www-authenticate"]
            assert (await client.get("/api/endpoints", headers=_bearer(predict))).json() == []
            r = await client.get("/api/tokens", headers=_bearer(predict))
            assert r.status_code == 403 and r.json()["error"]["type"] == "Forbidden"
            assert "needs role 'admin'" in r.json()["error"]["message"]
            made = await client.post(
                "/api/tokens", json={"role": "operator"}, headers=_bearer(admin)
            )
            assert made.status_code == 201, made.text
            new = made.json()["secret"]
            # the guard is refreshed at once: the new token works on the very next request
            assert (await client.get("/api/endpoints", headers=_bearer(new))).status_code == 200
            gone = await client.delete(f"/api/tokens/{made.json()['id']}", headers=_bearer(admin))
            assert gone.status_code == 200 and gone.json()["revoked_at"] is not None
            assert (await client.get("/api/endpoints", headers=_bearer(new))).status_code == 401
            bad = await client.post("/api/tokens", json={"role": "root"}, headers=_bearer(admin))
            assert bad.status_code == 400 and bad.json()["error"]["field"] == "role"
            extra = await client.post(
                "/api/tokens", json={"role": "predict", "x": 1}, headers=_bearer(admin)
            )
            assert extra.status_code == 422

    asyncio.run(scenario())
    assert len(_rows(store)) == 3


def test_without_auth_the_app_has_no_guard_and_stays_open(store) -> None:
    from inprod.serving.app import app_with_auth_from_settings, create_app

    app = create_app(store)
    assert guard_of(app) is None

    async def scenario() -> None:
        async with _running(app) as client:
            assert (await client.get("/api/endpoints")).status_code == 200

    asyncio.run(scenario())
    assert guard_of(app_with_auth_from_settings()) is not None
