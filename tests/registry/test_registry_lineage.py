from __future__ import annotations

import json

import pytest

from inprod.errors import NotFound
from inprod.registry import models
from inprod.registry.lineage import lineage
from inprod.store.tables import Dataset, DatasetParent, DatasetVersion, RunDataset

RUN_ID = "feedfacefeedfacefeedfacefeedface"


def add_version(s, dataset: Dataset, version: int, **values) -> DatasetVersion:
    row = DatasetVersion(
        dataset_id=dataset.id,
        version=version,
        content_hash=f"{dataset.name}-{version}-hash",
        kind="table",
        format="csv",
        row_count=100 * version,
        **values,
    )
    s.add(row)
    s.flush()
    return row


@pytest.fixture
def trained(store, insert_run, logreg):
    """raw (from a source) -> clean (derived) -> used for training; holdout for evaluation."""
    insert_run(
        RUN_ID,
        name="baseline-logreg",
        status="finished",
        code_sha="a" * 40,
        code_dirty=True,
        params={"C": 1.0},
        latest_metrics={"accuracy": 0.93},
    )
    with store.session() as s:
        images = Dataset(name="phone-images")
        holdout = Dataset(name="phone-holdout")
        s.add_all([images, holdout])
        s.flush()
        raw = add_version(s, images, 1, source="s3://factory-a/line-3", transform="")
        clean = add_version(s, images, 2, transform="relabel disagreements", code_sha="b" * 40)
        test = add_version(s, holdout, 1, source="factory B camera 2")
        s.add(DatasetParent(child_id=clean.id, parent_id=raw.id))
        s.add_all(
            [
                RunDataset(run_id=RUN_ID, dataset_version_id=clean.id, role="train"),
                RunDataset(run_id=RUN_ID, dataset_version_id=test.id, role="eval"),
            ]
        )
        ids = {"raw": raw.id, "clean": clean.id, "test": test.id}
    models.register("phone-inspector", logreg, run=RUN_ID, alias="champion", store=store)
    return ids


def test_lineage_walks_version_run_datasets_parents_and_sources(store, trained) -> None:
    root = lineage("phone-inspector@champion", store=store)
    assert (root.kind, root.label) == ("model_version", "phone-inspector@1")
    assert root.details["aliases"] == ["champion"] and root.details["flavor"] == "sklearn"
    [run] = root.children
    assert run.kind == "run" and run.label == "baseline-logreg (feedface)"
    assert run.details["code_version"] == {"sha": "a" * 40, "dirty": True}
    assert run.details["params"] == {"C": 1.0} and run.details["metrics"] == {"accuracy": 0.93}
    assert run.details["status"] == "finished"
    eval_node, train_node = run.children  # ordered by role
    assert (eval_node.label, eval_node.details["role"]) == ("phone-holdout@1 (eval)", "eval")
    assert train_node.label == "phone-images@2 (train)"
    assert train_node.details["transform"] == "relabel disagreements"
    [parent] = train_node.children
    assert parent.label == "phone-images@1" and parent.details["role"] == "parent"
    assert [(c.kind, c.label) for c in parent.children] == [("source", "s3://factory-a/line-3")]
    assert [(c.kind, c.label) for c in eval_node.children] == [("source", "factory B camera 2")]
    kinds = [n.kind for n in root.walk()]
    assert kinds.count("dataset_version") == 3 and kinds.count("source") == 2
    assert json.loads(json.dumps(root.to_dict()))["children"][0]["label"] == run.label


def test_a_parent_cycle_is_cut_and_marked(store, trained) -> None:
    with store.session() as s:
        s.add(DatasetParent(child_id=trained["raw"], parent_id=trained["clean"]))
    root = lineage("phone-inspector", store=store)
    train = root.children[0].children[1]
    again = train.children[0].children[0]
    assert again.label == "phone-images@2" and again.details["cycle"] is True
    assert again.children == []


def test_a_version_without_a_run_is_a_single_node(store, logreg) -> None:
    models.register("rule-of-thumb", logreg, store=store)
    root = lineage("rule-of-thumb", store=store)
    assert root.children == [] and root.details["run_id"] is None
    with pytest.raises(NotFound, match="did you mean 'rule-of-thumb'"):
        lineage("rule-of-thum", store=store)


def test_lineage_from_the_cli(cli, trained) -> None:
    text = cli.ok("lineage", "phone-inspector@champion").stdout
    for expected in (
        "model phone-inspector@1",
        "run baseline-logreg (feedface) finished",
        "aaaaaaaaaaaa (dirty)",
        "accuracy=0.93",
        "dataset phone-images@2 (train)",
        "source s3://factory-a/line-3",
    ):
        assert expected in text, text
    as_json = json.loads(cli.ok("lineage", "phone-inspector", "--json").stdout)
    assert as_json["children"][0]["children"][1]["children"][0]["label"] == "phone-images@1"
    cli.fails("lineage", "phone-inspector@9", match="has no version 9")
