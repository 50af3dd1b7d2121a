"""scikit-learn models as skops files: reproducible bytes, and loading only trusted types.

skops stores an estimator as a zip of ``schema.json`` plus ``.npy`` arrays, named after the
``id()`` of each object and stamped with the current time, so the same model saved twice
gives different bytes (and a different artifact fingerprint). :func:`dumps` rewrites that
zip canonically: object ids renumbered in order of appearance, fixed timestamps. On load,
every type skops does not trust by default must be in :data:`ALLOWED_PREFIXES` or named by
the caller, else :class:`UntrustedModelError` lists them; nothing is constructed before.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mloop.ml._errors import ModelLoadError, UntrustedModelError

#: Modules whose types a scikit-learn model may use without the caller vouching for them.
ALLOWED_PREFIXES = ("sklearn.", "numpy.", "scipy.")
_SCHEMA = "schema.json"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def dumps(estimator: Any) -> bytes:
    """``estimator`` as skops bytes, identical for identical models."""
    import skops.io

    return canonical(skops.io.dumps(estimator))


def canonical(data: bytes) -> bytes:
    """A skops zip rewritten with renumbered object ids, file names and fixed timestamps."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = json.loads(source.read(_SCHEMA))
        ids: dict[int, int] = {}
        files: dict[str, str] = {}
        _renumber(schema, ids, files)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
            _write(target, _SCHEMA, json.dumps(schema, indent=2).encode())
            for old, new in sorted(files.items(), key=lambda item: item[1]):
                _write(target, new, source.read(old))
    return out.getvalue()


def _renumber(node: Any, ids: dict[int, int], files: dict[str, str]) -> None:
    """Replace ``__id__`` values by 1, 2, ... (skops ignores id 0) and data file names."""
    if isinstance(node, dict):
        saved = node.get("__id__")
        if isinstance(saved, int) and not isinstance(saved, bool):
            node["__id__"] = ids.setdefault(saved, len(ids) + 1)
        name = node.get("file")
        if isinstance(name, str):
            suffix = Path(name).suffix
            node["file"] = files.setdefault(name, f"{len(files) + 1:06d}{suffix}")
        for value in node.values():
            _renumber(value, ids, files)
    elif isinstance(node, list):
        for value in node:
            _renumber(value, ids, files)


def _write(target: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    target.writestr(info, data)


def load(path: Path, trusted: Sequence[str] | None) -> Any:
    """The estimator in the skops file ``path`` if every type it needs is trusted."""
    import skops.io

    try:
        needed = skops.io.get_untrusted_types(file=path)
    except Exception as exc:
        raise ModelLoadError(
            f"cannot read the scikit-learn model file {path} (flavor 'sklearn', skops "
            f"format): {type(exc).__name__}: {exc}; the file is truncated or not a skops file",
            path=str(path),
            flavor="sklearn",
        ) from exc
    allowed = set(trusted or ())
    refused = [t for t in needed if not t.startswith(ALLOWED_PREFIXES) and t not in allowed]
    if refused:
        raise UntrustedModelError(
            f"the scikit-learn model {path} needs types that are not trusted: "
            f"{', '.join(refused)}. Only types from {', '.join(ALLOWED_PREFIXES)} load "
            "without asking; if you trust where this file came from, pass "
            f"trusted={refused!r}",
            path=str(path),
            flavor="sklearn",
            untrusted=refused,
        )
    try:
        return skops.io.load(path, trusted=list(needed))
    except Exception as exc:
        raise ModelLoadError(
            f"cannot load the scikit-learn model {path} (flavor 'sklearn'): "
            f"{type(exc).__name__}: {exc}",
            path=str(path),
            flavor="sklearn",
        ) from exc
