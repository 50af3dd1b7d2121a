"""The YAML form of a :class:`~mloop.data._schema.Schema`: reading, writing, files.

A schema file starts with a comment that explains every key, keeps features in column
order, and is strict: an unknown key or a bad value is a :class:`SchemaError` naming the
feature and the key (with a suggestion for a likely typo), because a misspelled rule must
not silently do nothing::

    format: mloop.schema
    version: 1
    min_examples: 1
    environments: [TRAINING, SERVING]
    default_environment: TRAINING
    features:
      age:
        type: int
        required: true
        range: {min: 0, max: 99}
      color:
        type: string
        presence: 0.85
        domain:
        - red
        - green
        severity: {out_of_domain: warning}
      label:
        type: bool
        required: true
        not_in: [SERVING]
        drift: {metric: linf, threshold: 0.1}

``yaml`` is imported on first use, so importing mloop does not import it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mloop.data._schema import (
    FORMAT,
    LOGICAL_TYPES,
    VERSION,
    DriftConfig,
    FeatureSpec,
    Range,
    Schema,
    SchemaError,
    _check_drift,
    _did_you_mean,
    _fail,
    _mapping,
)

__all__ = ["load_schema", "parse_schema", "save_schema", "schema_from_yaml", "schema_to_yaml"]

# ---------------------------------------------------------------------------- parsing

_SCHEMA_KEYS = ("format", "version", *(f.name for f in dataclasses.fields(Schema)))
_FEATURE_KEYS = ("required", *(f.name for f in dataclasses.fields(FeatureSpec)[1:]))


def _check_keys(
    data: Mapping[Any, Any], known: Sequence[str], feature: str | None, where: str
) -> None:
    for key in data:
        if key not in known:
            maybe = _did_you_mean(key, known)
            _fail(
                feature,
                str(key),
                f"unknown key {key!r} in {where}{maybe} (known: {', '.join(known)})",
            )


def _name(value: Any, feature: str | None, key: str) -> str:
    """A string from YAML. Unquoted integers are taken as their digits; other scalars
    (yes/no, 1.5, null) must be quoted, since YAML changed what was written."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    _fail(feature, key, f"{key} value {value!r} is not a string; quote it in the YAML")


def _names(value: Any, feature: str | None, key: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        _fail(feature, key, f"{key} must be a list, got {value!r}")
    return tuple(_name(v, feature, key) for v in value)


def _number(value: Any, feature: str | None, key: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _fail(feature, key, f"{key} must be a finite number, got {value!r}")
    return value


def _bool(value: Any, feature: str | None, key: str) -> bool:
    if not isinstance(value, bool):
        _fail(feature, key, f"{key} must be true or false, got {value!r}")
    return value


def _drift(value: Any, feature: str, key: str) -> DriftConfig:
    data = _mapping(value, feature, key)
    _check_keys(data, ("metric", "threshold"), feature, key)
    metric: Any = data.get("metric")
    threshold: Any = data.get("threshold")
    _check_drift(metric, threshold, feature, key)
    return DriftConfig(metric, float(threshold))


def _parse_feature(name: str, data: Any) -> FeatureSpec:
    data = _mapping({} if data is None else data, name, "a feature")
    _check_keys(data, _FEATURE_KEYS, name, "a feature")
    if "type" not in data:
        _fail(name, "type", f"'type' is required (one of {', '.join(LOGICAL_TYPES)})")
    presence = float(_number(data["presence"], name, "presence")) if "presence" in data else 0.0
    if "required" in data:
        required = _bool(data["required"], name, "required")
        if "presence" in data and required != (presence >= 1.0):
            _fail(name, "required", f"required: {required} contradicts presence: {presence}")
        presence = 1.0 if required else presence
    range_ = None
    if data.get("range") is not None:
        bounds = _mapping(data["range"], name, "range")
        _check_keys(bounds, ("min", "max"), name, "range")
        lo, hi = bounds.get("min"), bounds.get("max")
        range_ = Range(
            None if lo is None else _number(lo, name, "range.min"),
            None if hi is None else _number(hi, name, "range.max"),
        )
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        _fail(name, "description", "description must be text")

    def get(key: str) -> Any:
        return data.get(key)

    return FeatureSpec(
        name,
        data["type"],
        presence=presence,
        domain=None if get("domain") is None else _names(get("domain"), name, "domain"),
        range=range_,
        allow_nan=True if get("allow_nan") is None else _bool(get("allow_nan"), name, "allow_nan"),
        allow_inf=True if get("allow_inf") is None else _bool(get("allow_inf"), name, "allow_inf"),
        environments=_names(get("environments") or [], name, "environments"),
        not_in=_names(get("not_in") or [], name, "not_in"),
        drift=None if get("drift") is None else _drift(get("drift"), name, "drift"),
        skew=None if get("skew") is None else _drift(get("skew"), name, "skew"),
        severity=dict(_mapping(get("severity") or {}, name, "severity")),
        description=description,
    )


def parse_schema(data: Any) -> Schema:
    """A :class:`Schema` from its parsed YAML/JSON document (strict; see the module docs)."""
    if data is None:
        _fail(None, None, "the document is empty")
    data = _mapping(data, None, "the document")
    _check_keys(data, _SCHEMA_KEYS, None, "the top level")
    if data.get("format", FORMAT) != FORMAT:
        _fail(None, "format", f"not a schema document (format {data.get('format')!r})")
    version = data.get("version", VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version > VERSION:
        _fail(None, "version", f"version {version!r} is not supported (up to {VERSION})")
    features: dict[str, FeatureSpec] = {}
    for raw, spec in _mapping(data.get("features") or {}, None, "features").items():
        name = _name(raw, None, "feature name")
        features[name] = _parse_feature(name, spec)
    default = data.get("default_environment")
    return Schema(
        features,
        min_examples=data.get("min_examples", 1),
        environments=_names(data.get("environments") or [], None, "environments"),
        default_environment=None if default is None else _name(default, None, "environment"),
        severity=dict(_mapping(data.get("severity") or {}, None, "severity")),
    )


# ---------------------------------------------------------------------------- YAML output

_HEADER = """\
# mloop data schema: what valid data looks like. Inferred from statistics; review it,
# edit it, and commit it. Validation reports every difference as a typed anomaly.
#
# Top level
#   min_examples         fewest rows a dataset may have
#   environments         names of the places data comes from (e.g. TRAINING, SERVING)
#   default_environment  environment used when validation is not given one
#   severity             {anomaly kind: error | warning | info} for every feature
# Per feature (an unknown key is an error, so a typo cannot silently disable a rule)
#   type                 int | float | string | bool | timestamp | date | time | duration
#                        | other | any
#   required             true: every row has a value; or presence: least fraction (0..1)
#   domain               allowed values of a string feature (delete it to allow any)
#   range                {min: x, max: y} for int/float (leave a side out to open it)
#   allow_nan/allow_inf  whether NaN / +-inf may appear in a float feature
#   environments         only expected in these environments; not_in: absent from these
#                        (a label: not_in: [SERVING])
#   drift, skew          {metric: js | linf | ..., threshold: x} for drift detection
#   severity             per-feature {anomaly kind: severity}, e.g. {out_of_range: error}
#   description          free text
"""


class _Flow(dict[str, Any]):
    """A small mapping written on one line (``range: {min: 0, max: 9}``)."""


class _FlowList(list[Any]):
    """A short list written on one line (``not_in: [SERVING]``)."""


def _inline(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return _Flow(value)
    if isinstance(value, list) and key != "domain":  # a domain: one value a line (diffs)
        return _FlowList(value)
    return value


def _flow_leaves(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: _inline(v, k) for k, v in doc.items() if k != "features"}
    out["features"] = {
        name: {k: _inline(v, k) for k, v in spec.items()} for name, spec in doc["features"].items()
    }
    return out


@functools.cache
def _dumper() -> Any:
    """A SafeDumper that writes :class:`_Flow`/:class:`_FlowList` inline (built on first
    use, so importing this module does not import yaml)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def flow_map(dumper: yaml.SafeDumper, data: _Flow) -> Any:
        return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)

    def flow_list(dumper: yaml.SafeDumper, data: _FlowList) -> Any:
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)

    Dumper.add_representer(_Flow, flow_map)
    Dumper.add_representer(_FlowList, flow_list)
    return Dumper


def schema_to_yaml(schema: Schema) -> str:
    """The commented YAML document of ``schema``."""
    import yaml

    doc = _flow_leaves(schema.to_dict())
    body = yaml.dump(doc, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=100)
    return _HEADER + body


def schema_from_yaml(text: str) -> Schema:
    """Parse a YAML document; invalid YAML is a :class:`SchemaError` too."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemaError(f"schema is not valid YAML: {exc}") from None
    return parse_schema(data)


# ---------------------------------------------------------------------------- files


def load_schema(path: str | os.PathLike[str]) -> Schema:
    """Read a schema YAML file; errors name the file as well as the feature and key."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"cannot read schema file {os.fspath(path)!r}: {exc}") from None
    try:
        return schema_from_yaml(text)
    except SchemaError as exc:
        raise SchemaError(
            f"{os.fspath(path)}: {exc.message}", feature=exc.feature, key=exc.key
        ) from None


def save_schema(schema: Schema, path: str | os.PathLike[str]) -> Path:
    """Write ``schema`` as YAML, atomically (a reader never sees half a file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(schema_to_yaml(schema))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
