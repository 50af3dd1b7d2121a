"""``mloop models ...`` through the real entry point: listings, aliases, cards, load tests
and the one-line errors (exit 2) of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _cli import assert_one_line_error as check_one_line_error
from _cli import run_cli as cli
from mloop.config import load_settings
from mloop.registry import Registry

NAME = "flights-delay"


def flights(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"distance": rng.normal(800.0, 300.0, rows), "carrier": rng.choice(["AA", "UA"], rows)}
    )
    frame["delayed"] = (frame["distance"] > 800).astype("int64")
    return frame


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose registry has v1 @champion and v2 of a real scikit-learn model."""
    from mloop.ml import Transform, fit_sklearn, training_data

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOOP_HOME", str(tmp_path / "home"))
    with Registry(load_settings()) as registry:
        for seed in (0, 1):
            frame = flights(200, seed)
            transform = Transform(numeric=["distance"], categorical=["carrier"]).fit(frame)
            model = fit_sklearn(
                training_data(frame, "delayed", transform=transform),
                "sklearn.linear_model.LogisticRegression",
            )
            artifact = registry.artifacts.save(model, "Model")
            registry.register(NAME, artifact, metrics={"roc_auc": 0.7 + seed / 100})  # type: ignore[arg-type]
        registry.set_alias(NAME, "champion", 1, expected=None, reason="first")
        registry.set_description(NAME, "Will a flight be delayed?")
    return tmp_path


def test_list_show_and_versions(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "models", "list")
    assert code == 0 and NAME in out and "@champion→v1" in out and "Will a flight" in out

    code, out, _ = cli(capsys, "models", "show", NAME)
    assert code == 0 and "2 version(s)" in out and "Will a flight be delayed?" in out
    assert "v2" in out and "roc_auc=0.71" in out

    code, out, _ = cli(capsys, "models", "versions", NAME)
    assert code == 0 and out.index("v2") < out.index("v1") and "@champion" in out


def test_alias_set_and_rm(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "models", "alias", "set", NAME, "champion", "2", "--expected", "1")
    assert code == 0 and f"{NAME} @champion → v2 (was v1)" in out

    code, _, err = cli(capsys, "models", "alias", "set", NAME, "champion", "v1", "--expected", "1")
    check_one_line_error(
        code, err, "alias 'champion' of model 'flights-delay' points at v2, not v1"
    )

    code, out, _ = cli(
        capsys, "models", "alias", "set", NAME, "challenger", "1", "--expected", "none"
    )
    assert code == 0 and "@challenger → v1" in out

    code, out, _ = cli(capsys, "models", "alias", "rm", NAME, "challenger", "--reason", "done")
    assert code == 0 and "removed (pointed at v1)" in out

    code, out, _ = cli(capsys, "models", "audit", NAME)
    assert code == 0 and "@champion v1→v2" in out and "@challenger v1→∅" in out and "done" in out


def test_bad_input_is_one_line_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "models", "alias", "set", NAME, "latest", "1")
    check_one_line_error(code, err, "alias 'latest' is reserved")
    code, _, err = cli(capsys, "models", "show", "nope")
    check_one_line_error(code, err, "model 'nope' not found (models: flights-delay)")
    code, _, err = cli(capsys, "models", "load-test", f"models:/{NAME}@staging")
    check_one_line_error(
        code, err, "model 'flights-delay' has no alias 'staging' (aliases: champion)"
    )
    code, _, err = cli(capsys, "models", "alias", "set", NAME, "champion", "9")
    check_one_line_error(code, err, "has no version 9 (versions: v1, v2)")
    code, _, err = cli(capsys, "models", "delete", NAME, "1")
    check_one_line_error(code, err, "cannot be deleted: alias(es) champion point at it")
    code, _, err = cli(capsys, "models", "import-mlflow", str(project), "imported")
    check_one_line_error(code, err, "is not an MLflow model")


def test_card(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "models", "card", NAME, "--alias", "champion")
    assert code == 0 and out.startswith(f"# Model card: {NAME} v1")
    assert "| distance | float64 |" in out and "| roc_auc | 0.7 |" in out

    code, out, _ = cli(
        capsys, "models", "card", NAME, "2", "--format", "html", "-o", str(project / "card.html")
    )
    assert code == 0 and "model card written" in out
    assert (project / "card.html").read_text().startswith("<!DOCTYPE html>")


def test_load_test(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(
        capsys, "models", "load-test", f"models:/{NAME}@champion", "--rows", "200", "--repeat", "3"
    )
    assert code == 0, err
    assert "synthesized from the signature" in out and "rows/s" in out
    assert "p50" in out and "p99" in out and "first predictions: [" in out

    data = project / "rows.csv"
    flights(50, 7).to_csv(data, index=False)
    code, out, err = cli(capsys, "models", "load-test", f"models:/{NAME}/2", "--data", str(data))
    assert code == 0, err
    assert "rows.csv" in out

    flights(50, 7).drop(columns=["carrier"]).to_csv(data, index=False)
    code, _, err = cli(capsys, "models", "load-test", f"models:/{NAME}/2", "--data", str(data))
    check_one_line_error(
        code, err, "input does not match the model signature: column 'carrier': missing"
    )


def test_archive_delete_and_lineage(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "models", "archive", NAME, "2", "--reason", "stale")
    assert code == 0 and "v2 archived" in out
    code, out, _ = cli(capsys, "models", "versions", NAME, "--no-archived")
    assert code == 0 and "v2" not in out
    code, out, _ = cli(capsys, "models", "delete", NAME, "v2")
    assert code == 0 and "v2 deleted" in out

    code, out, _ = cli(capsys, "lineage", f"models:/{NAME}@champion")
    assert code == 0 and "Model" in out
