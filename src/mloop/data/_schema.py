"""Schemas: what valid data looks like, inferred from statistics and then owned by people.

A :class:`Schema` holds dataset-level rules (``min_examples``, the declared
``environments`` and the ``default_environment``, ``severity`` overrides) and one
:class:`FeatureSpec` per column: its logical ``type``, ``presence`` (least fraction of rows
with a value; 1.0 is ``required``), a string ``domain``, a numeric ``range``, ``allow_nan``
and ``allow_inf``, the environments it is expected in (``environments``, or TFDV-style
``not_in: [SERVING]`` for a label) and the ``drift``/``skew`` settings that drift detection
reads. Schemas are immutable values; ``Schema.replace_feature`` returns a new one.

Logical types map Arrow types (``logical_type``): int (all integer widths), float
(floats, decimals), string (any string width; dictionaries take their value type), bool,
timestamp, date, time, duration, other (lists, structs, binary); ``any`` is inferred for a
column with no values and no declared type (the Arrow null type) and matches every type.

:func:`infer_schema` rules, chosen so that validating the same data finds nothing while a
real change stands out:

- **presence** is 1.0 (required) when no value is null, else the observed fraction minus
  ``presence_slack``, floored to two decimals and never below 0.
- **domain** (string features only) is the observed values, sorted (stable diffs), when the
  counts are exact, there are at most ``max_domain_size`` of them, and each value occurs
  twice on average (so an identifier column does not become a closed list).
- **range** (int/float) is ``[min - pad, max + pad]`` with ``pad = range_slack * (max -
  min)`` (for a constant column, ``range_slack`` times its magnitude, or 1). A bound does
  not cross zero when the data did not (non-negative data stays non-negative); integer
  bounds widen to integers, float bounds round outward at the pad's leading digit so the
  file stays readable (``[0, 10.9]``, not ``[-0.734, 10.834]``).
- **allow_nan / allow_inf** (float) are true only if a NaN / an infinity was seen.
- **min_examples** is 1 (an empty dataset is an anomaly); raise it by hand.

The YAML form (``Schema.to_yaml``/``Schema.from_yaml``, ``save_schema``/``load_schema``)
lives in :mod:`mloop.data._schema_yaml`: commented, in column order, and strict.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NoReturn, get_args

from mloop.data._errors import DataError
from mloop.data._model import (
    CategoricalStatistics,
    DatasetStatistics,
    FeatureStatistics,
    NumericStatistics,
)

__all__ = [
    "AnomalyKind",
    "DriftConfig",
    "FeatureSpec",
    "LogicalType",
    "Range",
    "Schema",
    "SchemaError",
    "Severity",
    "infer_schema",
    "logical_type",
]

FORMAT: Final = "mloop.schema"
VERSION: Final = 1

LogicalType = Literal[
    "int", "float", "string", "bool", "timestamp", "date", "time", "duration", "other", "any"
]
Severity = Literal["error", "warning", "info"]
AnomalyKind = Literal[
    "missing_column",
    "unexpected_column",
    "type_mismatch",
    "presence_too_low",
    "out_of_domain",
    "out_of_range",
    "nan_not_allowed",
    "inf_not_allowed",
    "too_few_examples",
    "empty_dataset",
    "all_null",
    "mixed_types",
    "drift",
    "skew",
]
LOGICAL_TYPES: Final[tuple[LogicalType, ...]] = get_args(LogicalType)
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
ANOMALY_KINDS: Final[tuple[AnomalyKind, ...]] = get_args(AnomalyKind)
NUMERIC_TYPES: Final = ("int", "float")


class SchemaError(DataError):
    """A schema (YAML or Python) is invalid: names the ``feature`` and ``key`` at fault."""

    http_status = 400

    def __init__(self, message: str, *, feature: str | None = None, key: str | None = None):
        super().__init__(message, column=feature, key=key)
        self.feature = feature
        self.key = key


def _fail(feature: str | None, key: str | None, message: str) -> NoReturn:
    where = f"schema feature {feature!r}" if feature is not None else "schema"
    raise SchemaError(f"{where}: {message}", feature=feature, key=key)


# ---------------------------------------------------------------------------- types


def _logical_one(t: str) -> LogicalType | None:
    t = t.strip()
    if t == "null":
        return None
    if t.startswith("dictionary<values="):
        return _logical_one(t[len("dictionary<values=") :].split(",", 1)[0])
    if re.fullmatch(r"u?int(8|16|32|64)", t):
        return "int"
    if t in ("halffloat", "float", "double") or t.startswith("decimal"):
        return "float"
    if t in ("string", "large_string", "string_view", "utf8", "large_utf8"):
        return "string"
    if t.startswith("mixed<"):  # a pandas column of mixed Python types, summarized as strings
        return "string"
    if t == "bool":
        return "bool"
    for prefix in ("timestamp", "date", "time", "duration"):
        if t.startswith(prefix):
            return prefix
    return "other"


def logical_type(arrow_type: str) -> LogicalType | None:
    """The logical type of an Arrow type string (``None`` for the null type).

    Statistics merged from partitions that disagree carry ``"a|b"``; ints with floats read
    as float, a null partition is ignored, any other disagreement is ``"other"``.
    """
    kinds = {_logical_one(p) for p in arrow_type.split("|")} - {None}
    if not kinds:
        return None
    if len(kinds) == 1:
        return kinds.pop()
    return "float" if kinds <= {"int", "float"} else "other"


def type_accepts(expected: LogicalType, actual: LogicalType | None) -> bool:
    """Whether data of logical type ``actual`` satisfies a schema type ``expected``.

    ``any`` accepts everything, a column without values (``None``) satisfies every type,
    and an int column satisfies a float feature (integers are valid floats).
    """
    return (
        expected == "any"
        or actual is None
        or actual == expected
        or (expected == "float" and actual == "int")
    )


# ---------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Range:
    """Inclusive bounds of a numeric feature; ``None`` leaves a side open."""

    min: float | int | None = None
    max: float | int | None = None

    def __str__(self) -> str:
        lo = "-inf" if self.min is None else f"{self.min:g}"
        hi = "inf" if self.max is None else f"{self.max:g}"
        return f"[{lo}, {hi}]"

    def to_dict(self) -> dict[str, float | int]:
        return {k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None}


@dataclass(frozen=True)
class DriftConfig:
    """How drift (or training/serving skew) of a feature is measured and when it alarms:
    a metric of :func:`mloop.data.drift` (``js``, ``linf``, ``psi``, ``wasserstein``,
    ``ks``) and its threshold (>= 0). Stored here, used by the drift code."""

    metric: str
    threshold: float

    def __post_init__(self) -> None:
        _check_drift(self.metric, self.threshold, None, "drift")

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "threshold": self.threshold}


@dataclass(frozen=True)
class FeatureSpec:
    """The rules for one column. Defaults impose nothing beyond the type."""

    name: str
    type: LogicalType
    presence: float = 0.0
    domain: tuple[str, ...] | None = None
    range: Range | None = None
    allow_nan: bool = True
    allow_inf: bool = True
    environments: tuple[str, ...] = ()
    not_in: tuple[str, ...] = ()
    drift: DriftConfig | None = None
    skew: DriftConfig | None = None
    severity: Mapping[AnomalyKind, Severity] = field(default_factory=dict)
    description: str | None = None

    def __post_init__(self) -> None:
        name, type_ = self.name, self.type
        if type_ not in LOGICAL_TYPES:
            _fail(name, "type", f"unknown type {type_!r} (one of {', '.join(LOGICAL_TYPES)})")
        presence = self.presence
        if isinstance(presence, bool) or not (
            isinstance(presence, int | float) and 0.0 <= presence <= 1.0
        ):
            _fail(name, "presence", f"presence must be a fraction in [0, 1], got {presence!r}")
        object.__setattr__(self, "presence", float(presence))
        if self.domain is not None:
            if type_ != "string":
                _fail(name, "domain", f"a domain applies to string features; this is {type_}")
            object.__setattr__(self, "domain", tuple(self.domain))
        if self.range is not None:
            if type_ not in NUMERIC_TYPES:
                _fail(name, "range", f"a range applies to int/float features; this is {type_}")
            lo, hi = self.range.min, self.range.max
            for bound in (lo, hi):
                if bound is not None and not (
                    isinstance(bound, int | float)
                    and not isinstance(bound, bool)
                    and math.isfinite(bound)
                ):
                    _fail(name, "range", f"range bounds must be finite numbers, got {bound!r}")
            if lo is not None and hi is not None and lo > hi:
                _fail(name, "range", f"range min {lo} is above max {hi}")
        object.__setattr__(self, "environments", tuple(self.environments))
        object.__setattr__(self, "not_in", tuple(self.not_in))
        _check_severity(self.severity, name)

    @property
    def required(self) -> bool:
        """Every row must have a value (``presence == 1.0``)."""
        return self.presence >= 1.0

    def expected_in(self, environment: str | None) -> bool:
        """Whether the feature must be in data of ``environment``.

        Listed ``environments`` restrict it to those; ``not_in`` excludes some. With no
        environment, a feature restricted by ``environments`` is not expected.
        """
        if self.environments and environment not in self.environments:
            return False
        return environment is None or environment not in self.not_in

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, in YAML key order; keys left at their defaults are left out."""
        out: dict[str, Any] = {"type": self.type}
        if self.description:
            out["description"] = self.description
        if self.presence in (0.0, 1.0):
            out["required"] = self.required
        else:
            out["presence"] = self.presence
        if self.domain is not None:
            out["domain"] = list(self.domain)
        if self.range is not None:
            out["range"] = self.range.to_dict()
        if self.type == "float" or not self.allow_nan:
            out["allow_nan"] = self.allow_nan
        if self.type == "float" or not self.allow_inf:
            out["allow_inf"] = self.allow_inf
        if self.environments:
            out["environments"] = list(self.environments)
        if self.not_in:
            out["not_in"] = list(self.not_in)
        if self.drift is not None:
            out["drift"] = self.drift.to_dict()
        if self.skew is not None:
            out["skew"] = self.skew.to_dict()
        if self.severity:
            out["severity"] = dict(self.severity)
        return out


DEFAULT_SEVERITY: Final[Mapping[str, Severity]] = {
    "missing_column": "error",
    "unexpected_column": "warning",
    "type_mismatch": "error",
    "presence_too_low": "error",
    "out_of_domain": "error",
    "out_of_range": "warning",
    "nan_not_allowed": "error",
    "inf_not_allowed": "error",
    "too_few_examples": "error",
    "empty_dataset": "error",
    "all_null": "error",
    "mixed_types": "warning",
    "drift": "error",
    "skew": "error",
}
"""Severity of each anomaly kind unless the schema overrides it. ``out_of_range`` is a
warning because an inferred range is only the range seen so far (TFDV does not infer ranges
at all); whoever sets a hard range can make it an error with ``severity``."""


@dataclass(frozen=True)
class Schema:
    """Dataset-level rules and a :class:`FeatureSpec` per column (in column order)."""

    features: Mapping[str, FeatureSpec] = field(default_factory=dict)
    min_examples: int = 1
    environments: tuple[str, ...] = ()
    default_environment: str | None = None
    severity: Mapping[AnomalyKind, Severity] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, spec in self.features.items():
            if key != spec.name:
                _fail(key, None, f"stored under {key!r} but named {spec.name!r}")
        n = self.min_examples
        if isinstance(n, bool) or not (isinstance(n, int) and n >= 0):
            _fail(None, "min_examples", f"min_examples must be an integer >= 0, got {n!r}")
        object.__setattr__(self, "environments", tuple(self.environments))
        declared = list(self.environments)
        if self.default_environment is not None and self.default_environment not in declared:
            _fail(
                None,
                "default_environment",
                f"default_environment {self.default_environment!r} is not declared in "
                f"environments {declared}",
            )
        for spec in self.features.values():
            for key in ("environments", "not_in"):
                for env in getattr(spec, key):
                    if env not in declared:
                        _fail(
                            spec.name,
                            key,
                            f"{key} names environment {env!r}, which is not declared in the "
                            f"top-level environments {declared}",
                        )
        _check_severity(self.severity, None)

    def __getitem__(self, name: str) -> FeatureSpec:
        spec = self.features.get(name)
        if spec is None:
            _fail(name, None, "no such feature in the schema")
        return spec

    def __contains__(self, name: object) -> bool:
        return name in self.features

    @property
    def names(self) -> list[str]:
        return list(self.features)

    def replace_feature(self, name: str, **changes: Any) -> Schema:
        """A copy with feature ``name`` changed (e.g. ``not_in=("SERVING",)``)."""
        spec = dataclasses.replace(self[name], **changes)
        return dataclasses.replace(self, features={**self.features, name: spec})

    def severity_of(
        self, kind: AnomalyKind, feature: str | None = None, default: Severity | None = None
    ) -> Severity:
        """Severity of a ``kind`` anomaly of ``feature``: the feature's override, else the
        schema's, else ``default`` (a context-dependent default), else the standard one."""
        spec = self.features.get(feature) if feature is not None else None
        if spec is not None and kind in spec.severity:
            return spec.severity[kind]
        if kind in self.severity:
            return self.severity[kind]
        return default if default is not None else DEFAULT_SEVERITY[kind]

    def resolve_environment(self, environment: str | None) -> str | None:
        """The environment to validate in (``default_environment`` for ``None``). A name
        the schema does not declare is an error: a typo must not change what is checked."""
        if environment is None:
            return self.default_environment
        if self.environments and environment not in self.environments:
            _fail(
                None,
                "environment",
                f"unknown environment {environment!r}; declared: {list(self.environments)}",
            )
        return environment

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT, "version": VERSION}
        out["min_examples"] = self.min_examples
        if self.environments:
            out["environments"] = list(self.environments)
        if self.default_environment is not None:
            out["default_environment"] = self.default_environment
        if self.severity:
            out["severity"] = dict(self.severity)
        out["features"] = {name: spec.to_dict() for name, spec in self.features.items()}
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Schema:
        """Inverse of :meth:`to_dict`, strict about keys and values (see ``_schema_yaml``)."""
        from mloop.data._schema_yaml import parse_schema

        return parse_schema(data)

    def to_yaml(self) -> str:
        """The commented YAML document (see ``_schema_yaml``)."""
        from mloop.data._schema_yaml import schema_to_yaml

        return schema_to_yaml(self)

    @classmethod
    def from_yaml(cls, text: str) -> Schema:
        from mloop.data._schema_yaml import schema_from_yaml

        return schema_from_yaml(text)


# ---------------------------------------------------------------------------- inference


def infer_schema(
    stats: DatasetStatistics,
    *,
    max_domain_size: int = 100,
    range_slack: float | None = 0.1,
    presence_slack: float = 0.1,
    environments: Sequence[str] | None = None,
    not_in: Mapping[str, Sequence[str]] | None = None,
) -> Schema:
    """A schema that the data of ``stats`` satisfies, by the rules in the module docs.

    Inferred from the overall statistics (pass ``stats.split("train")`` for one split).
    ``max_domain_size=0`` infers no domains, ``range_slack=None`` no ranges.
    ``environments`` declares environment names (the first is the default);
    ``not_in`` maps feature -> environments it is absent from (e.g. ``{"label":
    ["SERVING"]}``); environments named there are declared too. An empty dataset is a
    :class:`DataError`: there is nothing to infer from.
    """
    if stats.num_rows == 0:
        raise DataError("cannot infer a schema from an empty dataset (0 rows)")
    if range_slack is not None and not (math.isfinite(range_slack) and range_slack >= 0):
        raise DataError(f"range_slack must be a number >= 0, got {range_slack!r}")
    if isinstance(environments, str):
        environments = [environments]
    not_in = {k: [v] if isinstance(v, str) else list(v) for k, v in (not_in or {}).items()}
    for name in not_in:
        if name not in stats:
            raise SchemaError(
                f"not_in names column {name!r}, which is not in the statistics "
                f"(columns: {stats.names})",
                feature=name,
                key="not_in",
            )
    declared = list(dict.fromkeys([*(environments or ()), *_flatten(not_in.values())]))
    features = {
        name: _infer_feature(
            st, stats.num_rows, max_domain_size, range_slack, presence_slack, not_in.get(name)
        )
        for name, st in stats.features.items()
    }
    return Schema(
        features,
        min_examples=1,
        environments=tuple(declared),
        default_environment=environments[0] if environments else None,
    )


def _flatten(groups: Iterable[Sequence[str]]) -> list[str]:
    return [e for group in groups for e in group]


def _infer_feature(
    st: FeatureStatistics,
    num_rows: int,
    max_domain_size: int,
    range_slack: float | None,
    presence_slack: float,
    not_in: Sequence[str] | None,
) -> FeatureSpec:
    type_ = logical_type(st.type) or "any"
    present = st.count / num_rows
    presence = 1.0
    if st.missing:
        presence = max(math.floor(round((present - presence_slack) * 100, 6)), 0) / 100
    domain: tuple[str, ...] | None = None
    range_: Range | None = None
    allow_nan = allow_inf = True
    if isinstance(st, CategoricalStatistics) and type_ == "string":
        distinct = st.distinct
        if st.distinct_is_exact and 0 < distinct <= max_domain_size and st.count >= 2 * distinct:
            domain = tuple(sorted(v for v, _ in st.top(distinct)))
    if isinstance(st, NumericStatistics) and type_ in NUMERIC_TYPES:
        if type_ == "float":
            allow_nan, allow_inf = st.nan > 0, st.inf > 0
        if range_slack is not None and st.min is not None and st.max is not None:
            range_ = _padded_range(st.min, st.max, range_slack, integer=type_ == "int")
    return FeatureSpec(
        st.name,
        type_,
        presence=presence,
        domain=domain,
        range=range_,
        allow_nan=allow_nan,
        allow_inf=allow_inf,
        not_in=tuple(not_in or ()),
    )


def _padded_range(lo: float, hi: float, slack: float, *, integer: bool) -> Range:
    width = hi - lo
    pad = slack * (width if width > 0 else max(abs(lo), abs(hi), 1.0))
    lo_raw, hi_raw = lo - pad, hi + pad
    if lo >= 0:
        lo_raw = max(lo_raw, 0.0)
    elif hi <= 0:
        hi_raw = min(hi_raw, 0.0)
    if integer and math.isfinite(lo_raw) and math.isfinite(hi_raw):
        return Range(math.floor(lo_raw), math.ceil(hi_raw))
    if pad > 0 and math.isfinite(pad):
        exp = math.floor(math.log10(pad))
        step = 10.0**exp
        digits = max(-exp, 0)
        if math.isfinite(lo_raw / step) and math.isfinite(hi_raw / step):
            lo_raw = round(math.floor(lo_raw / step) * step, digits)
            hi_raw = round(math.ceil(hi_raw / step) * step, digits)
    lo_out, hi_out = min(float(lo_raw), float(lo)), max(float(hi_raw), float(hi))
    return Range(  # padding past the largest float leaves that side open
        lo_out if math.isfinite(lo_out) else None, hi_out if math.isfinite(hi_out) else None
    )


# ---------------------------------------------------------------------------- checks
# (shared by the constructors above and the YAML parser in _schema_yaml)


def _did_you_mean(word: Any, options: Sequence[str]) -> str:
    hint = difflib.get_close_matches(str(word), options, n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""


def _mapping(value: Any, feature: str | None, key: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        _fail(feature, key, f"{key} must be a mapping, got {value!r}")
    return value


def _check_severity(value: Any, feature: str | None) -> None:
    for kind, level in _mapping(value, feature, "severity").items():
        if kind not in ANOMALY_KINDS:
            maybe = _did_you_mean(kind, ANOMALY_KINDS)
            _fail(feature, "severity", f"severity names unknown anomaly kind {kind!r}{maybe}")
        if level not in SEVERITIES:
            _fail(
                feature,
                "severity",
                f"severity of {kind} must be one of {', '.join(SEVERITIES)}, got {level!r}",
            )


def _check_drift(metric: Any, threshold: Any, feature: str | None, key: str) -> None:
    from mloop.data._drift import METRICS

    if metric not in METRICS:
        maybe = _did_you_mean(metric, METRICS)
        _fail(feature, key, f"unknown {key} metric {metric!r}{maybe} (known: {', '.join(METRICS)})")
    if isinstance(threshold, bool) or not (
        isinstance(threshold, int | float) and 0 <= threshold < math.inf
    ):
        _fail(feature, key, f"{key} threshold must be a number >= 0, got {threshold!r}")
