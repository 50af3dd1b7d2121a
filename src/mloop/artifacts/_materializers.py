"""Materializers: how a Python value becomes the files of an artifact, and back.

A :class:`Materializer` writes a value into an empty directory and reads it back from the
verified directory; the artifact store does everything else (fingerprints, publishing,
downloading, verification). Materializers are registered by name; the name is recorded in
the artifact's properties and manifest so the value is read back by the same code.

Choosing one for ``store.save(value, SomeType)``: an explicit name wins; otherwise the
registered materializers that declare ``SomeType`` (or a base of it) are asked, most
specific type first and the most recently registered first among equals, whether they
``can_save`` the value; then the type's ``default_materializer``; then the generic ones
(``bytes``, ``files``). ``pickle`` is never chosen unless asked for by name.

Built-ins: ``parquet`` (tables), ``json`` (JSON values), ``bytes``, ``files`` (a directory)
and ``pickle`` (opt-in). Higher layers add their own (``model`` in :mod:`mloop.ml`), which
this module imports by name when an artifact they wrote is read, or when a value of their
library (a scikit-learn, LightGBM or XGBoost model) is saved.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import pickle
import shutil
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from mloop.artifacts._fingerprint import MANIFEST_NAME, canonical_json
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
)
from mloop.errors import MaterializerError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

M = TypeVar("M", bound="Materializer")


class Materializer(ABC):
    """Writes values of some Python types as the files of an artifact, and reads them back.

    Subclasses set ``name`` (unique, recorded with every artifact they write) and
    ``artifact_types`` (the artifact types they are chosen for automatically; empty means
    any type), and are registered with :func:`register_materializer`. They hold no state.
    """

    name: ClassVar[str]
    artifact_types: ClassVar[tuple[type[Artifact], ...]] = ()
    #: False for materializers that must be requested by name (``pickle``).
    auto_select: ClassVar[bool] = True

    @abstractmethod
    def can_save(self, value: Any) -> bool:
        """Whether ``value``'s Python type is one this materializer writes.

        Cheap and free of side effects; :meth:`save` may still reject the contents (a NaN in
        a JSON value) with a :class:`~mloop.errors.MaterializerError` that says why.
        """

    @abstractmethod
    def save(self, value: Any, directory: Path) -> dict[str, Any]:
        """Write ``value`` as files into the empty ``directory``; return JSON-able properties.

        The same value must give the same bytes, so that it gets the same fingerprint. The
        name ``manifest.json`` at the top of ``directory`` is reserved for the store.
        """

    @abstractmethod
    def load(self, directory: Path, as_type: type | None) -> Any:
        """Read the value back from ``directory`` (already verified), as ``as_type`` if given.

        Raises :class:`~mloop.errors.MaterializerError` for an ``as_type`` it cannot produce.
        """

    def handles(self, artifact_cls: type[Artifact]) -> bool:
        """Whether this materializer may store artifacts of ``artifact_cls``."""
        return not self.artifact_types or issubclass(artifact_cls, self.artifact_types)


_REGISTRY: dict[str, Materializer] = {}


def register_materializer(cls: type[M]) -> type[M]:
    """Register a :class:`Materializer` subclass under its ``name`` (usable as a decorator).

    Re-registering the same class (same module and qualified name, e.g. a re-run notebook
    cell) replaces it; another class under a taken name is an error.
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise MaterializerError(f"materializer {cls.__qualname__} must set a non-empty `name`")
    existing = _REGISTRY.pop(name, None)
    if existing is not None and _qualname(type(existing)) != _qualname(cls):
        _REGISTRY[name] = existing
        raise MaterializerError(
            f"materializer name {name!r} is already registered by {_qualname(type(existing))}",
            materializer=name,
        )
    _REGISTRY[name] = cls()
    return cls


#: Materializers defined in higher layers (which import this one, never the reverse), by
#: name: imported the first time an artifact they wrote is read.
_PLUGINS = {"model": "mloop.ml._materializer"}
#: Libraries whose values a plugin saves, by the module prefix of the value's class.
_PLUGIN_VALUES = {
    "sklearn": "mloop.ml._materializer",
    "lightgbm": "mloop.ml._materializer",
    "xgboost": "mloop.ml._materializer",
    "mloop.ml": "mloop.ml._materializer",
}


def get_materializer(name: str) -> Materializer:
    """The registered materializer called ``name`` (a known plugin is imported first)."""
    if name not in _REGISTRY and name in _PLUGINS:
        importlib.import_module(_PLUGINS[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MaterializerError(
            f"unknown materializer {name!r} (available: {', '.join(sorted(_REGISTRY))})",
            materializer=name,
            available=sorted(_REGISTRY),
        ) from None


def materializer_for(value: Any, artifact_cls: type[Artifact]) -> Materializer:
    """Choose the materializer for ``value`` stored as ``artifact_cls`` (see module doc)."""
    _import_plugin_for(value)
    candidates = [m for m in _REGISTRY.values() if m.auto_select and m.handles(artifact_cls)]
    order = {id(m): i for i, m in enumerate(candidates)}

    def rank(m: Materializer) -> tuple[int, int]:
        distance = min(
            (artifact_cls.__mro__.index(t) for t in m.artifact_types if t in artifact_cls.__mro__),
            default=len(artifact_cls.__mro__),
        )
        return distance, -order[id(m)]

    specific = sorted((m for m in candidates if m.artifact_types), key=rank)
    generic = [m for m in reversed(candidates) if not m.artifact_types]
    default = artifact_cls.default_materializer
    fallback = [_REGISTRY[default]] if default in _REGISTRY else []
    for materializer in [*specific, *fallback, *generic]:
        if materializer.can_save(value):
            return materializer
    usable = sorted(m.name for m in _REGISTRY.values() if m.handles(artifact_cls))
    value_type = _qualname(type(value))
    raise MaterializerError(
        f"no materializer can save a {value_type} value as a {artifact_cls.type_name} "
        f"artifact (materializers for {artifact_cls.type_name}: {', '.join(usable)}; "
        "'pickle' is only used when asked for by name)",
        artifact_type=artifact_cls.type_name,
        value_type=value_type,
        available=usable,
    )


def _import_plugin_for(value: Any) -> None:
    """Import the plugin that saves values of this class's library (a model from sklearn,
    LightGBM or XGBoost), if any: its module is loaded already since the value exists."""
    module = type(value).__module__
    for prefix, plugin in _PLUGIN_VALUES.items():
        if (module == prefix or module.startswith(prefix + ".")) and plugin not in sys.modules:
            importlib.import_module(plugin)
            return


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _loaded_module(name: str) -> Any:
    """A module if it has been imported already: a value of its types cannot exist otherwise."""
    return sys.modules.get(name)


def _is_instance(value: Any, module: str, cls: str) -> bool:
    mod = _loaded_module(module)
    return mod is not None and isinstance(value, getattr(mod, cls))


def _is_subclass(as_type: type, module: str, cls: str) -> bool:
    mod = _loaded_module(module)
    return mod is not None and isinstance(as_type, type) and issubclass(as_type, getattr(mod, cls))


def _wrong_as_type(name: str, as_type: type, supported: str) -> MaterializerError:
    return MaterializerError(
        f"{name} artifacts load as {supported}, not {_qualname(as_type)}",
        materializer=name,
        as_type=_qualname(as_type),
    )


# Tables ---------------------------------------------------------------------------------


SPLIT_COLUMN = "split"


class ParquetPath:
    """A Parquet file a step has already written locally (it streamed a result larger than
    memory), to be stored as a ``Dataset`` as it is: the file is moved into the artifact
    store, never read into memory. Return it from a component whose output is a
    ``Dataset``."""

    __slots__ = ("path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"ParquetPath({str(self.path)!r})"


def _file_split_counts(path: Path) -> dict[str, int] | None:
    """:func:`_split_counts` of a Parquet file, reading only its ``split`` column in batches."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    if SPLIT_COLUMN not in file.schema_arrow.names:
        return None
    totals: dict[str, int] = {}
    for batch in file.iter_batches(columns=[SPLIT_COLUMN], batch_size=1 << 20):
        counts = _split_counts(batch)
        if counts is None:
            return None
        for name, count in counts.items():
            totals[name] = totals.get(name, 0) + count
    return totals


def _split_counts(table: Any) -> dict[str, int] | None:
    """Rows per split when the table carries the standard ``split`` column of names."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if SPLIT_COLUMN not in table.column_names:
        return None
    column = table[SPLIT_COLUMN]
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return None
    counts = pc.value_counts(column)
    return {
        str(item["values"]): int(item["counts"])
        for item in counts.to_pylist()
        if item["values"] is not None
    }


@register_materializer
class ParquetMaterializer(Materializer):
    """Tables as one zstd-compressed ``data.parquet``, written deterministically.

    Accepts ``pyarrow.Table``/``RecordBatch``, ``pandas.DataFrame`` and ``polars.DataFrame``
    and loads as any of them (Arrow by default). The writer options are pinned and columns
    split into several chunks are combined first, so the same table always gives the same
    bytes with the same library versions (the fingerprint is of bytes, so a new pyarrow may
    give a new fingerprint for the same data).

    The pandas index: a frame's *unnamed integer index* (the default ``RangeIndex``, or the
    row labels left over after filtering) is row numbering, not data, and is dropped — so a
    filtered frame does not grow an ``__index_level_0__`` column that a downstream
    component would mistake for a feature, and the fingerprint does not depend on it. A
    *named* index, or an unnamed one of any other kind (timestamps, string labels, a
    MultiIndex), is data: it is stored as columns and restored when loaded as pandas.
    """

    name = "parquet"
    artifact_types = (Dataset,)
    filename = "data.parquet"

    def can_save(self, value: Any) -> bool:
        return (
            isinstance(value, ParquetPath)
            or _is_instance(value, "pyarrow", "Table")
            or _is_instance(value, "pyarrow", "RecordBatch")
            or _is_instance(value, "pandas", "DataFrame")
            or _is_instance(value, "polars", "DataFrame")
        )

    def save(self, value: Any, directory: Path) -> dict[str, Any]:
        import pyarrow.parquet as pq

        if isinstance(value, ParquetPath):
            return self._adopt(value.path, directory / self.filename)
        table = self._to_arrow(value)
        if any(column.num_chunks > 1 for column in table.columns):
            table = table.combine_chunks()
        pq.write_table(
            table,
            directory / self.filename,
            version="2.6",
            compression="zstd",
            compression_level=3,
            use_dictionary=True,
            write_statistics=True,
            row_group_size=1024 * 1024,
            data_page_size=1024 * 1024,
            data_page_version="1.0",
        )
        properties: dict[str, Any] = {
            "num_rows": table.num_rows,
            "num_columns": table.num_columns,
            "schema": {field.name: str(field.type) for field in table.schema},
        }
        splits = _split_counts(table)
        if splits is not None:
            properties["splits"] = splits
        return properties

    @staticmethod
    def _adopt(source: Path, target: Path) -> dict[str, Any]:
        """Move a written Parquet file in; its properties from its footer and split column."""
        import pyarrow.parquet as pq

        try:
            file = pq.ParquetFile(source)
        except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
            raise MaterializerError(f"{source} is not a readable Parquet file: {exc}") from None
        schema = file.schema_arrow
        properties: dict[str, Any] = {
            "num_rows": file.metadata.num_rows,
            "num_columns": len(schema.names),
            "schema": {field.name: str(field.type) for field in schema},
        }
        file.close()
        splits = _file_split_counts(source)
        if splits is not None:
            properties["splits"] = splits
        shutil.move(str(source), target)
        return properties

    def load(self, directory: Path, as_type: type | None) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(directory / self.filename, memory_map=True)
        if as_type is None or as_type is pa.Table:
            return table
        if _is_subclass(as_type, "pandas", "DataFrame"):
            return table.to_pandas()
        if _is_subclass(as_type, "polars", "DataFrame"):
            import polars as pl

            return pl.from_arrow(table)
        raise _wrong_as_type(
            self.name, as_type, "pyarrow.Table, pandas.DataFrame or polars.DataFrame"
        )

    @staticmethod
    def _to_arrow(value: Any) -> pa.Table:
        import pyarrow as pa

        if isinstance(value, pa.Table):
            return value
        if isinstance(value, pa.RecordBatch):
            return pa.Table.from_batches([value])
        if _is_instance(value, "pandas", "DataFrame"):
            return pa.Table.from_pandas(value, preserve_index=_index_is_data(value))
        table = value.to_arrow()  # polars
        assert isinstance(table, pa.Table)
        return table


def _index_is_data(frame: pd.DataFrame) -> bool:
    import pandas as pd

    index = frame.index
    unnamed = all(name is None for name in index.names)
    return not (
        unnamed and not isinstance(index, pd.MultiIndex) and pd.api.types.is_integer_dtype(index)
    )


# JSON -------------------------------------------------------------------------------------


@register_materializer
class JsonMaterializer(Materializer):
    """A JSON value as canonical ``value.json`` (sorted keys, compact, UTF-8).

    NaN and infinities are refused (JSON has none; ``None`` is the portable missing value)
    with the key path of the offending number. NumPy scalars are stored as Python numbers
    and tuples as lists.
    """

    name = "json"
    artifact_types = (
        Metrics,
        JsonArtifact,
        Statistics,
        Schema,
        Anomalies,
        Blessing,
        DriftReport,
        Model,
        Transform,
    )
    filename = "value.json"

    def can_save(self, value: Any) -> bool:
        return value is None or isinstance(value, dict | list | tuple | str | int | float)

    def save(self, value: Any, directory: Path) -> dict[str, Any]:
        (directory / self.filename).write_bytes(canonical_json(_to_json(value, "$")))
        return {}

    def load(self, directory: Path, as_type: type | None) -> Any:
        value = json.loads((directory / self.filename).read_bytes())
        if as_type is not None and not isinstance(value, as_type):
            raise _wrong_as_type(self.name, as_type, f"the stored {type(value).__name__}")
        return value


def _to_json(value: Any, path: str) -> Any:
    """``value`` as plain JSON types; a :class:`MaterializerError` names the bad key path."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MaterializerError(
                f"cannot store {value!r} at {path} as JSON (JSON has no NaN or infinity; "
                "use None for a missing value)",
                path=path,
            )
        return float(value)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise MaterializerError(
                    f"cannot store the {type(key).__name__} key {key!r} at {path} as JSON "
                    "(object keys must be strings)",
                    path=path,
                )
            sub = f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"
            out[key] = _to_json(item, sub)
        return out
    if isinstance(value, list | tuple):
        return [_to_json(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _to_json(value.tolist(), path)  # scalars and arrays
    raise MaterializerError(
        f"cannot store the {_qualname(type(value))} at {path} as JSON", path=path
    )


# Opaque bytes, directories and (opt-in) pickle ---------------------------------------------


@register_materializer
class BytesMaterializer(Materializer):
    """Raw bytes as ``data.bin``, for any artifact type."""

    name = "bytes"
    filename = "data.bin"

    def can_save(self, value: Any) -> bool:
        return isinstance(value, bytes | bytearray | memoryview)

    def save(self, value: Any, directory: Path) -> dict[str, Any]:
        (directory / self.filename).write_bytes(value)
        return {}

    def load(self, directory: Path, as_type: type | None) -> Any:
        data = (directory / self.filename).read_bytes()
        if as_type is None or as_type is bytes:
            return data
        if as_type is bytearray:
            return bytearray(data)
        raise _wrong_as_type(self.name, as_type, "bytes or bytearray")


@register_materializer
class FilesMaterializer(Materializer):
    """A local directory (given as a ``Path``), copied file by file; loads as the ``Path``.

    The loaded path is the store's own verified copy: read it, never write to it.
    """

    name = "files"

    def can_save(self, value: Any) -> bool:
        return isinstance(value, os.PathLike) and Path(value).is_dir()

    def save(self, value: Any, directory: Path) -> dict[str, Any]:
        source = Path(value)
        if (source / MANIFEST_NAME).exists():
            raise MaterializerError(
                f"cannot store directory {source}: the name {MANIFEST_NAME} is reserved",
                path=str(source),
            )
        shutil.copytree(source, directory, dirs_exist_ok=True)
        return {}

    def load(self, directory: Path, as_type: type | None) -> Any:
        if as_type is None or (isinstance(as_type, type) and issubclass(Path, as_type)):
            return directory
        raise _wrong_as_type(self.name, as_type, "pathlib.Path")


@register_materializer
class PickleMaterializer(Materializer):
    """Any object as ``data.pkl`` (cloudpickle if installed). Only when asked for by name:
    unpickling runs arbitrary code and ties the artifact to the writer's library versions.
    """

    name = "pickle"
    auto_select = False
    filename = "data.pkl"

    def can_save(self, value: Any) -> bool:
        return True

    def save(self, value: Any, directory: Path) -> dict[str, Any]:
        try:
            import cloudpickle

            data = cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            pickler = "cloudpickle"
        except ImportError:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            pickler = "pickle"
        (directory / self.filename).write_bytes(data)
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        return {"pickler": pickler, "python_version": python}

    def load(self, directory: Path, as_type: type | None) -> Any:
        with open(directory / self.filename, "rb") as stream:
            value = pickle.load(stream)
        if as_type is not None and not isinstance(value, as_type):
            raise _wrong_as_type(self.name, as_type, f"the stored {_qualname(type(value))}")
        return value
