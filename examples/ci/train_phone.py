"""Train a phone-inspector candidate in a tracked run and register it: the first step of the CI
workflow next to this file (github-actions.yml), runnable by hand the same way.

    python examples/ci/train_phone.py --out candidate.env     # then: . ./candidate.env

It writes ``CANDIDATE=phone-inspector@N`` and ``TEST_DATASET=phone-images-test@M`` to ``--out``
for the next steps (the evaluation gate judges the candidate on the held-out test version). The
store is whatever the settings name (``INPROD_STORE_URL`` / ``INPROD_ARTIFACTS`` in CI). A team
would train on its own data; here the training set is the quickstart's phone images (generated,
seeded), added once as a dataset with provenance and split into train and test versions.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from sklearn.linear_model import LogisticRegression

from inprod import datasets, models, start_run
from inprod.data.split import split
from inprod.quickstart import phone_data

DATASET, MODEL = "phone-images", "phone-inspector"


def dataset_versions(images: int, seed: int) -> tuple[str, str]:
    """The train and test versions of the phone images (made once; found again after)."""
    with tempfile.TemporaryDirectory() as folder:
        data = phone_data.generate(images, seed=seed)
        manifest = phone_data.write_image_folder(data, Path(folder))
        version = datasets.add(  # the same content again finds the stored version
            DATASET, manifest, image_column="image", label_columns=["label"],
            metadata_columns=["factory", "brightness", "blurry"],
            source=f"phone generator (seed {seed})",
        )  # fmt: skip
    report = split(version.ref, by=["label", "factory"], ratios=[0.75, 0.25],
                   names=["train", "test"], seed=seed)  # fmt: skip
    refs = {part.name: part.dataset.ref for part in report.parts if part.dataset is not None}
    return refs["train"], refs["test"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("candidate.env"))
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    args = parser.parse_args()
    train_ref, test_ref = dataset_versions(args.images, args.seed)
    table = datasets.load(train_ref)
    X = phone_data.features(datasets.load_images(train_ref))
    y = (table["label"] == "scratch").to_numpy().astype(int)
    with start_run(project="phone-inspection", name="ci-train") as run:
        run.use_dataset(train_ref, role="train")
        run.log_params({"model": "LogisticRegression", "C": args.C})
        model = LogisticRegression(C=args.C, max_iter=1000).fit(X, y)
        run.log_metrics({"train_accuracy": float(model.score(X, y))})
        version = models.register(MODEL, model, run=run, sample=X[:5],
                                  description="trained by CI")  # fmt: skip
    args.out.write_text(f"CANDIDATE={version.ref}\nTEST_DATASET={test_ref}\n")
    print(f"registered {version.ref} (trained on {train_ref}; gate data {test_ref})")


if __name__ == "__main__":
    main()
