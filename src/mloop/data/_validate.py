"""Validation: statistics checked against a schema, reported as typed anomalies.

:func:`validate` compares a :class:`DatasetStatistics` with a :class:`Schema` and returns
:class:`Anomalies`, a collection of :class:`Anomaly` values. Each anomaly has a ``kind``,
a ``severity`` (``error``/``warning``/``info``: the schema's ``severity`` overrides, else
:data:`DEFAULT_SEVERITY`), the ``feature`` it is about (``None`` for the dataset), a
``description`` sentence that names the column and the numbers, and details: ``fraction``
and ``count`` of the offending rows or values, ``examples``, ``expected``/``actual`` and
``approximate`` (true when the numbers come from a sketch rather than exact counts).

What is checked, and against which denominator:

- dataset: ``empty_dataset`` (no rows; value checks are then skipped), ``too_few_examples``
  (fewer rows than ``min_examples``);
- columns: ``missing_column`` (in the schema and expected in the environment, not in the
  data), ``unexpected_column`` (in the data, not in the schema, or not expected in the
  environment), ``type_mismatch`` (logical types differ; int data satisfies float);
- ``all_null`` (no value in any row; an error unless the schema allows presence 0) and
  ``presence_too_low`` (fraction of rows with a value below ``presence``);
- ``mixed_types``: a string column whose values are mostly numbers (pyarrow reads a CSV
  column with a few non-numeric entries as strings), or a pandas column of mixed Python
  types. An error when the schema expects a number (it replaces the type mismatch), a
  warning on a string feature without a domain (from half of the values numeric);
- ``out_of_domain`` (fraction of non-null values outside the domain, from the value
  counts: exact up to 1024 distinct values, else the sketch's heavy values, approximate);
- ``out_of_range`` (min/max outside the range; the fraction of finite values outside is
  estimated from the quantile sketch, exact while the sketch is);
- ``nan_not_allowed`` / ``inf_not_allowed`` (fraction of non-null values).

``drift`` and ``skew`` anomalies are made by the drift code, which adds them to the same
collection. Statistics with splits are validated as a whole unless ``split`` names one.
:meth:`Anomalies.raise_for_errors` raises :class:`DataValidationError` (HTTP 422), which is
how a pipeline step fails a run on error anomalies.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, cast

import numpy as np

from mloop.data._errors import DataError
from mloop.data._model import (
    CategoricalStatistics,
    DatasetStatistics,
    FeatureStatistics,
    NumericStatistics,
)
from mloop.data._schema import (
    ANOMALY_KINDS,
    DEFAULT_SEVERITY,
    NUMERIC_TYPES,
    SEVERITIES,
    AnomalyKind,
    FeatureSpec,
    Range,
    Schema,
    Severity,
    logical_type,
    type_accepts,
)

__all__ = [
    "DEFAULT_SEVERITY",
    "Anomalies",
    "Anomaly",
    "AnomalyKind",
    "DataValidationError",
    "Severity",
    "validate",
]

FORMAT: Final = "mloop.anomalies"
VERSION: Final = 1
MAX_EXAMPLES: Final = 5
"""Example values kept per anomaly."""
MIXED_NUMERIC_SHARE: Final = 0.5
"""A string feature with at least this share of numeric values (but not all) is mixed."""

_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


@dataclass(frozen=True)
class Anomaly:
    """One way the data breaks the schema (or drifted). ``feature`` is ``None`` for the
    dataset. ``fraction``/``count`` measure the offending rows or values (see module docs);
    ``approximate`` says they are estimates from a sketch."""

    feature: str | None
    kind: AnomalyKind
    severity: Severity
    description: str
    fraction: float | None = None
    count: int | None = None
    examples: tuple[str, ...] = ()
    expected: Any = None
    actual: Any = None
    approximate: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ANOMALY_KINDS:
            raise DataError(f"unknown anomaly kind {self.kind!r}", column=self.feature)
        if self.severity not in SEVERITIES:
            raise DataError(f"unknown severity {self.severity!r}", column=self.feature)
        object.__setattr__(self, "examples", tuple(self.examples))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; details left at their defaults are left out."""
        out: dict[str, Any] = {
            "feature": self.feature,
            "kind": self.kind,
            "severity": self.severity,
            "description": self.description,
        }
        for key in ("fraction", "count", "expected", "actual"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.examples:
            out["examples"] = list(self.examples)
        if self.approximate:
            out["approximate"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Anomaly:
        return cls(
            data.get("feature"),
            data["kind"],
            data["severity"],
            data["description"],
            fraction=data.get("fraction"),
            count=data.get("count"),
            examples=tuple(data.get("examples", ())),
            expected=data.get("expected"),
            actual=data.get("actual"),
            approximate=bool(data.get("approximate", False)),
        )


@dataclass(frozen=True)
class Anomalies:
    """The anomalies of one validation, in order: dataset, schema features, extra columns.

    Iterable and sized (an empty collection is falsy); ``split`` and ``environment`` say
    what was validated.
    """

    anomalies: tuple[Anomaly, ...] = ()
    split: str | None = None
    environment: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "anomalies", tuple(self.anomalies))

    def __iter__(self) -> Iterator[Anomaly]:
        return iter(self.anomalies)

    def __len__(self) -> int:
        return len(self.anomalies)

    def __getitem__(self, index: int) -> Anomaly:
        return self.anomalies[index]

    def _of(self, severity: Severity) -> list[Anomaly]:
        return [a for a in self.anomalies if a.severity == severity]

    @property
    def errors(self) -> list[Anomaly]:
        return self._of("error")

    @property
    def warnings(self) -> list[Anomaly]:
        return self._of("warning")

    @property
    def infos(self) -> list[Anomaly]:
        return self._of("info")

    @property
    def has_errors(self) -> bool:
        return any(a.severity == "error" for a in self.anomalies)

    def for_feature(self, name: str | None) -> list[Anomaly]:
        """The anomalies of column ``name`` (``None``: of the dataset)."""
        return [a for a in self.anomalies if a.feature == name]

    def of_kind(self, kind: AnomalyKind) -> list[Anomaly]:
        return [a for a in self.anomalies if a.kind == kind]

    def summary(self) -> str:
        """One line per anomaly, errors first, under a count line."""
        if not self.anomalies:
            return "no anomalies"
        counts = ", ".join(f"{len(self._of(s))} {s}" for s in SEVERITIES if self._of(s))
        order = sorted(self.anomalies, key=lambda a: SEVERITIES.index(a.severity))
        lines = [f"{len(self)} anomalies ({counts})"]
        lines += [f"  {a.severity.upper():<7} {a.kind}: {a.description}" for a in order]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def raise_for_errors(self) -> None:
        """Raise :class:`DataValidationError` if any anomaly is an error."""
        errors = self.errors
        if errors:
            shown = "; ".join(a.description for a in errors[:MAX_EXAMPLES])
            more = f"; and {len(errors) - MAX_EXAMPLES} more" if len(errors) > MAX_EXAMPLES else ""
            raise DataValidationError(
                f"data validation found {len(errors)} error(s): {shown}{more}", anomalies=self
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "split": self.split,
            "environment": self.environment,
            "counts": {s: len(self._of(s)) for s in SEVERITIES},
            "anomalies": [a.to_dict() for a in self.anomalies],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Anomalies:
        if data.get("format", FORMAT) != FORMAT:
            raise DataError(f"not an anomalies document (format {data.get('format')!r})")
        if int(data.get("version", VERSION)) > VERSION:
            raise DataError(f"anomalies version {data['version']} is newer than {VERSION}")
        return cls(
            tuple(Anomaly.from_dict(a) for a in data.get("anomalies", ())),
            split=data.get("split"),
            environment=data.get("environment"),
        )

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Anomalies:
        return cls.from_dict(json.loads(text))


class DataValidationError(DataError):
    """The data has error anomalies; ``anomalies`` holds all of them (errors and others)."""

    http_status = 422

    def __init__(self, message: str, *, anomalies: Anomalies) -> None:
        super().__init__(
            message,
            anomalies=anomalies.to_dict()["anomalies"],
            split=anomalies.split,
            environment=anomalies.environment,
        )
        self.anomalies = anomalies


# ---------------------------------------------------------------------------- validate


def validate(
    stats: DatasetStatistics,
    schema: Schema,
    *,
    environment: str | None = None,
    split: str | None = None,
) -> Anomalies:
    """Check ``stats`` (overall, or the ``split`` named) against ``schema``.

    ``environment`` (default: the schema's ``default_environment``) decides which
    features are expected; a name the schema does not declare, or an unknown ``split``, is
    a :class:`DataError`. Problems in the data are never raised here: they are anomalies.
    """
    env = schema.resolve_environment(environment)
    data = stats if split is None else stats.split(split)
    checker = _Checker(schema, data, env)
    checker.dataset()
    for spec in schema.features.values():
        checker.feature(spec)
    for name, st in data.features.items():
        if name not in schema:
            checker.add(
                name,
                "unexpected_column",
                f"column {name!r} ({st.type}) is in the data but not in the schema",
                actual=st.type,
            )
    return Anomalies(tuple(checker.found), split=split, environment=env)


def _pct(fraction: float) -> str:
    if 0 < fraction < 0.001:
        return "<0.1%"
    if 0.999 < fraction < 1:
        return ">99.9%"
    return f"{fraction:.1%}"


def _num(value: float | int | None) -> str:
    return "none" if value is None else f"{value:g}"


def _examples(pairs: list[tuple[str, int]]) -> tuple[str, ...]:
    return tuple(v for v, _ in pairs[:MAX_EXAMPLES])


def _quoted(examples: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in examples)


@dataclass
class _Checker:
    """Accumulates the anomalies of one validation."""

    schema: Schema
    data: DatasetStatistics
    environment: str | None
    found: list[Anomaly] = field(default_factory=list)

    def add(
        self,
        feature: str | None,
        kind: AnomalyKind,
        description: str,
        *,
        severity: Severity | None = None,
        **details: Any,
    ) -> None:
        level = self.schema.severity_of(kind, feature, severity)
        self.found.append(Anomaly(feature, kind, level, description, **details))

    def dataset(self) -> None:
        rows, least = self.data.num_rows, self.schema.min_examples
        if rows == 0:
            self.add(None, "empty_dataset", "the dataset has no rows", actual=0)
        elif rows < least:
            self.add(
                None,
                "too_few_examples",
                f"the dataset has {rows} rows; the schema requires at least {least}",
                expected=least,
                actual=rows,
            )

    def feature(self, spec: FeatureSpec) -> None:
        name, env = spec.name, self.environment
        st = self.data.features.get(name)
        in_env = f" in environment {env}" if env is not None else ""
        if not spec.expected_in(env):
            if st is not None:
                self.add(
                    name,
                    "unexpected_column",
                    f"column {name!r} is in the data but the schema does not expect it{in_env}",
                    actual=st.type,
                )
            return
        if st is None:
            self.add(
                name,
                "missing_column",
                f"column {name!r} ({spec.type}) is in the schema{in_env} but not in the data",
                expected=spec.type,
            )
            return
        if not self.types(spec, st) or self.data.num_rows == 0:
            return
        if not self.presence(spec, st):
            return
        if isinstance(st, CategoricalStatistics):
            self.domain(spec, st)
        if isinstance(st, NumericStatistics):
            self.numeric(spec, st)

    def types(self, spec: FeatureSpec, st: FeatureStatistics) -> bool:
        """Type checks; false when the values cannot be checked against the spec."""
        name, actual = spec.name, logical_type(st.type)
        strings = st if isinstance(st, CategoricalStatistics) and actual == "string" else None
        if type_accepts(spec.type, actual):
            if strings is not None and spec.domain is None and st.count:
                share, others, approx = _numeric_share(strings)
                if st.type.startswith("mixed<") or MIXED_NUMERIC_SHARE <= share < 1:
                    self.mixed(spec, strings, share, others, approx)
            return True
        note = ""
        if strings is not None and spec.type in NUMERIC_TYPES and st.count:
            share, others, approx = _numeric_share(strings)
            if 0 < share < 1:  # numbers with a few words: the mixed types are the story
                self.mixed(spec, strings, share, others, approx, severity="error")
                return False
            note = "; all of its values parse as numbers" if share == 1 else ""
        self.add(
            name,
            "type_mismatch",
            f"column {name!r} has type {actual or 'null'} (Arrow {st.type}) but the schema "
            f"says {spec.type}{note}",
            expected=spec.type,
            actual=actual,
        )
        return False

    def mixed(
        self,
        spec: FeatureSpec,
        st: CategoricalStatistics,
        share: float,
        others: list[tuple[str, int]],
        approximate: bool,
        severity: Severity | None = None,
    ) -> None:
        name, examples = spec.name, _examples(others)
        how = (
            f"mixes Python types {st.type[len('mixed<') : -1].replace(',', ', ')}"
            if st.type.startswith("mixed<")
            else "is read as strings"
        )
        self.add(
            name,
            "mixed_types",
            f"column {name!r} {how}: {_pct(share)} of its values parse as numbers and "
            f"{_pct(1 - share)} do not (e.g. {_quoted(examples)}); the schema says "
            f"{spec.type}",
            severity=severity,
            fraction=1 - share,
            examples=examples,
            expected=spec.type,
            actual=st.type,
            approximate=approximate,
        )

    def presence(self, spec: FeatureSpec, st: FeatureStatistics) -> bool:
        """Presence checks; false when the column has no value to check further."""
        name, rows = spec.name, self.data.num_rows
        if st.count == 0:
            self.add(
                name,
                "all_null",
                f"column {name!r} is null in all {rows} rows",
                severity="error" if spec.presence > 0 else "warning",
                fraction=0.0,
                count=rows,
                expected=spec.presence,
                actual=0.0,
            )
            return False
        present = st.count / rows
        if present < spec.presence - 1e-12:
            self.add(
                name,
                "presence_too_low",
                f"column {name!r} has a value in {_pct(present)} of rows ({st.count} of "
                f"{rows}); the schema requires at least {_pct(spec.presence)}",
                fraction=present,
                count=st.missing,
                expected=spec.presence,
                actual=present,
            )
        return True

    def domain(self, spec: FeatureSpec, st: CategoricalStatistics) -> None:
        if spec.domain is None:
            return
        allowed = set(spec.domain)
        pairs = st.values.items()
        outside = [(v, c) for v, c in pairs if v not in allowed]
        exact = st.distinct_is_exact
        if not outside and (exact or st.distinct <= len(allowed)):
            return
        count = sum(c for _, c in outside)
        total = st.values.total or st.count
        fraction = count / total if total else 0.0
        examples = _examples(outside)
        estimate = "" if exact else " (at least; estimated from the most frequent values)"
        e_g = f", e.g. {_quoted(examples)}" if examples else ""
        self.add(
            spec.name,
            "out_of_domain",
            f"column {spec.name!r} has values outside its domain of {len(allowed)} in "
            f"{_pct(fraction)} of non-null values ({count} of {total}){estimate}{e_g}",
            fraction=fraction,
            count=count,
            examples=examples,
            expected=len(allowed),
            actual=len(outside) if exact else st.distinct,
            approximate=not exact,
        )

    def numeric(self, spec: FeatureSpec, st: NumericStatistics) -> None:
        name = spec.name
        for kind, n, allowed, what in (
            ("nan_not_allowed", st.nan, spec.allow_nan, "NaN"),
            ("inf_not_allowed", st.inf, spec.allow_inf, "infinite"),
        ):
            if n and not allowed:
                self.add(
                    name,
                    cast(AnomalyKind, kind),
                    f"column {name!r} has {n} {what} values ({_pct(n / st.count)} of non-null "
                    f"values) but the schema does not allow them",
                    fraction=n / st.count,
                    count=n,
                )
        if spec.range is not None and st.finite and st.min is not None and st.max is not None:
            self.range(spec, spec.range, st)

    def range(self, spec: FeatureSpec, bounds: Range, st: NumericStatistics) -> None:
        lo, hi = bounds.min, bounds.max
        below = lo is not None and st.min is not None and st.min < lo
        above = hi is not None and st.max is not None and st.max > hi
        if not (below or above):
            return
        finite = st.finite
        share = 0.0
        if below:
            share += float(st.cdf([np.nextafter(float(cast(float, lo)), -math.inf)])[0])
        if above:
            share += 1.0 - float(st.cdf([float(cast(float, hi))])[0])
        count = max(round(share * finite), int(below) + int(above))
        approximate = st.sketch.rank_error > 0
        how = "about " if approximate else ""
        self.add(
            spec.name,
            "out_of_range",
            f"column {spec.name!r} has values outside {bounds}: min {_num(st.min)}, max "
            f"{_num(st.max)}; {how}{count} of {finite} finite values ({_pct(count / finite)}) "
            "are outside",
            fraction=count / finite,
            count=count,
            expected=bounds.to_dict(),
            actual={"min": st.min, "max": st.max},
            approximate=approximate,
        )


def _numeric_share(st: CategoricalStatistics) -> tuple[float, list[tuple[str, int]], bool]:
    """Share of values that parse as numbers, the other values (heaviest first), and
    whether that is an estimate (sketched value counts: from the tracked values)."""
    pairs = st.values.items()
    others = [(v, c) for v, c in pairs if not _NUMBER.fullmatch(v)]
    tracked = sum(c for _, c in pairs)
    numeric = tracked - sum(c for _, c in others)
    return (numeric / tracked if tracked else 0.0), others, not st.distinct_is_exact
