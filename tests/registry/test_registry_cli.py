from __future__ import annotations

import json
import pickle

import numpy as np
import skops.io as sio
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from inprod.registry import models


def halved(x):
    return x / 2


HALVED = f"{halved.__module__}.{halved.__qualname__}"


def test_register_list_show_alias_and_convert_from_the_cli(
    cli, store, tmp_path, logreg, xy
) -> None:
    X, _ = xy
    model_file = tmp_path / "inspector.skops"
    model_file.write_bytes(sio.dumps(logreg))
    sample = tmp_path / "sample.npy"
    np.save(sample, X[:10])

    out = cli.ok(
        "models", "register", "phone-inspector", str(model_file), "--sample", str(sample),
        "--alias", "champion", "--tag", "team=vision", "--description", "baseline", "--json",
    )  # fmt: skip
    registered = json.loads(out.stdout)
    assert registered["ref"] == "phone-inspector@1" and registered["aliases"] == ["champion"]
    assert registered["signature"]["inputs"]["shape"] == [-1, 4]
    assert registered["tags"] == {"team": "vision"}
    assert (
        "registered phone-inspector@2 (sklearn)"
        in cli.ok("models", "register", "phone-inspector", str(model_file)).stdout
    )

    listed = json.loads(cli.ok("models", "list", "--json").stdout)
    assert [(m["name"], m["latest_version"], m["aliases"]) for m in listed] == [
        ("phone-inspector", 2, {"champion": 1})
    ]
    assert "champion→1" in cli.ok("models", "list").stdout
    versions = json.loads(cli.ok("models", "list", "phone-inspector", "--json").stdout)
    assert [v["version"] for v in versions] == [1, 2]
    assert "champion" in cli.ok("models", "list", "phone-inspector").stdout

    shown = cli.ok("models", "show", "phone-inspector@champion").stdout
    assert "phone-inspector@1" in shown and registered["artifact_sha"] in shown
    assert "float64" in shown and "signature" in shown
    assert json.loads(cli.ok("models", "show", "phone-inspector@1", "--json").stdout) == registered

    assert (
        "phone-inspector@champion → version 2"
        in cli.ok("models", "alias", "phone-inspector@2", "champion").stdout
    )
    cli.ok("models", "unalias", "phone-inspector", "champion")
    assert models.get("phone-inspector", store=store).aliases == []

    converted = json.loads(
        cli.ok("models", "convert", "phone-inspector@1", "--to", "onnx", "--json").stdout
    )
    assert converted["version"] == 3 and converted["flavor"] == "onnx"
    assert converted["tags"]["converted_from"] == "phone-inspector@1"


def test_trust_and_allow_pickle_flags(cli, store, tmp_path, xy) -> None:
    X, y = xy
    pipe = make_pipeline(FunctionTransformer(halved), LinearRegression()).fit(X, y)
    (tmp_path / "custom.skops").write_bytes(sio.dumps(pipe))
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(pipe))
    cli.fails(
        "models", "register", "custom", str(tmp_path / "custom.skops"), match=f"--trust {HALVED}"
    )
    cli.fails("models", "register", "custom", str(tmp_path / "model.pkl"), match="--allow-pickle")
    assert models.list_models(store=store) == []
    cli.ok("models", "register", "custom", str(tmp_path / "custom.skops"), "--trust", HALVED)
    cli.ok("models", "register", "custom", str(tmp_path / "model.pkl"), "--allow-pickle")
    assert [v.flavor for v in models.list_versions("custom", store=store)] == ["sklearn", "pickle"]


def test_python_callable_from_the_cli(cli, store) -> None:
    cli.fails(
        "models", "register", "rule", "--callable", "nope_module_z:f", match="cannot be imported"
    )
    cli.ok("models", "register", "rule", "--callable", "json:dumps", "--flavor", "python")
    assert models.get("rule", store=store).options == {"callable": "json:dumps"}


def test_cli_errors_are_one_clean_line(cli, store, tmp_path, logreg) -> None:
    (tmp_path / "m.skops").write_bytes(sio.dumps(logreg))
    (tmp_path / "no-mlmodel").mkdir()
    (tmp_path / "no-mlmodel" / "x.txt").write_text("x")
    cli.fails("models", "register", "m", str(tmp_path / "nope.skops"), match="model file not found")
    cli.fails("models", "register", "m", str(tmp_path / "no-mlmodel"), match="has no MLmodel")
    cli.fails(
        "models",
        "register",
        "m",
        str(tmp_path / "m.skops"),
        "--flavor",
        "keras",
        match="unknown flavor",
    )
    cli.fails(
        "models", "register", "m", str(tmp_path / "m.skops"), "--alias", "42", match="alias '42'"
    )
    cli.fails(
        "models", "register", "m", str(tmp_path / "m.skops"), "--tag", "novalue", match="KEY=VALUE"
    )
    cli.fails(
        "models", "register", "m", str(tmp_path / "m.skops"), "--run", "abc123", match="no run"
    )
    assert models.list_models(store=store) == []
    cli.ok("models", "register", "phone-inspector", str(tmp_path / "m.skops"))
    cli.fails("models", "show", "phone-inspectr", match="did you mean 'phone-inspector'")
    cli.fails("models", "show", "phone-inspector@7", match="has no version 7 (latest is 1)")
    cli.fails("models", "alias", "phone-inspector@1", "latest", match="not allowed")
    cli.fails("models", "unalias", "phone-inspector", "champion", match="no alias 'champion'")
    cli.fails(
        "models", "convert", "phone-inspector", "--to", "tflite", match="supported target is 'onnx'"
    )
