"""The artifact store: immutable, content-addressed values under ``<root>/<type>/<sha256>``.

An :class:`Artifact` is a directory of files plus a ``manifest.json`` (written last) that
lists each file's sha256; the artifact's fingerprint is the hash of that list. An
:class:`ArtifactStore` (a local directory, ``s3://`` or any fsspec URL) saves values through
a :class:`Materializer` chosen by artifact type and value type, publishes them atomically,
and verifies the fingerprint on every read.
"""

from mloop.artifacts import _data_materializers as _data_materializers  # registers them
from mloop.artifacts._materializers import (
    Materializer,
    ParquetPath,
    get_materializer,
    register_materializer,
)
from mloop.artifacts._store import ArtifactStore
from mloop.artifacts._types import (
    Anomalies,
    Artifact,
    Blessing,
    Dataset,
    DriftReport,
    JsonArtifact,
    Metrics,
    Model,
    Schema,
    Statistics,
    Transform,
    artifact_type,
    is_artifact_type,
)

__all__ = [
    "Anomalies",
    "Artifact",
    "ArtifactStore",
    "Blessing",
    "Dataset",
    "DriftReport",
    "JsonArtifact",
    "Materializer",
    "Metrics",
    "Model",
    "ParquetPath",
    "Schema",
    "Statistics",
    "Transform",
    "artifact_type",
    "get_materializer",
    "is_artifact_type",
    "register_materializer",
]
