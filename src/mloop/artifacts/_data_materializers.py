"""Materializers for the values of :mod:`mloop.data`: statistics, schemas, anomalies, drift.

Each writes its value in the format the data layer defines (statistics and anomalies and
drift results as JSON, a schema as the YAML a user edits and commits) and, where the data
layer can render one, a self-contained ``report.html`` beside it, so every such artifact can be
opened in a browser straight from the artifact store. ``mloop.data`` is only imported when a
value is saved or loaded: a value of its types cannot exist before it is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from mloop.artifacts._materializers import (
    Materializer,
    _is_instance,
    _wrong_as_type,
    register_materializer,
)
from mloop.artifacts._types import Anomalies, Artifact, DriftReport, Schema, Statistics

REPORT = "report.html"


def _write_report(value: Any, directory: Path) -> None:
    try:
        from mloop.data import render_html
    except ImportError:  # reports are an extra; the value itself is what matters
        return
    (directory / REPORT).write_text(render_html(value), encoding="utf-8")


class _DataMaterializer(Materializer):
    """A value of ``module.cls`` stored as ``filename`` through its own to/from text methods."""

    module: ClassVar[str]
    cls: ClassVar[str]
    filename: ClassVar[str]
    report: ClassVar[bool] = True

    def can_save(self, value: Any) -> bool:
        return _is_instance(value, self.module, self.cls)

    def save(self, value: Any, directory: Path) -> dict[str, Any]:
        (directory / self.filename).write_text(self.dump(value), encoding="utf-8")
        if self.report:
            _write_report(value, directory)
        return self.properties(value)

    def load(self, directory: Path, as_type: type | None) -> Any:
        import importlib

        cls = getattr(importlib.import_module(self.module), self.cls)
        if as_type is not None and as_type is not cls:
            raise _wrong_as_type(self.name, as_type, f"{self.module}.{self.cls}")
        return self.parse(cls, (directory / self.filename).read_text(encoding="utf-8"))

    def dump(self, value: Any) -> str:
        return str(value.to_json())

    def parse(self, cls: Any, text: str) -> Any:
        return cls.from_json(text)

    def properties(self, value: Any) -> dict[str, Any]:
        return {}


@register_materializer
class StatisticsMaterializer(_DataMaterializer):
    """``mloop.data.DatasetStatistics`` as ``statistics.json`` (+ ``report.html``)."""

    name = "statistics"
    artifact_types: ClassVar[tuple[type[Artifact], ...]] = (Statistics,)
    module, cls, filename = "mloop.data._model", "DatasetStatistics", "statistics.json"

    def properties(self, value: Any) -> dict[str, Any]:
        splits = {name: s.num_rows for name, s in value.splits.items()}
        return {
            "num_rows": value.num_rows,
            "num_features": len(value.features),
            **({"splits": splits} if splits else {}),
        }


@register_materializer
class SchemaMaterializer(_DataMaterializer):
    """``mloop.data.Schema`` as the editable ``schema.yaml``."""

    name = "schema"
    artifact_types: ClassVar[tuple[type[Artifact], ...]] = (Schema,)
    module, cls, filename = "mloop.data._schema", "Schema", "schema.yaml"
    report = False

    def dump(self, value: Any) -> str:
        return str(value.to_yaml())

    def parse(self, cls: Any, text: str) -> Any:
        return cls.from_yaml(text)

    def properties(self, value: Any) -> dict[str, Any]:
        return {"num_features": len(value.features)}


@register_materializer
class AnomaliesMaterializer(_DataMaterializer):
    """``mloop.data.Anomalies`` as ``anomalies.json`` (+ ``report.html``)."""

    name = "anomalies"
    artifact_types: ClassVar[tuple[type[Artifact], ...]] = (Anomalies,)
    module, cls, filename = "mloop.data._validate", "Anomalies", "anomalies.json"

    def properties(self, value: Any) -> dict[str, Any]:
        return {"errors": len(value.errors), "warnings": len(value.warnings)}


@register_materializer
class DriftMaterializer(_DataMaterializer):
    """``mloop.data.DriftResult`` as ``drift.json`` (+ ``report.html``)."""

    name = "drift"
    artifact_types: ClassVar[tuple[type[Artifact], ...]] = (DriftReport,)
    module, cls, filename = "mloop.data._drift", "DriftResult", "drift.json"

    def properties(self, value: Any) -> dict[str, Any]:
        return {"drifted": bool(value.drifted), "drifted_features": list(value.drifted_features)}
