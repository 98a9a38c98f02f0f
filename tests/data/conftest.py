"""Fixtures for the dataset tests (helpers live in dataset_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from dataset_helpers import sensor_frame


@pytest.fixture
def table_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a DataFrame (default: ``sensor_frame()``) as CSV or Parquet; returns the path."""

    def write(frame: pd.DataFrame | None = None, name: str = "sensors.parquet") -> Path:
        frame = sensor_frame() if frame is None else frame
        path = tmp_path / "tables" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        return path

    return write
