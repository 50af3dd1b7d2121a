"""The public surface: what __all__ promises is there, and import mloop stays light."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

PACKAGES = [
    "mloop",
    "mloop.artifacts",
    "mloop.config",
    "mloop.dsl",
    "mloop.orchestrator",
    "mloop.store",
    "mloop.errors",
    "mloop.datasets",
    "mloop.data",
    "mloop.components",
    "mloop.ml",
    "mloop.registry",
    "mloop.serving",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, f"{name} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []


def test_import_mloop_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys, json, mloop; "
        "print(json.dumps([m for m in ('sqlalchemy', 'pandas', 'pyarrow', 'alembic', 'fsspec', "
        "'typer', 'rich', 'numpy', 'sklearn', 'lightgbm', 'xgboost', 'optuna', 'skops') "
        "if m in sys.modules]))"
    )
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    assert loaded == []


def test_every_error_derives_from_the_root_and_has_a_status() -> None:
    import mloop.errors as errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.MloopError)
        assert 400 <= cls.http_status < 600
    err = errors.StepFailed("boom", traceback="tb", run="r1", step="s")
    assert err.to_dict() == {"error": "StepFailed", "message": "boom", "run": "r1", "step": "s"}


def test_importing_the_components_loads_no_training_library() -> None:
    code = (
        "import sys, json, mloop.components, mloop.ml, mloop.registry, mloop.serving; "
        "print(json.dumps([m for m in ('sklearn', 'lightgbm', 'xgboost', 'optuna', 'skops', "
        "'shap', 'starlette', 'uvicorn', 'prometheus_client') "
        "if m in sys.modules]))"
    )
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    assert loaded == []
