"""The registry pages' data and bad input, in-process on SQLite and PostgreSQL (no browser), and
the lineage graph's SVG."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from inprod import datasets, deploy, endpoints, models, start_run
from inprod.config import load_settings
from inprod.errors import InvalidInput
from inprod.registry.lineage import LineageNode
from inprod.rollout.plan import DeploymentPlan, Previous
from inprod.serving.app import create_app
from inprod.store import Store
from inprod.store.tables import Model
from inprod.ui.lineage_svg import MAX_BOXES, lineage_svg
from inprod.ui.pages.registry import (
    MAX_SIGNATURE_ROWS,
    Serving,
    models_page,
    serving_of,
    signature_rows,
    slice_table,
    versions_page,
)

SOURCE = 'camera <b>&"A"</b>'
FEATURES = ["brightness", "contrast", "blur", "edges"]
SLICES = {"factory=A": {"accuracy": 0.9, "count": 40.0}, "dark": {"accuracy": 0.5, "count": 6.0}}
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def registry(store: Store, tmp_path: Path) -> dict[str, Any]:
    """``tiny`` v1 (champion, from a run on a derived dataset) to v3; endpoint ``ep`` serves the
    champion with v3 as a 10% canary."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(40, 4)), columns=FEATURES)
    frame["label"] = (frame["brightness"] > 0).astype(int)
    frame.to_csv(tmp_path / "raw.csv", index=False)
    frame.head(30).to_csv(tmp_path / "clean.csv", index=False)
    datasets.add("raw", tmp_path / "raw.csv", label_columns=["label"], source=SOURCE, store=store)
    clean = datasets.add(
        "clean", tmp_path / "clean.csv", label_columns=["label"], parents=["raw@1"],
        transform="drop the last ten rows", store=store,
    )  # fmt: skip
    X, y = frame[FEATURES], frame["label"]
    with start_run("phones", "baseline", params={"C": 0.5}, store=store) as run:
        run.use_dataset(clean)
        run.log_metrics({"accuracy": 0.8})
        run.log_slice_metrics(SLICES)
        models.register(
            "tiny", LogisticRegression(C=0.5).fit(X, y), run=run, sample=X.head(3),
            alias="champion", store=store,
        )  # fmt: skip
    for c in (1.0, 2.0):
        models.register("tiny", LogisticRegression(C=c).fit(X, y), sample=X.head(3), store=store)
    endpoints.create("ep", "tiny@champion", store=store)
    deploy.canary("ep", "tiny@3", steps="10,50,100", store=store)
    return {"run_id": run.id}


@pytest.fixture
def client(store: Store, registry: dict[str, Any]) -> Iterator[TestClient]:
    settings = replace(load_settings(), rollout_tick_seconds=0.0)  # nothing moves the canary
    with TestClient(create_app(store, settings=settings, auth=False)) as c:
        yield c


def test_models_page_names_versions_aliases_and_the_endpoints_serving_them(
    store: Store, client: TestClient
) -> None:
    data = models_page(store, 1)
    [tiny] = data["models"]
    assert (tiny.name, tiny.versions, tiny.latest_version, tiny.aliases) == (
        "tiny", 3, 3, {"champion": 1},
    )  # fmt: skip
    assert data["serving"]["tiny"] == [
        Serving("ep", "primary", 1),
        Serving("ep", "canary", 3, 0.1),
    ]
    html = client.get("/ui/models").text
    assert "champion → v1" in html and "canary 10%" in html
    assert 'href="/ui/models/tiny/3"' in html and 'href="/ui/endpoints/ep"' in html


def test_lists_are_read_a_page_at_a_time(store: Store, registry: dict[str, Any]) -> None:
    with store.session() as s:
        s.add_all([Model(name=f"empty-{i}") for i in range(3)])
    first, second = models_page(store, 1, size=2), models_page(store, 2, size=2)
    assert [m.name for m in first["models"]] == ["empty-0", "empty-1"]
    assert [(m.name, m.versions) for m in second["models"]] == [("empty-2", 0), ("tiny", 3)]
    assert (second["pager"].pages, second["pager"].total) == (2, 4)
    newest = versions_page(store, "tiny", 1, size=2)
    assert [v.version for v in newest["versions"]] == [3, 2]
    assert [v.version for v in versions_page(store, "tiny", 2, size=2)["versions"]] == [1]
    with pytest.raises(InvalidInput, match="page 3 is past the last page"):
        versions_page(store, "tiny", 3, size=2)


def test_version_page_by_number_or_alias_shows_signature_slices_run_and_lineage(
    client: TestClient, registry: dict[str, Any]
) -> None:
    html = client.get("/ui/models/tiny/champion").text
    assert html == client.get("/ui/models/tiny/1").text
    for text in ("tiny@1", "brightness", "float64", "factory=A", "dark", "0.5", "-0.300"):
        assert text in html, text
    assert registry["run_id"] in html and "drop the last ten rows" in html
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", html, re.S).group(0))
    texts = " ".join(t.text or "" for t in svg.iter(f"{SVG}text"))
    assert "clean@1 (train)" in texts and "raw@1" in texts and SOURCE in texts
    assert SOURCE not in html  # escaped: the markup in a source is text, never tags


def test_version_page_marks_what_serves_it(client: TestClient) -> None:
    assert "canary 10%" in client.get("/ui/models/tiny/3").text
    assert "not served" in client.get("/ui/models/tiny/2").text


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/ui/models/nope", 404, "no model &#39;nope&#39;"),
        ("/ui/models/nope/1", 404, "no model &#39;nope&#39;"),
        ("/ui/models/tiny/9", 404, "has no version 9 (latest is 3)"),
        ("/ui/models/tiny/gold", 404, "has no alias &#39;gold&#39;"),
        ("/ui/models/tiny/x@y", 400, "is not NAME, NAME@VERSION or NAME@ALIAS"),
        ("/ui/models/tiny/0", 400, "versions start at 1"),
        ("/ui/models?page=two", 400, "page &#39;two&#39; must be a whole number"),
        ("/ui/models/tiny?page=2", 400, "page 2 is past the last page (1)"),
    ],
)
def test_bad_input_is_an_html_page_that_says_what_to_fix(
    client: TestClient, path: str, status: int, says: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert says in response.text and 'href="/ui/"' in response.text


def test_serving_resolves_aliases_and_keeps_the_previous_version_only_while_loaded() -> None:
    info = models.ModelInfo("m", "", 4, 4, "sklearn", {"champion": 2}, "", "")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    kept, dropped = (Previous("m@1", (now + timedelta(days=d)).isoformat()) for d in (1, -1))
    plans = [
        DeploymentPlan("a", "m@champion", previous=kept),
        DeploymentPlan("b", "m", previous=dropped),
        DeploymentPlan("c", "m@gone"),
        DeploymentPlan("d", "other@1"),
    ]  # fmt: skip
    assert serving_of(plans, [info], now)["m"] == [
        Serving("a", "primary", 2),
        Serving("a", "previous", 1),
        Serving("b", "primary", 4),
        Serving("c", "primary", None),
    ]


def test_signature_and_slice_tables() -> None:
    columns = [{"name": f"px{i}", "dtype": "float32"} for i in range(MAX_SIGNATURE_ROWS + 5)]
    table = signature_rows({"inputs": {"kind": "columns", "columns": columns}, "classes": [0, 1]})
    assert (len(table["rows"]), table["hidden"], table["classes"]) == (
        MAX_SIGNATURE_ROWS, 6, ["0", "1"],
    )  # fmt: skip  # 205 inputs and an unknown output row
    tensor = signature_rows({"inputs": {"kind": "tensor", "dtype": "uint8", "shape": [-1, 32, 32]}})
    assert tensor["rows"][0]["shape"] == "[N, 32, 32]" and tensor["classes"] is None
    slices = slice_table(SLICES, {"accuracy": 0.8})
    assert slices["keys"] == ["accuracy", "count"]
    dark = slices["rows"][0]
    assert dark["slice"] == "dark" and dark["cells"][0]["delta"] == pytest.approx(-0.3)
    assert dark["cells"][1] == {"value": 6.0, "delta": None}


def _boxes(svg: ET.Element) -> list[tuple[float, float, float]]:
    return [
        (float(r.get("x")), float(r.get("y")), float(r.get("height")))
        for r in svg.iter(f"{SVG}rect")
    ]


def test_lineage_svg_lays_out_left_to_right_without_overlaps() -> None:
    sources = [LineageNode("source", f"bucket {i}") for i in range(3)]
    datasets_ = [
        LineageNode("dataset_version", f"d@{i}", {"rows": 10, "content_hash": "ab" * 32},
                    [sources[i]])
        for i in range(3)
    ]  # fmt: skip
    run = LineageNode("run", "r (1234)", {"status": "finished"}, datasets_)
    root = LineageNode("model_version", "m@1", {"name": "m", "version": 1}, [run])
    svg = ET.fromstring(str(lineage_svg(root)))
    boxes = _boxes(svg)
    assert len(boxes) == 8 and len(list(svg.iter(f"{SVG}path"))) == 1 + 7  # marker + arrows
    columns = sorted({x for x, _, _ in boxes})
    assert len(columns) == 4  # model, run, datasets, sources
    for x in columns:
        spans = sorted((y, y + h) for bx, y, h in boxes if bx == x)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert float(svg.get("width")) <= 1232  # fits the page at 1280 px
    link = next(svg.iter(f"{SVG}a"))
    assert link.get("href") == "/ui/models/m/1"


def test_lineage_svg_draws_a_bounded_number_of_boxes_and_cuts_long_text() -> None:
    wide = [LineageNode("dataset_version", f"part@{i}", {"rows": 1}) for i in range(500)]
    root = LineageNode("model_version", "m@1", {"name": "m", "version": 1},
                       [LineageNode("run", "r", {}, wide)])  # fmt: skip
    svg = ET.fromstring(str(lineage_svg(root)))
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert len(_boxes(svg)) == MAX_BOXES + 1 and "382 more nodes" in texts
    long = LineageNode("source", "s3://" + "x" * 300)
    texts = [t.text for t in ET.fromstring(str(lineage_svg(long))).iter(f"{SVG}text")]
    assert texts[-1].endswith("…") and len(texts) == 4  # caption and three title lines
