"""Helpers for the analysis tests: the course's speech example built from rows, a small table
dataset with rule models whose errors we control, tag and features functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from inprod.data import datasets
from inprod.quickstart import phone_data
from inprod.registry import models
from inprod.store import Store

# The course's worked example: tag -> (accuracy, HLP, share of the data). 5,000 rows make every
# count whole: e.g. car noise is 200 rows, 178 right (89%), a human gets 186 right (93%).
COURSE = {
    "clean speech": (0.94, 0.95, 0.60),
    "car noise": (0.89, 0.93, 0.04),
    "people noise": (0.87, 0.89, 0.30),
    "low bandwidth": (0.70, 0.70, 0.06),
}
COURSE_ROWS = 5000
WORDS = np.array(["yes", "no", "stop", "go", "left", "right", "up", "down"])


def _wrong(rng: np.random.Generator, labels: np.ndarray, n_wrong: int) -> np.ndarray:
    """Copy of ``labels`` with ``n_wrong`` random positions replaced by another word."""
    answers = labels.copy()
    where = rng.permutation(len(labels))[:n_wrong]
    for i in where:
        answers[i] = rng.choice(WORDS[labels[i] != WORDS])
    return answers


def course_frame(seed: int = 11) -> pd.DataFrame:
    """Transcription-like rows (one word each) whose model and human answers are right exactly as
    often as the course's table says, shuffled, with one tag per row in ``noise``."""
    rng = np.random.default_rng(seed)
    parts = []
    for tag, (accuracy, hlp, share) in COURSE.items():
        n = round(share * COURSE_ROWS)
        labels = rng.choice(WORDS, n)
        parts.append(
            pd.DataFrame(
                {
                    "label": labels,
                    "prediction": _wrong(rng, labels, n - round(accuracy * n)),
                    "human_label": _wrong(rng, labels, n - round(hlp * n)),
                    "noise": tag,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


# -- a table dataset and rule models --------------------------------------------------

TABLE = "bolts"


def bolt_frame(rows: int = 1000, seed: int = 5) -> pd.DataFrame:
    """``x`` decides the label (bad when x > 0.5, 5% of labels flipped); factory B is ``b`` = 1."""
    rng = np.random.default_rng(seed)
    x = rng.random(rows)
    b = (rng.random(rows) < 0.3).astype(np.int64)
    label = np.where(x > 0.5, "bad", "good")
    flip = rng.random(rows) < 0.05
    label[flip] = np.where(label[flip] == "bad", "good", "bad")
    return pd.DataFrame(
        {
            "x": x,
            "b": b,
            "factory": np.where(b == 1, "B", "A"),
            "shift": rng.choice(["day", "night"], rows),
            "label": label,
        }
    )


def threshold_rule(frame: pd.DataFrame) -> np.ndarray:
    """The right rule."""
    return np.where(frame["x"].to_numpy() > 0.5, "bad", "good")


def slack_on_b(frame: pd.DataFrame) -> np.ndarray:
    """Right at factory A; at factory B it misses the bad parts with x in (0.5, 0.6]."""
    x, b = frame["x"].to_numpy(), frame["b"].to_numpy()
    return np.where(x > np.where(b == 1, 0.6, 0.5), "bad", "good")


def add_bolts(store: Store, tmp_path: Path, rows: int = 1000) -> str:
    path = tmp_path / "bolts.parquet"
    bolt_frame(rows).to_parquet(path, index=False)
    info = datasets.add(
        TABLE, path, label_columns=["label"], metadata_columns=["factory", "shift"], store=store
    )
    return info.ref


def register_rule(store: Store, name: str, fn, alias: str | None = None) -> str:
    sample = bolt_frame(5)[["x", "b"]]
    return models.register(name, fn, sample=sample, alias=alias, store=store).ref


# -- phone images ------------------------------------------------------------


def add_phone_images(store: Store, folder: Path, n: int = 160, seed: int = 3) -> str:
    data = phone_data.generate(n, seed=seed)
    manifest = phone_data.write_image_folder(data, folder)
    info = datasets.add(
        "phones",
        manifest,
        image_column="image",
        label_columns=["label", *phone_data.INSPECTORS],
        metadata_columns=["factory", "blurry"],
        store=store,
    )
    return info.ref


def pixels(images: np.ndarray) -> np.ndarray:
    """A features function: the quickstart's own scaling."""
    return phone_data.features(images)
