"""Artifact types: typed handles on immutable, content-addressed values.

An :class:`Artifact` is what a component receives for an artifact input: it knows its
``uri``, its content ``fingerprint`` (sha256) and its ``properties`` and loads its value on
demand through the artifact store it is bound to. Components *return* plain values (a
DataFrame, a dict, a model object); mloop materializes and fingerprints them.

User types subclass :class:`Artifact` (or one of the standard types) and set ``type_name``;
they are found again by name through :func:`artifact_type`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from mloop.errors import ArtifactError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mloop.artifacts._store import ArtifactStore

_TYPES: dict[str, type[Artifact]] = {}


class Artifact:
    """A stored value of a given type. Immutable: the fingerprint is its identity."""

    type_name: ClassVar[str] = "Artifact"
    #: Materializer used when a component returns a value for an output of this type and
    #: the value's Python type does not select a more specific one.
    default_materializer: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type_name" not in cls.__dict__:
            cls.type_name = cls.__name__
        _TYPES[cls.type_name] = cls

    def __init__(
        self,
        uri: str,
        fingerprint: str,
        properties: dict[str, Any] | None = None,
        *,
        id: int | None = None,
        store: ArtifactStore | None = None,
    ) -> None:
        self.uri = uri
        self.fingerprint = fingerprint
        self.properties: dict[str, Any] = dict(properties or {})
        self.id = id
        self._store = store

    def bind(self, store: ArtifactStore) -> Artifact:
        """Attach the artifact store used to read this artifact's value."""
        self._store = store
        return self

    @property
    def store(self) -> ArtifactStore:
        if self._store is None:
            raise ArtifactError(
                f"{self.type_name} artifact {self.uri} is not bound to an artifact store",
                artifact=self.uri,
            )
        return self._store

    def load(self, as_type: type | None = None) -> Any:
        """Read the value back (verifying the fingerprint), optionally as ``as_type``."""
        return self.store.load(self, as_type=as_type)

    def local_path(self) -> Any:
        """A verified local directory holding the artifact's files (downloaded if remote)."""
        return self.store.local_path(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uri={self.uri!r}, fingerprint={self.fingerprint[:12]!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Artifact)
            and other.type_name == self.type_name
            and other.fingerprint == self.fingerprint
        )

    def __hash__(self) -> int:
        return hash((self.type_name, self.fingerprint))


class Dataset(Artifact):
    """A table, stored as Parquet; read back as Arrow, pandas or polars."""

    default_materializer = "parquet"

    def to_arrow(self) -> pa.Table:
        import pyarrow as pa

        return self.load(pa.Table)

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return self.load(pd.DataFrame)  # type: ignore[no-any-return]

    def to_polars(self) -> Any:
        import polars as pl

        return self.load(pl.DataFrame)

    @property
    def num_rows(self) -> int | None:
        rows = self.properties.get("num_rows")
        return int(rows) if rows is not None else None

    @property
    def splits(self) -> dict[str, int]:
        """Rows per split (the standard ``split`` column), empty when the data is unsplit."""
        return dict(self.properties.get("splits") or {})

    def split(self, name: str) -> pa.Table:
        """The rows of one split, as Arrow (without the ``split`` column)."""
        import pyarrow.compute as pc

        if name not in self.splits:
            known = ", ".join(sorted(self.splits)) or "none: the dataset is not split"
            raise ArtifactError(
                f"dataset {self.uri} has no split {name!r} (splits: {known})", artifact=self.uri
            )
        table = self.to_arrow()
        rows = table.filter(pc.equal(table["split"], name))
        return rows.drop_columns(["split"])


class Model(Artifact):
    """A trained model in its framework's native format (JSON-able values as JSON)."""

    default_materializer = None


class Transform(Artifact):
    """A fitted feature transform (JSON): learned on training rows, then applied the same way
    in training, evaluation and serving (see :mod:`mloop.ml`)."""

    default_materializer = "json"


class Metrics(Artifact):
    """Named metric values (a JSON object)."""

    default_materializer = "json"

    def to_dict(self) -> dict[str, Any]:
        value = self.load()
        return dict(value)


class JsonArtifact(Artifact):
    """Any JSON value."""

    type_name = "Json"
    default_materializer = "json"


class Statistics(Artifact):
    default_materializer = "json"


class Schema(Artifact):
    default_materializer = "json"


class Anomalies(Artifact):
    default_materializer = "json"


class Blessing(Artifact):
    default_materializer = "json"


class DriftReport(Artifact):
    default_materializer = "json"


def artifact_type(name: str) -> type[Artifact]:
    """The artifact class registered under ``name`` (``Artifact`` subclasses register)."""
    if name == Artifact.type_name:
        return Artifact
    try:
        return _TYPES[name]
    except KeyError:
        known = ", ".join(sorted(_TYPES))
        raise ArtifactError(f"unknown artifact type {name!r} (known: {known})") from None


def is_artifact_type(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, Artifact)
