from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sqlalchemy import select

from inprod.errors import IntegrityFailure, InvalidInput, NotFound, UnsafeContent
from inprod.flavors import Predictor
from inprod.registry import models
from inprod.store.tables import AuditEvent

RUN_ID = "0123456789abcdef0123456789abcdef"


def doubled(x):
    """Not a type skops trusts by default."""
    return x * 2


DOUBLED = f"{doubled.__module__}.{doubled.__qualname__}"


def rule(batch):
    return (np.asarray(batch)[:, 0] > 0).astype(int)


def test_registering_numbers_versions_and_loads_identical_predictions(store, logreg, xy) -> None:
    X, _ = xy
    first = models.register("phone-inspector", logreg, sample=X[:5], store=store)
    second = models.register(
        "phone-inspector", logreg, description="same weights", tags={"team": 1}, store=store
    )
    assert (first.version, second.version) == (1, 2)
    assert first.ref == "phone-inspector@1" and first.flavor == "sklearn"
    assert first.signature == {
        "inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 4]},
        "outputs": {"kind": "tensor", "dtype": "int64", "shape": [-1]},
        "classes": [0, 1],
    }
    # without a sample, the fitted model's n_features_in_ gives the inputs
    assert second.signature["inputs"] == {"kind": "tensor", "dtype": None, "shape": [-1, 4]}
    assert second.tags == {"team": "1"} and second.description == "same weights"
    assert first.created_by and first.created_at.endswith("+00:00")

    predictor = models.load("phone-inspector@1", store=store)
    assert isinstance(predictor, Predictor)
    batch = predictor.predict(X)
    np.testing.assert_array_equal(batch.outputs, logreg.predict(X))
    np.testing.assert_array_equal(batch.probabilities, logreg.predict_proba(X))
    assert models.get("phone-inspector", store=store).version == 2
    assert models.get("phone-inspector@latest", store=store).version == 2
    assert [v.version for v in models.list_versions("phone-inspector", store=store)] == [1, 2]
    assert models.get("phone-inspector@1", store=store).to_dict() == first.to_dict()


def test_the_artifact_is_a_verified_tree_of_the_model_file(store, logreg) -> None:
    info = models.register("m", logreg, store=store)
    files = store.artifacts.tree_files(info.artifact_sha)
    assert list(files) == ["model.skops"]
    data = store.artifacts.read_bytes(files["model.skops"]["sha256"])
    assert hashlib.sha256(data).hexdigest() == files["model.skops"]["sha256"]
    assert type(sio.loads(data)) is LogisticRegression


def test_register_from_skops_onnx_and_pickle_files(store, tmp_path, logreg, xy) -> None:
    X, _ = xy
    (tmp_path / "m.skops").write_bytes(sio.dumps(logreg))
    onnx_model = to_onnx(logreg, initial_types=[("input", FloatTensorType([None, 4]))])
    (tmp_path / "m.onnx").write_bytes(onnx_model.SerializeToString())
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(logreg))

    assert models.register("a", path=tmp_path / "m.skops", store=store).flavor == "sklearn"
    onnx_info = models.register("b", path=str(tmp_path / "m.onnx"), sample=X[:3], store=store)
    assert onnx_info.flavor == "onnx"
    got = models.load("b", store=store).predict(X).probabilities
    np.testing.assert_allclose(got, logreg.predict_proba(X), atol=1e-5)
    pickled = models.register("c", path=tmp_path / "m.pkl", allow_pickle=True, store=store)
    assert pickled.options == {"allow_pickle": True}
    # the consent given at registration is remembered: loading needs no flag
    np.testing.assert_array_equal(
        models.load("c", store=store).predict(X).outputs, logreg.predict(X)
    )


def test_register_an_onnx_model_object_and_a_dataframe_sample(store, frame, xy) -> None:
    model = LogisticRegression().fit(frame, xy[1])
    info = models.register("df-model", model, sample=frame.head(3), store=store)
    assert [c["name"] for c in info.signature["inputs"]["columns"]] == list(frame.columns)
    batch = models.load("df-model", store=store).predict(frame)
    np.testing.assert_array_equal(batch.probabilities, model.predict_proba(frame))
    onnx_model = to_onnx(model, initial_types=[("input", FloatTensorType([None, 4]))])
    assert models.register("df-onnx", onnx_model, store=store).flavor == "onnx"


def test_an_mlflow_folder_is_stored_whole(store, mlflow_folder, logreg, xy) -> None:
    folder = mlflow_folder(logreg)
    info = models.register("imported", path=folder, store=store)
    assert info.flavor == "mlflow"
    assert info.options["mlflow"] == {"flavor": "sklearn", "file": "model.skops", "format": "skops"}
    assert sorted(store.artifacts.tree_files(info.artifact_sha)) == [
        "MLmodel",
        "model.skops",
        "requirements.txt",
    ]
    batch = models.load("imported", store=store).predict(xy[0])
    np.testing.assert_array_equal(batch.outputs, logreg.predict(xy[0]))
    pickled = models.register(
        "imported-pkl", path=mlflow_folder(logreg, fmt="pickle", name="p"), allow_pickle=True,
        store=store,
    )  # fmt: skip
    assert pickled.options["allow_pickle"] is True


def test_trusted_types_are_stored_and_used_at_load(store, xy) -> None:
    X, y = xy
    pipe = make_pipeline(FunctionTransformer(doubled), LinearRegression()).fit(X, y)
    info = models.register("custom", pipe, trusted=[DOUBLED, "unused.Type"], store=store)
    assert info.options == {"trusted": [DOUBLED]}
    np.testing.assert_array_equal(
        models.load("custom", store=store).predict(X).outputs, pipe.predict(X)
    )


def test_python_callables_register_by_reference(store, xy) -> None:
    ref = f"{rule.__module__}:rule"
    by_ref = models.register("rule", callable_ref=ref, sample=xy[0][:4], store=store)
    by_object = models.register("rule", rule, store=store)
    assert by_ref.flavor == by_object.flavor == "python"
    assert by_ref.options == by_object.options == {"callable": ref}
    assert by_ref.signature["outputs"]["dtype"] == "int64"
    np.testing.assert_array_equal(
        models.load("rule@2", store=store).predict(xy[0]).outputs, rule(xy[0])
    )


def test_a_run_links_the_version_and_gives_its_latest_metrics(store, insert_run, logreg) -> None:
    insert_run(RUN_ID, name="baseline", latest_metrics={"accuracy": 0.91, "loss": 0.2})

    class ActiveRun:
        id = RUN_ID
        flushed = False

        def flush(self) -> None:
            self.flushed = True

    run = ActiveRun()
    info = models.register("m", logreg, run=run, store=store)
    assert run.flushed
    assert info.run_id == RUN_ID and info.metrics == {"accuracy": 0.91, "loss": 0.2}
    by_prefix = models.register("m", logreg, run=RUN_ID[:8], metrics={"accuracy": 0.5}, store=store)
    assert by_prefix.run_id == RUN_ID and by_prefix.metrics == {"accuracy": 0.5}


def test_aliases_move_and_every_move_is_audited(store, logreg) -> None:
    models.register("m", logreg, alias="champion", store=store)
    models.register("m", logreg, store=store)
    assert models.get("m@champion", store=store).version == 1
    moved = models.set_alias("m@2", "champion", store=store)
    assert moved.version == 2 and moved.aliases == ["champion"]
    models.set_alias("m@champion", "challenger", store=store)  # via another alias
    assert models.get("m@challenger", store=store).version == 2
    assert models.list_models(store=store)[0].aliases == {"challenger": 2, "champion": 2}
    models.delete_alias("m", "challenger", store=store)
    with store.session(write=False) as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.kind, e.subject, e.details) for e in events] == [
        ("alias.moved", "model:m", {"alias": "champion", "from": None, "to": 1}),
        ("alias.moved", "model:m", {"alias": "champion", "from": 1, "to": 2}),
        ("alias.moved", "model:m", {"alias": "challenger", "from": None, "to": 2}),
        ("alias.deleted", "model:m", {"alias": "challenger", "from": 2}),
    ]
    assert all(e.actor for e in events)


@pytest.mark.parametrize("alias", ["3", "v2", "latest", "has space", "a@b", "", "x" * 101])
def test_invalid_alias_names_are_refused(store, logreg, nothing_stored, alias) -> None:
    with pytest.raises(InvalidInput, match="is not allowed"):
        models.register("m", logreg, alias=alias, store=store)
    nothing_stored()


def test_unknown_names_versions_and_aliases_suggest_what_exists(store, logreg) -> None:
    models.register("phone-inspector", logreg, alias="champion", store=store)
    models.register("phone-inspector", logreg, store=store)
    with pytest.raises(NotFound, match="no model 'phone-inspectr'; did you mean 'phone-inspector'"):
        models.get("phone-inspectr", store=store)
    with pytest.raises(
        NotFound,
        match=r"model 'phone-inspector' has no version 7 \(latest is 2\); "
        r"try 'inprod models list phone-inspector'",
    ):
        models.load("phone-inspector@7", store=store)
    with pytest.raises(NotFound, match="no alias 'champoin'; did you mean 'champion'"):
        models.get("phone-inspector@champoin", store=store)
    with pytest.raises(NotFound, match="no alias 'staging'"):
        models.delete_alias("phone-inspector", "staging", store=store)
    with pytest.raises(NotFound, match="has no version 9"):
        models.set_alias("phone-inspector@9", "champion", store=store)
    with pytest.raises(InvalidInput, match="NAME@VERSION"):
        models.get("phone-inspector@", store=store)


def test_a_tampered_artifact_fails_to_load(store, logreg) -> None:
    info = models.register("m", logreg, store=store)
    blob = store.artifacts.tree_files(info.artifact_sha)["model.skops"]["sha256"]
    path = Path(store.artifacts.root) / "sha256" / blob[:2] / blob
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityFailure, match="no longer matches its sha256"):
        models.load("m", store=store)


def test_a_stored_signature_that_disagrees_with_the_model_is_an_integrity_failure(
    store, logreg
) -> None:
    from inprod.store.tables import ModelVersion

    info = models.register("m", logreg, store=store)
    with store.session() as s:
        s.get(ModelVersion, info.id).signature = {
            "inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 3]}
        }
    with pytest.raises(IntegrityFailure, match="register the model again"):
        models.load("m", store=store)


def test_bad_registrations_are_refused_and_store_nothing(
    store, tmp_path, logreg, xy, mlflow_folder, insert_run, nothing_stored
) -> None:
    X, y = xy
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(logreg))
    (tmp_path / "not-mlflow").mkdir()
    (tmp_path / "not-mlflow" / "model.pkl").write_bytes(b"x")
    (tmp_path / "m.bin").write_bytes(b"x")
    untrusted = make_pipeline(FunctionTransformer(doubled), LinearRegression()).fit(X, y)
    cases = [
        (NotFound, "model file not found", dict(path=tmp_path / "missing.skops")),
        (UnsafeContent, f"--trust {DOUBLED}", dict(model=untrusted)),
        (UnsafeContent, "--allow-pickle", dict(path=tmp_path / "m.pkl")),
        (UnsafeContent, "--allow-pickle", dict(path=mlflow_folder(logreg, fmt="pickle"))),
        (InvalidInput, "has no MLmodel file", dict(path=tmp_path / "not-mlflow")),
        (InvalidInput, r"3 input feature\(s\) but the model expects 4",
         dict(model=logreg, sample=X[:5, :3])),
        (InvalidInput, "unknown flavor 'tensorflow'", dict(model=logreg, flavor="tensorflow")),
        (InvalidInput, "cannot be imported", dict(callable_ref="no_such_module_q:predict")),
        (InvalidInput, "cannot tell the flavor", dict(path=tmp_path / "m.bin")),
        (InvalidInput, "allow_pickle=True", dict(model=logreg, flavor="pickle")),
        (InvalidInput, "nothing to register", dict()),
        (InvalidInput, "not allowed", dict(model=logreg, name="bad/name")),
        (InvalidInput, "not a finite number", dict(model=logreg, metrics={"acc": float("nan")})),
        (NotFound, "no run with id", dict(model=logreg, run="deadbeef")),
    ]  # fmt: skip
    for error, message, kwargs in cases:
        name = kwargs.pop("name", "m")
        with pytest.raises(error, match=message):
            models.register(name, store=store, **kwargs)
        nothing_stored()


def test_convert_to_onnx_registers_a_faithful_new_version(store, insert_run, logreg, xy) -> None:
    X, _ = xy
    insert_run(RUN_ID, latest_metrics={"accuracy": 0.9})
    models.register("m", logreg, sample=X[:5], run=RUN_ID, tags={"team": "vision"}, store=store)
    converted = models.convert_to_onnx("m@1", store=store)
    assert (converted.version, converted.flavor) == (2, "onnx")
    assert converted.tags == {"team": "vision", "converted_from": "m@1"}
    assert converted.run_id == RUN_ID and converted.metrics == {"accuracy": 0.9}
    assert converted.signature == models.get("m@1", store=store).signature
    batch = models.load("m@2", store=store).predict(X)
    np.testing.assert_allclose(batch.probabilities, logreg.predict_proba(X), atol=1e-5)
    with pytest.raises(InvalidInput, match=r"is an 'onnx' model; only scikit-learn"):
        models.convert_to_onnx("m@2", store=store)


def test_concurrent_first_registrations_get_distinct_versions(store, logreg) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        infos = list(pool.map(lambda _: models.register("m", logreg, store=store), range(4)))
    assert sorted(i.version for i in infos) == [1, 2, 3, 4]
    assert len(models.list_models(store=store)) == 1
