"""The registry contract: models, versions, aliases, tags, lifecycle and audit, on SQLite and
PostgreSQL, with real artifact files."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from mloop.artifacts import Model
from mloop.config import Settings
from mloop.errors import ConflictError, DefinitionError, NotFoundError
from mloop.registry import ANY, ModelURI, Registry, default_actor, parse_model_uri
from mloop.store._models import model_deployments

MakeModel = Callable[..., Model]
SIGNATURE = {
    "inputs": [{"name": "distance", "type": "float64"}, {"name": "carrier", "type": "string"}],
    "outputs": [{"name": "delayed", "type": "int64"}],
}


def actions(registry: Registry, name: str) -> list[str]:
    return [entry.action for entry in registry.audit(name)]


# Registering -----------------------------------------------------------------------------


def test_register_creates_the_model_and_numbers_versions(
    registry: Registry, make_model: MakeModel
) -> None:
    first = registry.register(
        "flights-delay", make_model(signature=SIGNATURE), metrics={"roc_auc": 0.71}
    )
    second = registry.register("flights-delay", make_model().id or 0, description="retrained")

    assert (first.model, first.version, second.version) == ("flights-delay", 1, 2)
    assert first.uri == "models:/flights-delay/1"
    assert first.run_id == make_model.run_id  # type: ignore[attr-defined]  # from the lineage
    assert first.signature == SIGNATURE and second.signature == {}
    assert first.metrics == {"roc_auc": 0.71}
    assert (first.source, first.state, first.created_by) == ("api", "ready", default_actor())
    assert second.description == "retrained"

    model = registry.get_model("flights-delay")
    assert (model.versions, model.latest_version, model.aliases) == (2, 2, {})
    assert [v.version for v in registry.list_versions("flights-delay")] == [2, 1]
    assert registry.get_version("flights-delay", 1) == first
    assert [m.name for m in registry.list_models()] == ["flights-delay"]
    assert actions(registry, "flights-delay") == ["create_model", "register", "register"]


def test_create_model_and_names(registry: Registry, make_model: MakeModel) -> None:
    created = registry.create_model("churn", "who leaves", {"team": "growth"}, actor="ci")
    assert (created.description, created.tags, created.latest_version) == (
        "who leaves",
        {"team": "growth"},
        None,
    )
    with pytest.raises(ConflictError, match="model 'churn' already exists"):
        registry.create_model("churn")
    for bad in ("", "-dash-first", "has space", "x" * 129, "slash/name"):
        with pytest.raises(DefinitionError, match="letters, digits"):
            registry.register(bad, make_model())
    assert [m.name for m in registry.list_models()] == ["churn"]
    assert registry.audit("churn")[0].actor == "ci"


def test_only_model_artifacts_and_known_runs_are_registered(
    registry: Registry, make_model: MakeModel
) -> None:
    stats = registry.artifacts.save({"rows": 3}, "Statistics", materializer="json")
    with pytest.raises(DefinitionError, match="only Model artifacts"):
        registry.register("m", stats)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="artifact 987654 not found"):
        registry.register("m", 987654)
    with pytest.raises(NotFoundError, match="run 'nope' not found"):
        registry.register("m", make_model(), run_id="nope")
    # Nothing was left behind by the failed writes: not even the model.
    assert registry.list_models() == []


def test_a_model_saved_outside_a_pipeline_gets_its_artifact_row(registry: Registry) -> None:
    saved = registry.artifacts.save({"weights": [1, 2]}, "Model", materializer="json")
    assert saved.id is None
    version = registry.register("imported", saved)  # type: ignore[arg-type]
    artifact = registry.store.get_artifact(version.artifact_id)
    assert (artifact.type, artifact.fingerprint, version.run_id) == (
        "Model",
        saved.fingerprint,
        None,
    )
    assert registry.artifact(version).load() == {"weights": [1, 2]}


# References --------------------------------------------------------------------------------


def test_parse_model_uri() -> None:
    assert parse_model_uri("models:/m@champion") == ModelURI("m", alias="champion")
    assert parse_model_uri("models:/m/3") == ModelURI("m", version=3)
    assert parse_model_uri("models:/m/v3") == ModelURI("m", version=3)
    assert parse_model_uri("models:/m/latest") == ModelURI("m")
    assert parse_model_uri("m@latest").is_latest
    assert parse_model_uri("m@challenger") == ModelURI("m", alias="challenger")
    assert (
        str(ModelURI("m", alias="a")) == "models:/m@a" and str(ModelURI("m")) == "models:/m/latest"
    )
    for bad in ("models:/m/0", "models:/m/x", "models:/@a", "models:/m@", "models:/m@3", ""):
        with pytest.raises(DefinitionError):
            parse_model_uri(bad)


def test_resolve_and_not_found_messages(registry: Registry, make_model: MakeModel) -> None:
    registry.register("m", make_model())
    registry.register("m", make_model())
    v2 = registry.set_alias("m", "challenger", 2)
    assert registry.resolve("models:/m@challenger") == v2
    assert registry.resolve("m@challenger") == v2
    assert registry.resolve("models:/m/2") == v2
    assert registry.resolve("models:/m/latest") == v2

    with pytest.raises(
        NotFoundError, match=r"model 'm' has no alias 'champion' \(aliases: challenger\)"
    ):
        registry.resolve("models:/m@champion")
    with pytest.raises(NotFoundError, match=r"model 'm' has no version 7 \(versions: v1, v2\)"):
        registry.resolve("models:/m/7")
    with pytest.raises(NotFoundError, match=r"model 'x' not found \(models: m\)") as info:
        registry.resolve("models:/x@champion")
    assert info.value.fields == {"model": "x"}
    assert info.value.http_status == 404


# Aliases -----------------------------------------------------------------------------------


def test_alias_compare_and_set_with_audit(registry: Registry, make_model: MakeModel) -> None:
    for _ in range(3):
        registry.register("m", make_model())
    assert registry.set_alias("m", "champion", 1, expected=None, actor="alice").aliases == (
        "champion",
    )
    with pytest.raises(ConflictError, match="points at v1, not no version") as info:
        registry.set_alias("m", "champion", 2, expected=None)
    assert info.value.fields["current"] == 1
    with pytest.raises(ConflictError, match=r"'champion' of model 'm' points at v1, not v2"):
        registry.set_alias("m", "champion", 3, expected=2)
    with pytest.raises(ConflictError, match="does not exist, not v1"):
        registry.set_alias("m", "challenger", 3, expected=1)

    moved = registry.set_alias("m", "champion", 2, expected=1, actor="bob", reason="better auc")
    assert moved.version == 2 and moved.aliases == ("champion",)
    registry.set_alias("m", "champion", 2, expected=2)  # already there: no change, no audit
    registry.set_alias("m", "champion", 3, expected=ANY)
    assert registry.get_model("m").aliases == {"champion": 3}
    assert registry.get_version("m", 2).aliases == ()

    moves = [e for e in registry.audit("m") if e.action == "set_alias"]
    assert [(e.from_version, e.to_version, e.actor) for e in moves] == [
        (None, 1, "alice"),
        (1, 2, "bob"),
        (2, 3, default_actor()),
    ]
    assert moves[1].reason == "better auc" and moves[1].alias == "champion"

    assert registry.remove_alias("m", "champion", actor="carol", reason="rollback") == 3
    assert registry.get_model("m").aliases == {}
    removed = registry.audit("m")[-1]
    assert (removed.action, removed.from_version, removed.to_version, removed.actor) == (
        "remove_alias",
        3,
        None,
        "carol",
    )
    with pytest.raises(NotFoundError, match=r"has no alias 'champion' \(aliases: none\)"):
        registry.remove_alias("m", "champion")


def test_reserved_and_invalid_aliases(registry: Registry, make_model: MakeModel) -> None:
    registry.register("m", make_model())
    for reserved in ("latest", "LATEST", "3", "v3", "V12"):
        with pytest.raises(DefinitionError, match="reserved") as info:
            registry.set_alias("m", reserved, 1)
        assert info.value.http_status == 400
    with pytest.raises(DefinitionError, match="invalid alias"):
        registry.set_alias("m", "bad alias", 1)


def test_a_failed_alias_move_changes_nothing(registry: Registry, make_model: MakeModel) -> None:
    registry.register("m", make_model())
    registry.set_alias("m", "champion", 1)
    before = registry.audit("m")
    with pytest.raises(NotFoundError, match=r"has no version 5 \(versions: v1\)"):
        registry.set_alias("m", "champion", 5)
    with pytest.raises(NotFoundError, match="model 'nope' not found"):
        registry.set_alias("nope", "champion", 1)
    assert registry.audit("m") == before
    assert registry.get_model("m").aliases == {"champion": 1}


# Tags, descriptions, lifecycle --------------------------------------------------------------


def test_tags_and_descriptions(registry: Registry, make_model: MakeModel) -> None:
    registry.register("m", make_model(), tags={"data": "2013-01"})
    registry.set_tag("m", "owner", "ml-team")
    registry.set_tag("m", "reviewed", True, version=1)
    registry.set_description("m", "flight delays")
    registry.set_description("m", "first cut", version=1)
    assert registry.get_model("m").tags == {"owner": "ml-team"}
    assert registry.get_model("m").description == "flight delays"
    version = registry.get_version("m", 1)
    assert version.tags == {"data": "2013-01", "reviewed": True}
    assert version.description == "first cut"

    registry.delete_tag("m", "reviewed", version=1)
    assert registry.get_version("m", 1).tags == {"data": "2013-01"}
    with pytest.raises(NotFoundError, match=r"model 'm' has no tag 'x' \(tags: owner\)"):
        registry.delete_tag("m", "x")
    with pytest.raises(DefinitionError, match="JSON"):
        registry.set_tag("m", "bad", object())
    tags = [e for e in registry.audit("m") if e.action in ("set_tag", "delete_tag")]
    assert [(e.action, e.version, e.details) for e in tags] == [
        ("set_tag", None, {"key": "owner", "value": "ml-team"}),
        ("set_tag", 1, {"key": "reviewed", "value": True}),
        ("delete_tag", 1, {"key": "reviewed"}),
    ]
    assert actions(registry, "m").count("description") == 2


def test_archive_and_restore(registry: Registry, make_model: MakeModel) -> None:
    for _ in range(2):
        registry.register("m", make_model())
    registry.set_alias("m", "champion", 2)
    with pytest.raises(ConflictError, match="cannot be archived: alias\\(es\\) champion"):
        registry.archive("m", 2)
    registry.set_alias("m", "champion", 1)
    assert registry.archive("m", 2, reason="bad data").state == "archived"
    assert registry.resolve("models:/m/latest").version == 1
    assert [v.version for v in registry.list_versions("m", include_archived=False)] == [1]
    assert registry.resolve("models:/m/2").state == "archived"  # still there by number
    with pytest.raises(ConflictError, match="is archived"):
        registry.set_alias("m", "challenger", 2)
    assert registry.restore("m", 2).state == "ready"
    assert registry.resolve("models:/m/latest").version == 2
    assert actions(registry, "m")[-2:] == ["archive", "restore"]


def test_delete_is_refused_while_aliased_or_deployed(
    registry: Registry, make_model: MakeModel, settings: Settings
) -> None:
    for _ in range(3):
        registry.register("m", make_model())
    registry.set_alias("m", "champion", 2)
    with pytest.raises(ConflictError, match="cannot be deleted: alias\\(es\\) champion"):
        registry.delete_version("m", 2)

    version = registry.get_version("m", 3)
    engine = sa.create_engine(
        settings.resolved_metadata_url
    )  # a deployment, as serving will record it
    with engine.begin() as conn:
        conn.execute(
            sa.insert(model_deployments),
            {"version_id": version.id, "endpoint": "flights", "created_at": version.created_at},
        )
    engine.dispose()
    with pytest.raises(ConflictError, match="deployed to endpoint\\(s\\) flights"):
        registry.delete_version("m", 3)

    registry.delete_version("m", 1, reason="never used")
    with pytest.raises(NotFoundError, match=r"no version 1 \(versions: v2, v3\)"):
        registry.get_version("m", 1)
    assert registry.store.get_artifact(version.artifact_id)  # artifacts stay
    deleted = registry.audit("m")[-1]
    assert (deleted.action, deleted.version, deleted.reason) == ("delete", 1, "never used")

    # Numbers are never reused, even the highest: delete v3's deployment-free twin v4.
    v4 = registry.register("m", make_model())
    registry.delete_version("m", v4.version)
    assert registry.register("m", make_model()).version == 5
