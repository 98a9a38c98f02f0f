"""Open Inference Protocol V2 against a real server: the official Triton client, a columns model,
every bad request, and the same batcher, metrics and prediction log as V1."""

from __future__ import annotations

import asyncio
import importlib
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
import tritonclient.http as triton
from e2e_server import Server, register_models, run_server
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from tritonclient.utils import InferenceServerException

from inprod import endpoints, models, predictions
from inprod.errors import InprodError
from inprod.flavors import PredictionBatch, Signature
from inprod.review.feedback import count_feedback
from inprod.serving.app import create_app
from inprod.serving.codec_v2 import InferRequest, decode_request, encode_response
from inprod.store import Store

ZERO_ROW = [0.0] * 20


def post(server, path: str, body, **headers) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers.setdefault("content-type", "application/json")
    return httpx.post(server.url + path, content=content, headers=headers, timeout=30)


def tensor(data, shape=None, datatype: str = "FP64", name: str = "input") -> dict:
    array = np.asarray(data)
    return {
        "name": name,
        "shape": list(array.shape if shape is None else shape),
        "datatype": datatype,
        "data": array.ravel().tolist(),
    }


def metric(server, name: str) -> float:
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Store, dict]]:
    """conftest's models (``tiny`` and the python callables) and a columns model, ``inspector``
    (a scikit-learn pipeline fitted on a DataFrame), behind one server for this module."""
    home = tmp_path_factory.mktemp("v2")
    store = Store(f"sqlite:///{home / 'store.db'}", str(home / "artifacts"))
    data = register_models(store)
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "brightness": rng.normal(size=120),
            "line": rng.integers(1, 5, size=120).astype(np.int64),
            "factory": rng.choice(["A", "B"], size=120).astype(object),
        }
    )
    y = ((frame["brightness"] > 0) ^ (frame["factory"] == "B")).astype(int)
    pipeline = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(), ["factory"]), (StandardScaler(), ["brightness", "line"])
        ),
        LogisticRegression(),
    ).fit(frame, y)
    models.register("inspector", pipeline, sample=frame.head(5), store=store)
    endpoints.create("inspector", "inspector@1", store=store)
    with run_server(store, home) as server:
        yield server, store, {**data, "frame": frame, "pipeline": pipeline}
    store.close()


@pytest.fixture(scope="module")
def client(served) -> Iterator[triton.InferenceServerClient]:
    c = triton.InferenceServerClient(url=served[0].url.removeprefix("http://"))
    yield c
    c.close()


def test_tritonclient_sees_a_live_ready_server_and_its_models(served, client) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("tiny")
    assert client.is_model_ready("tiny", "1")
    assert not client.is_model_ready("tiny", "2")
    assert not client.is_model_ready("nope")
    server = client.get_server_metadata()
    assert server["name"] == "inprod" and server["extensions"] == []
    assert client.get_model_metadata("tiny") == {
        "name": "tiny",
        "versions": ["1"],
        "platform": "sklearn",
        "inputs": [{"name": "input", "datatype": "FP64", "shape": [-1, 20]}],
        "outputs": [
            {"name": "output", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, 2]},
        ],
    }


def test_tritonclient_probabilities_equal_the_models_predict_proba(served, client) -> None:
    _, _, data = served
    X = data["X"][:3]
    given = triton.InferInput("input", [3, 20], "FP64")
    given.set_data_from_numpy(X, binary_data=False)
    wanted = [
        triton.InferRequestedOutput("output", binary_data=False),
        triton.InferRequestedOutput("probabilities", binary_data=False),
    ]
    result = client.infer("tiny", inputs=[given], outputs=wanted, request_id="req-7")
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), data["proba"][:3], rtol=0, atol=1e-12
    )
    assert result.as_numpy("output").tolist() == data["proba"][:3].argmax(1).tolist()
    response = result.get_response()
    assert response["model_name"] == "tiny" and response["model_version"] == "1"
    assert response["id"] == "req-7"
    ids = response["parameters"]["prediction_ids"]
    assert len(set(ids)) == 3 and all(re.fullmatch("[0-9a-f]{32}", i) for i in ids)
    # the served version by number gives the same answer
    again = client.infer("tiny", inputs=[given], outputs=wanted, model_version="1")
    np.testing.assert_array_equal(again.as_numpy("probabilities"), result.as_numpy("probabilities"))


def test_tritonclient_binary_tensors_are_refused_with_how_to_send_json(served, client) -> None:
    given = triton.InferInput("input", [1, 20], "FP64")
    given.set_data_from_numpy(served[2]["X"][:1])  # binary_data=True by default
    with pytest.raises(InferenceServerException, match="binary_data=False") as caught:
        client.infer("tiny", inputs=[given])
    assert caught.value.status() == "415"


def test_nested_data_and_only_the_requested_outputs(served) -> None:
    server, _, data = served
    X = data["X"][:2]
    body = {
        "inputs": [{"name": "input", "shape": [2, 20], "datatype": "FP64", "data": X.tolist()}],
        "outputs": [{"name": "probabilities"}],
    }
    r = post(server, "/v2/models/tiny/infer", body)
    assert r.status_code == 200, r.text
    (out,) = r.json()["outputs"]
    assert out["name"] == "probabilities" and out["shape"] == [2, 2]
    assert out["datatype"] == "FP64"
    np.testing.assert_allclose(np.reshape(out["data"], (2, 2)), data["proba"][:2], atol=1e-12)
    assert re.fullmatch("[0-9a-f]{32}", r.json()["id"])  # an id even when the request had none


def test_a_model_without_classes_gives_only_its_output(served) -> None:
    server = served[0]
    rng = np.random.default_rng(3)
    X = rng.normal(size=(4, 20)).round(6)
    meta = httpx.get(server.url + "/v2/models/row-sum").json()
    assert meta["platform"] == "python"
    assert [o["name"] for o in meta["outputs"]] == ["output"]
    r = post(server, "/v2/models/row-sum/infer", {"inputs": [tensor(X)]})
    assert r.status_code == 200, r.text
    (out,) = r.json()["outputs"]
    assert out["shape"] == [4] and out["datatype"] == "FP64"
    np.testing.assert_allclose(out["data"], X.sum(axis=1), rtol=1e-12)
    r = post(
        server,
        "/v2/models/row-sum/infer",
        {"inputs": [tensor(X)], "outputs": [{"name": "probabilities"}]},
    )
    assert r.status_code == 422
    assert r.json()["field"] == "outputs[0].name"
    assert "unknown output 'probabilities'" in r.json()["error"]


def test_v2_requests_are_counted_and_logged_like_v1(served) -> None:
    server, store, data = served
    labels = 'endpoint="tiny",version="tiny@1"'
    before_ok = metric(server, f'inprod_requests_total{{code="200",{labels}}}')
    before_rows = metric(server, f"inprod_instances_total{{{labels}}}")
    X = data["X"][10:14]
    r = post(server, "/v2/models/tiny/infer", {"inputs": [tensor(X)]}, **{"x-request-key": "v2k"})
    assert r.status_code == 200, r.text
    ids = r.json()["parameters"]["prediction_ids"]
    assert metric(server, f'inprod_requests_total{{code="200",{labels}}}') == before_ok + 1
    assert metric(server, f"inprod_instances_total{{{labels}}}") == before_rows + 4
    logged = _wait_for_logged(store, "tiny", set(ids))
    for pid, row, proba in zip(ids, X, data["proba"][10:14], strict=True):
        record = logged[pid]
        assert record.request_key == "v2k" and record.status == "ok"
        np.testing.assert_allclose(record.inputs, row, rtol=0, atol=0)
        assert record.outputs["output"] == int(proba.argmax())
        assert record.confidence == pytest.approx(proba.max(), abs=1e-12)
    # a V2 prediction id takes feedback like any other
    fb = post(server, f"/v1/predictions/{ids[0]}/feedback", {"label": 1})
    assert fb.status_code == 201, fb.text
    assert count_feedback(ids[0], store=store) == 1


def _wait_for_logged(store: Store, endpoint: str, ids: set[str]) -> dict:
    deadline = time.monotonic() + 15
    while True:
        found = {p.id: p for p in predictions.recent(endpoint, limit=500, store=store)}
        if ids <= found.keys() or time.monotonic() > deadline:
            assert ids <= found.keys(), "the predictions were not written to the log"
            return found
        time.sleep(0.1)


def test_a_model_that_raises_or_times_out_answers_as_in_v1(served) -> None:
    server = served[0]
    r = post(server, "/v2/models/explode/infer", {"inputs": [tensor([ZERO_ROW])]})
    assert r.status_code == 500
    error_id = r.json()["error_id"]
    assert error_id in r.json()["error"]
    assert error_id in server.log()
    r = post(server, "/v2/models/slow/infer", {"inputs": [tensor([ZERO_ROW])]})
    assert r.status_code == 504 and "200 ms" in r.json()["error"]


def test_concurrent_v2_requests_are_batched_and_each_gets_its_rows(served) -> None:
    server = served[0]
    rng = np.random.default_rng(4)
    requests = [rng.normal(size=(int(rng.integers(1, 13)), 20)).round(6) for _ in range(40)]

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            return await asyncio.gather(
                *[
                    c.post("/v2/models/row-sum/infer", json={"inputs": [tensor(x)]})
                    for x in requests
                ]
            )

    for x, r in zip(requests, asyncio.run(fire()), strict=True):
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["outputs"][0]["data"], x.sum(axis=1), rtol=1e-12)


def test_another_version_or_an_unknown_model_is_404_naming_what_is_served(served) -> None:
    server = served[0]
    r = httpx.get(server.url + "/v2/models/tiny/versions/2")
    assert r.status_code == 404
    assert "serves version 1 (tiny@1), not version '2'" in r.json()["error"]
    assert httpx.get(server.url + "/v2/models/tiny/versions/1").json()["versions"] == ["1"]
    r = post(server, "/v2/models/tiny/versions/2/infer", {"inputs": [tensor([ZERO_ROW])]})
    assert r.status_code == 404 and r.json()["field"] == "version"
    r = post(server, "/v2/models/tinny/infer", {"inputs": [tensor([ZERO_ROW])]})
    assert r.status_code == 404
    assert "did you mean 'tiny'" in r.json()["error"]
    assert httpx.get(server.url + "/v2/models/tinny").status_code == 404


def _body(*tensors: dict, **extra) -> dict:
    return {"inputs": list(tensors), **extra}


BAD_TINY = [
    ("malformed-json", b"{not json", {}, 400, "not valid JSON", "body"),
    ("content-type", _body(tensor([ZERO_ROW])), {"content-type": "text/plain"}, 415,
     "application/json", "content-type"),
    ("binary-extension", _body(tensor([ZERO_ROW])), {"inference-header-content-length": "10"},
     415, "binary_data=False", "inference-header-content-length"),
    ("no-inputs", {"instances": [ZERO_ROW]}, {}, 422, '"inputs"', "inputs"),
    ("empty-inputs", _body(), {}, 422, "non-empty", "inputs"),
    ("extra-field", _body(tensor([ZERO_ROW]), rows=1), {}, 422, "unexpected field 'rows'",
     "rows"),
    ("unknown-input", _body(tensor([ZERO_ROW], name="inptu")), {}, 422,
     "unknown input 'inptu'; did you mean 'input'?", "inputs[0].name"),
    ("duplicate-input", _body(tensor([ZERO_ROW]), tensor([ZERO_ROW])), {}, 422, "given twice",
     "inputs[1].name"),
    ("unknown-datatype", _body(tensor([ZERO_ROW], datatype="FP99")), {}, 422, "'FP99'",
     "inputs[0].datatype"),
    ("bytes-for-numeric", _body({"name": "input", "shape": [1, 20], "datatype": "BYTES",
     "data": ["a"] * 20}), {}, 422, "is BYTES but the model takes FP64", "inputs[0].datatype"),
    ("length-not-shape", _body(tensor(ZERO_ROW[:19], shape=[1, 20])), {}, 422,
     "has 19 values; shape [1, 20] needs 20", "inputs[0].data"),
    ("shape-vs-signature", _body(tensor([ZERO_ROW[:19]])), {}, 422,
     "shape [1, 19]; the model takes [-1, 20]", "inputs[0].shape"),
    ("nested-not-shape", _body({"name": "input", "shape": [2, 20], "datatype": "FP64",
     "data": [ZERO_ROW[:10]] * 4}), {}, 422, "nested as [4, 10]", "inputs[0].data"),
    ("ragged", _body({"name": "input", "shape": [2, 20], "datatype": "FP64",
     "data": [ZERO_ROW, ZERO_ROW[:19]]}), {}, 422, "ragged", "inputs[0].data"),
    ("null-value", _body(tensor([[None, *ZERO_ROW[1:]]])), {}, 422, "data[0] is null",
     "inputs[0].data"),
    ("string-value", _body(tensor([["x", *ZERO_ROW[1:]]])), {}, 422, "data[0] is str 'x'",
     "inputs[0].data"),
    ("int-overflow", _body(tensor([[300] * 20], datatype="INT8")), {}, 422,
     "outside the range of INT8", "inputs[0].data"),
    ("no-data", _body({"name": "input", "shape": [1, 20], "datatype": "FP64"}), {}, 422,
     'no "data"', "inputs[0].data"),
    ("bad-shape", _body(tensor([ZERO_ROW], shape=[1, -20])), {}, 422, "integers >= 0",
     "inputs[0].shape"),
    ("zero-rows", _body(tensor(np.zeros((0, 20)))), {}, 422, "no rows", "inputs[0].shape"),
    ("too-many-rows", _body(tensor(np.zeros((1001, 20)))), {}, 413, "at most 1000",
     "inputs[0].shape"),
    ("unknown-output", _body(tensor([ZERO_ROW]), outputs=[{"name": "proba"}]), {}, 422,
     "unknown output 'proba'", "outputs[0].name"),
    ("bad-id", _body(tensor([ZERO_ROW]), id=7), {}, 422, '"id" must be a string', "id"),
]  # fmt: skip


@pytest.mark.parametrize(
    "case, body, headers, status, match, field", BAD_TINY, ids=[c[0] for c in BAD_TINY]
)
def test_bad_requests_get_a_4xx_naming_the_field_and_nothing_is_predicted(
    served, case, body, headers, status, match, field
) -> None:
    server = served[0]
    labels = 'endpoint="tiny",version="tiny@1"'
    rows_before = metric(server, f"inprod_instances_total{{{labels}}}")
    rejected_before = metric(server, f'inprod_requests_total{{code="{status}",{labels}}}')
    r = post(server, "/v2/models/tiny/infer", body, **headers)
    assert r.status_code == status, r.text
    body = r.json()  # the protocol's {"error": "<message>"}, with our type and field beside it
    assert set(body) == {"error", "type", "field"}
    assert match in body["error"]
    assert body["field"] == field
    # refused at the edge: counted under its status, never reached the model or the log
    assert metric(server, f"inprod_instances_total{{{labels}}}") == rows_before
    assert metric(server, f'inprod_requests_total{{code="{status}",{labels}}}') == (
        rejected_before + 1
    )


def test_refused_requests_leave_nothing_in_the_prediction_log(served) -> None:
    server, store, _ = served
    for i, (_, body, headers, *_rest) in enumerate(BAD_TINY):
        r = post(server, "/v2/models/tiny/infer", body, **{"x-request-key": f"bad-{i}", **headers})
        assert r.status_code >= 400
    ok = post(server, "/v2/models/tiny/infer", _body(tensor([ZERO_ROW])), **{"x-request-key": "ok"})
    # the log is written in order: once the later good request is stored, nothing else is coming
    logged = _wait_for_logged(store, "tiny", set(ok.json()["parameters"]["prediction_ids"]))
    assert not [p for p in logged.values() if (p.request_key or "").startswith("bad-")]


# --- a columns model: one V2 input per column -------------------------------------------------


def test_a_columns_model_has_one_input_per_column(client) -> None:
    meta = client.get_model_metadata("inspector")
    assert meta["inputs"] == [
        {"name": "brightness", "datatype": "FP64", "shape": [-1, 1]},
        {"name": "line", "datatype": "INT64", "shape": [-1, 1]},
        {"name": "factory", "datatype": "BYTES", "shape": [-1, 1]},
    ]
    assert [o["name"] for o in meta["outputs"]] == ["output", "probabilities"]


def test_tritonclient_infers_a_columns_model_with_the_pipelines_probabilities(
    served, client
) -> None:
    data = served[2]
    rows = data["frame"].iloc[:6]
    given = []
    for name, datatype in (("factory", "BYTES"), ("brightness", "FP64"), ("line", "INT64")):
        values = rows[name].to_numpy().reshape(-1, 1)
        item = triton.InferInput(name, [6, 1], datatype)
        item.set_data_from_numpy(values, binary_data=False)
        given.append(item)  # in another order than the signature's: matched by name
    result = client.infer(
        "inspector",
        inputs=given,
        outputs=[triton.InferRequestedOutput("probabilities", binary_data=False)],
    )
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), data["pipeline"].predict_proba(rows), rtol=0, atol=1e-12
    )


def test_columns_may_be_sent_flat_with_ints_for_a_float_column(served) -> None:
    server, _, data = served
    body = _body(
        tensor([1, -2], name="brightness", datatype="INT64"),
        tensor([3, 4], name="line", datatype="INT64"),
        {"name": "factory", "shape": [2], "datatype": "BYTES", "data": ["A", "B"]},
    )
    r = post(server, "/v2/models/inspector/infer", body)
    assert r.status_code == 200, r.text
    expected = data["pipeline"].predict(
        pd.DataFrame(
            {"brightness": [1.0, -2.0], "line": [3, 4], "factory": np.array(["A", "B"], object)}
        )
    )
    assert r.json()["outputs"][0]["data"] == expected.tolist()


COLUMNS = {
    "brightness": tensor([[0.5]], name="brightness"),
    "line": tensor([[2]], name="line", datatype="INT64"),
    "factory": {"name": "factory", "shape": [1, 1], "datatype": "BYTES", "data": ["A"]},
}


def _columns(**replace) -> dict:
    return _body(*[t for n, t in {**COLUMNS, **replace}.items() if t is not None])


@pytest.mark.parametrize(
    "body, match, field",
    [
        (_columns(factory=None), "input 'factory' is missing", "factory"),
        (
            _columns(line=tensor([[2.0]], name="line")),
            "input 'line' has datatype FP64, the model takes INT64",
            "inputs[1].datatype",
        ),
        (
            _columns(factory=tensor([[1]], name="factory", datatype="INT64")),
            "input 'factory' has datatype INT64, the model takes BYTES",
            "inputs[2].datatype",
        ),
        (
            _columns(factory={"name": "factory", "shape": [1], "datatype": "BYTES", "data": [1]}),
            "data[0] is int 1; BYTES data are strings",
            "inputs[2].data",
        ),
        (
            _columns(line=tensor([[2], [3]], name="line", datatype="INT64")),
            "input 'line' has 2 rows but 'brightness' has 1",
            "inputs[1].shape",
        ),
        (
            _columns(line=tensor([[2, 3]], name="line", datatype="INT64")),
            "a column takes [N, 1] or [N]",
            "inputs[1].shape",
        ),
        (
            _columns(line=tensor([[2.5]], name="line", datatype="INT64")),
            "data[0] is float 2.5; INT64 takes integers",
            "inputs[1].data",
        ),
    ],
    ids=["missing", "float-for-int", "int-for-bytes", "bytes-not-str", "rows", "shape", "frac"],
)
def test_bad_column_inputs_are_refused_naming_the_input(served, body, match, field) -> None:
    server = served[0]
    predicted = 'inprod_instances_total{endpoint="inspector",version="inspector@1"}'
    before = metric(server, predicted)
    r = post(server, "/v2/models/inspector/infer", body)
    assert r.status_code == 422, r.text
    assert match in r.json()["error"]
    assert r.json()["field"] == field
    assert metric(server, predicted) == before


def test_health_ready_routes_answer_json(served) -> None:
    server = served[0]
    assert httpx.get(server.url + "/v2/health/live").json() == {"live": True}
    assert httpx.get(server.url + "/v2/health/ready").json() == {"ready": True}
    assert httpx.get(server.url + "/v2/models/tiny/ready").json() == {
        "name": "tiny",
        "ready": True,
    }
    assert httpx.get(server.url + "/v2").json()["name"] == "inprod"


def test_no_request_body_crashes_the_decoder() -> None:
    """Seeded random bodies (junk and near-valid) get an InprodError (a 4xx), never another one."""
    signatures = [
        Signature.from_dict(
            {"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 3]}, "classes": [0, 1]}
        ),
        Signature.from_dict({"inputs": {"kind": "tensor", "dtype": "int8", "shape": [-1, 2, 2]}}),
        Signature.from_dict(
            {
                "inputs": {
                    "kind": "columns",
                    "columns": [
                        {"name": "a", "dtype": "float64"},
                        {"name": "b", "dtype": "int64"},
                        {"name": "c", "dtype": "str"},
                    ],
                }
            }
        ),
        Signature(),
    ]
    rng = np.random.default_rng(6)
    atoms = [None, True, 0, -1, 300, 2**63, 1.5, 1e308, "x", "FP64", "input", [], {}]
    datatypes = ["FP64", "FP16", "INT64", "INT8", "BOOL", "BYTES", "UINT8", None, 3]

    def pick(options: list):
        return options[int(rng.integers(len(options)))]

    def junk(depth: int = 0):
        r = rng.random()
        if depth > 2 or r < 0.4:
            return pick(atoms)
        if r < 0.7:
            return [junk(depth + 1) for _ in range(int(rng.integers(4)))]
        keys = ["name", "shape", "datatype", "data", "inputs", "outputs", "id"]
        return {pick(keys): junk(depth + 1) for _ in range(int(rng.integers(5)))}

    def near_valid() -> dict:
        inputs = []
        for _ in range(int(rng.integers(1, 4))):
            n = int(rng.integers(0, 3))
            size = n * int(rng.integers(1, 5))
            inputs.append(
                {
                    "name": pick(["input", "a", "b", "c", "x"]),
                    "shape": pick([[n, 3], [n], [n, 1], [n, 2, 2], [n, -1], junk()]),
                    "datatype": pick(datatypes),
                    "data": pick(
                        [[pick(atoms[:9]) for _ in range(size)], [1.5] * size, ["s"] * size]
                    ),
                }
            )
        return {"inputs": inputs, "outputs": pick([None, [{"name": "output"}], junk()])}

    accepted = 0
    for k in range(1500):
        payload = near_valid() if k % 3 else junk()
        for signature in signatures:
            try:
                decode_request(payload, signature, max_instances=2)
                accepted += 1
            except InprodError:
                pass
    assert accepted > 0


def test_an_endpoint_whose_model_cannot_load_is_not_ready(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "vanishing_model.py"
    module.write_text("def predict(batch):\n    return batch[:, 0]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    signature = {"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 2]}}
    models.register(
        "gone",
        flavor="python",
        callable_ref="vanishing_model:predict",
        signature=signature,
        store=store,
    )
    endpoints.create("gone", "gone@1", store=store)
    module.unlink()  # the server cannot import it any more
    sys.modules.pop("vanishing_model", None)
    importlib.invalidate_caches()

    async def ask() -> list[httpx.Response]:
        app = create_app(store)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://v2") as c:
                return [
                    await c.get("/v2/health/live"),
                    await c.get("/v2/health/ready"),
                    await c.get("/v2/models/gone/ready"),
                    await c.get("/v2/models/gone"),
                    await c.post("/v2/models/gone/infer", json={"inputs": []}),
                ]

    live, ready, model_ready, metadata, inferred = asyncio.run(ask())
    assert live.status_code == 200
    assert ready.status_code == 503 and "vanishing_model" in ready.json()["problems"]["gone"]
    assert model_ready.status_code == 503 and model_ready.json()["ready"] is False
    assert metadata.status_code == 503 and "cannot serve" in metadata.json()["error"]
    assert inferred.status_code == 503
    assert predictions.count("gone", store=store) == 0


def test_outputs_that_are_not_numbers_travel_as_bytes() -> None:
    request = InferRequest(id=None, outputs=None)
    labels = PredictionBatch(np.array(["ok", "scratch"], dtype=object))
    (out,) = encode_response("m", "1", request, labels, ["a", "b"], "r")["outputs"]
    assert out == {"name": "output", "datatype": "BYTES", "shape": [2], "data": ["ok", "scratch"]}
    ragged = PredictionBatch([[1, 2], {"k": 3}])
    (out,) = encode_response("m", "1", request, ragged, ["a", "b"], "r")["outputs"]
    assert out["datatype"] == "BYTES" and out["data"] == ["[1,2]", '{"k":3}']
