"""Datasets carrying the standard ``split`` column know their splits."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mloop.artifacts import ArtifactStore, Dataset
from mloop.errors import ArtifactError


def test_split_counts_are_recorded_and_splits_read_back(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "split": ["train", "train", "eval", "train"]})
    dataset = store.save(frame, Dataset)
    assert isinstance(dataset, Dataset)
    assert dataset.splits == {"train": 3, "eval": 1}
    assert dataset.split("eval").to_pydict() == {"x": [3]}
    with pytest.raises(ArtifactError, match="no split 'test'"):
        dataset.split("test")


def test_unsplit_dataset_has_no_splits(tmp_path: Path) -> None:
    dataset = ArtifactStore(str(tmp_path)).save(pd.DataFrame({"split": [1, 2]}), Dataset)
    assert isinstance(dataset, Dataset)
    assert dataset.splits == {}
    with pytest.raises(ArtifactError, match="not split"):
        dataset.split("train")
