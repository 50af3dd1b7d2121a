"""Fixtures of the registry tests: every test runs on SQLite and on PostgreSQL, with a real
artifact store under the test's directory.

``settings`` (overriding the root one) points the metadata store at a fresh SQLite file or at
the session's PostgreSQL database, emptied before each test. ``make_model`` stores a value
as a ``Model`` artifact the way a pipeline step does: saved to the artifact store, then
recorded as the output of an execution of a run (so it has an id and lineage).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mloop.artifacts import Model
from mloop.config import Settings, load_settings
from mloop.registry import Registry
from mloop.store import OutputArtifact

MakeModel = Callable[..., Model]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'mloop.db'}"
    request.getfixturevalue("postgres_cleaner")()
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings(tmp_path: Path, metadata_url: str) -> Settings:
    return load_settings(
        home=tmp_path / "home", metadata_url=metadata_url, heartbeat_interval=0.2, max_workers=2
    )


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    with Registry(settings) as registry:
        yield registry


@pytest.fixture
def make_model(registry: Registry) -> MakeModel:
    """``make_model(value=None, signature=None, properties=None)``: a new Model artifact,
    output by an execution of one run (``make_model.run_id``)."""
    store = registry.store
    version = store.register_pipeline_version("train", {"name": "train", "steps": {}}, "h1")
    run = store.create_run(version.id, {}, owner="test:1")
    counter = itertools.count()

    def make(
        value: Any = None,
        *,
        signature: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
    ) -> Model:
        i = next(counter)
        saved = registry.artifacts.save(
            value if value is not None else {"weights": i}, "Model", materializer="json"
        )
        extra = {**(properties or {}), **({"signature": signature} if signature else {})}
        execution = store.start_execution(
            run.id,
            f"train[{i}]",
            component="train",
            component_fingerprint="f",
            cache_key=None,
            params={"i": i},
            inputs=[],
        )
        _, outputs = store.finish_execution(
            execution.id,
            "succeeded",
            outputs=[
                OutputArtifact(
                    "model", "Model", saved.uri, saved.fingerprint, {**saved.properties, **extra}
                )
            ],
        )
        record = outputs["model"][0]
        return Model(
            record.uri,
            record.fingerprint,
            record.properties,
            id=record.id,
            store=registry.artifacts,
        )

    make.run_id = run.id  # type: ignore[attr-defined]
    return make
