"""``mloop endpoints ...`` through the real entry point: create, show, list, update, delete,
the request log, and the one-line errors (exit 2) of bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from _cli import assert_one_line_error as check_one_line_error
from _cli import run_cli as cli
from mloop.config import load_settings
from mloop.registry import Registry
from mloop.serving._logging import RequestLogger

M = "flights-delay"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose registry has versions 1-3 of a model, @champion on v2."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOOP_HOME", str(tmp_path / "home"))
    with Registry(load_settings()) as registry:
        for i in range(3):
            registry.register(M, registry.artifacts.save({"w": i}, "Model", materializer="json"))
        registry.set_alias(M, "champion", 2)
    return tmp_path


def test_create_show_list_update_delete(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(
        capsys,
        "endpoints", "create", "fd",
        "--model", f"models:/{M}/1=90",
        "--model", f"{M}@champion",  # takes the rest: 10
        "--shadow", f"models:/{M}/3",
        "--log-sample", "0.5",
        "--description", "Delays, canary",
    )  # fmt: skip
    assert code == 0, err
    assert "endpoint fd created" in out and "generation 1" in out and "log sample 0.5" in out
    rows = [line.split() for line in out.splitlines()]
    assert ["d1", f"models:/{M}/1", "v1", "90%"] in rows
    assert ["d2", f"models:/{M}@champion", "v2", "10%"] in rows
    assert ["d3", f"models:/{M}/3", "v3", "copy", "yes"] in rows

    code, out, _ = cli(capsys, "endpoints", "show", "fd")
    assert (
        code == 0
        and "Delays, canary" in out
        and ["d2", f"models:/{M}@champion", "v2", "10%"]
        in [line.split() for line in out.splitlines()]
    )

    code, out, _ = cli(capsys, "endpoints", "list")
    assert code == 0
    assert f"{M}/1 90%, {M}@champion 10%, {M}/3 (shadow)" in out and "Delays, canary" in out

    # --model replaces the serving set; the shadow stays; an unchanged reference keeps its id.
    code, out, err = cli(
        capsys, "endpoints", "update", "fd", "--model", f"{M}@champion=50", "--model", f"{M}/2=50"
    )
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()]
    assert "generation 2" in out
    assert ["d2", f"models:/{M}@champion", "v2", "50%"] in rows
    assert ["d4", f"models:/{M}/2", "v2", "50%"] in rows
    assert ["d3", f"models:/{M}/3", "v3", "copy", "yes"] in rows

    code, out, _ = cli(capsys, "endpoints", "update", "fd", "--no-shadow", "--description", "")
    assert code == 0 and "generation 3" in out and "copy" not in out and "Delays" not in out

    code, _, err = cli(
        capsys, "endpoints", "update", "fd", "--log-sample", "1", "--expected-generation", "2"
    )
    check_one_line_error(code, err, "endpoint 'fd' is at generation 3, not 2 as expected")

    # The registry refuses to delete a version the endpoint pins (v2 is pinned by d4).
    code, _, err = cli(capsys, "models", "alias", "rm", M, "champion")
    assert code == 0, err
    code, _, err = cli(capsys, "models", "delete", M, "2")
    check_one_line_error(code, err, "it is deployed to endpoint(s) fd")

    code, _, err = cli(capsys, "endpoints", "delete", "fd")
    check_one_line_error(code, err, "delete endpoint 'fd': confirm with --yes")
    code, out, _ = cli(capsys, "endpoints", "delete", "fd", "--yes")
    assert code == 0 and "endpoint fd deleted" in out
    code, _, err = cli(capsys, "endpoints", "show", "fd")
    check_one_line_error(code, err, "endpoint 'fd' not found (endpoints: none)")

    code, out, err = cli(capsys, "models", "delete", M, "2")
    assert code == 0, err


def test_show_says_when_a_reference_no_longer_resolves(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "endpoints", "create", "fd", "--model", f"{M}@champion")
    assert code == 0, err
    with Registry(load_settings()) as registry:
        registry.remove_alias(M, "champion")
    code, out, _ = cli(capsys, "endpoints", "show", "fd")
    assert code == 0 and "✗" in out and "has no alias 'champion'" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "fd"], "endpoint 'fd' needs at least one --model"),
        (["create", "fd", "--model", f"{M}/1=80"], "must sum to 100, not 80 (d1 80%)"),
        (["create", "fd", "--model", f"{M}/1=x"], "PERCENT must be a whole number"),
        (["create", "fd", "--model", f"{M}/1", "--model", f"{M}/2"], "give =PERCENT to every"),
        (["create", "fd", "--model", f"{M}/1=70", "--model", f"{M}/2=40", "--model", f"{M}/3"],
         "the percents given sum to 110: nothing is left for"),
        (["create", "fd", "--model", f"{M}@challenger"],
         f"endpoint 'fd', deployment d1: models:/{M}@challenger: model '{M}' has no alias "
         "'challenger' (aliases: champion)"),
        (["create", "fd", "--model", f"{M}/1", "--log-sample", "2"], "log_sample_rate must be"),
        (["create", "bad name", "--model", f"{M}/1"], "invalid endpoint name 'bad name'"),
        (["update", "fd", "--model", f"{M}/1"], "endpoint 'fd' not found"),
        (["update", "fd"], "nothing to change on endpoint 'fd'"),
        (["update", "fd", "--shadow", f"{M}/1", "--no-shadow"], "not both"),
        (["delete", "fd", "--yes"], "endpoint 'fd' not found"),
        (["logs", "fd", "--since", "yesterday"], "--since 'yesterday': use a span"),
        (["logs", "fd", "-o", "out.json"], "write to a .parquet or a .csv file"),
        (["compact-logs", "fd", "--before", "soon"], "--before 'soon': use a span"),
        (["compact-logs", "no/such"], "invalid endpoint name 'no/such'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = cli(capsys, "endpoints", *args)
    check_one_line_error(code, err, message)


def test_logs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "endpoints", "logs", "fd")
    assert code == 0 and "no request logs for endpoint fd yet" in out

    settings = load_settings()
    logger = RequestLogger(settings.resolved_serving_log_root)
    now = datetime.now(UTC)
    for i in range(30):
        logger.log(
            "fd",
            {
                "request_id": f"r{i}",
                "logged_at": now - timedelta(minutes=2 * (29 - i)),  # r29 newest
                "deployed_model_id": "d1",
                "model": M,
                "model_version": 1,
                "shadow": False,
                "latency_ms": 1.5,
                "prediction": i % 2,
                "scores": [0.25, 0.75],
                "features": {"distance": 100.0 + i, "carrier": "AA"},
            },
        )
    logger.close()

    code, out, err = cli(capsys, "endpoints", "logs", "fd")
    assert code == 0, err
    shown = [line.split()[2] for line in out.splitlines()[1:] if line.strip()]  # request ids
    assert shown == [f"r{i}" for i in range(29, 9, -1)]  # newest 20 first
    assert '{"distance": 129.0, "carrier": "AA"}' in out

    code, out, _ = cli(capsys, "endpoints", "logs", "fd", "--since", "9m", "--limit", "3")
    assert [line.split()[2] for line in out.splitlines()[1:] if line.strip()] == [
        "r29",
        "r28",
        "r27",
    ]
    code, out, _ = cli(capsys, "endpoints", "logs", "fd", "--since", "1h", "--limit", "50")
    assert len([line for line in out.splitlines()[1:] if line.strip()]) == 30
    since = (now + timedelta(hours=1)).astimezone().replace(tzinfo=None).isoformat()
    code, out, _ = cli(capsys, "endpoints", "logs", "fd", "--since", since)
    assert code == 0 and "no request logs for endpoint fd since" in out

    code, out, _ = cli(capsys, "endpoints", "logs", "fd", "-o", "fd.parquet")
    assert code == 0 and "30 row(s) written to fd.parquet" in out
    table = pq.read_table(project / "fd.parquet")
    assert table.num_rows == 30 and table.column("features").type.num_fields == 2

    code, out, _ = cli(capsys, "endpoints", "logs", "fd", "--since", "10m", "-o", "out/fd.csv")
    assert code == 0 and "5 row(s) written" in out
    csv = pacsv.read_csv(project / "out" / "fd.csv")
    assert {"features.distance", "features.carrier", "scores"} <= set(csv.column_names)
    assert csv.column("scores").to_pylist()[0] == "[0.25, 0.75]"


def test_compact_logs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(load_settings().resolved_serving_log_root)
    three_hours_ago = datetime.now(UTC) - timedelta(hours=3)
    for batch in range(2):  # two files in an hour that has ended
        logger = RequestLogger(str(root))
        for i in range(3):
            logger.log("fd", {"request_id": f"r{batch}-{i}", "logged_at": three_hours_ago,
                              "prediction": i, "features": {"distance": 1.0 * i}})  # fmt: skip
        logger.close()
    assert len(list((root / "fd").rglob("*.parquet"))) == 2

    code, out, err = cli(capsys, "endpoints", "compact-logs", "fd")
    assert code == 0, err
    assert "endpoint fd: 1 hour(s) compacted, 2 files -> 1, 6 rows" in out
    assert len(list((root / "fd").rglob("*.parquet"))) == 1
    code, out, _ = cli(capsys, "endpoints", "compact-logs", "--before", "1h")
    assert code == 0 and "nothing to compact for every endpoint" in out
    code, out, _ = cli(capsys, "endpoints", "logs", "fd", "--limit", "10")
    assert code == 0 and len([line for line in out.splitlines()[1:] if line.strip()]) == 6
