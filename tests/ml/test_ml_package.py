"""The public surface of mloop.ml, and what importing it (or not) costs."""

from __future__ import annotations

import json
import subprocess
import sys

import mloop.ml


def test_all_names_exist() -> None:
    assert mloop.ml.__all__
    assert [n for n in mloop.ml.__all__ if not hasattr(mloop.ml, n)] == []


def _loaded(code: str) -> list[str]:
    probe = (
        f"{code}; import sys, json; print(json.dumps([m for m in ('sklearn', 'lightgbm', "
        "'xgboost', 'skops', 'pandas', 'mloop.ml') if m in sys.modules]))"
    )
    return list(json.loads(subprocess.check_output([sys.executable, "-c", probe], text=True)))


def test_importing_mloop_ml_loads_no_model_library() -> None:
    assert _loaded("import mloop.ml") == ["mloop.ml"]
    assert _loaded("import mloop, mloop.artifacts") == []


def test_the_model_materializer_is_found_by_name_in_a_fresh_process() -> None:
    loaded = _loaded(
        "from mloop.artifacts import get_materializer; "
        "assert get_materializer('model').name == 'model'"
    )
    assert loaded == ["mloop.ml"]


def test_saving_a_bare_estimator_finds_the_model_materializer(tmp_path: object) -> None:
    code = (
        "import sys, numpy as np; from sklearn.linear_model import LogisticRegression; "
        "from mloop.artifacts import ArtifactStore; "
        "est = LogisticRegression().fit(np.arange(8.0).reshape(-1, 1), [0, 0, 0, 0, 1, 1, 1, 1]); "
        f"artifact = ArtifactStore({str(tmp_path)!r}).save(est, 'Model'); "
        "assert artifact.properties['materializer'] == 'model', artifact.properties; "
        "assert artifact.properties['flavor'] == 'sklearn'"
    )
    assert "mloop.ml" in _loaded(code)
