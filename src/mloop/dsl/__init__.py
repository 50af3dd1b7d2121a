"""The pipeline DSL: typed Python functions as components, wired into pipelines.

- A :func:`component` is a typed function. Its inputs and outputs are artifacts
  (``Dataset``, ``Model``, ... from :mod:`mloop.artifacts`) or JSON parameters; several
  outputs come from a NamedTuple or dataclass return annotation.
- A :func:`pipeline` is a function that calls components. It runs once when defined: each
  call adds a step and returns a :class:`StepHandle` whose outputs feed other steps.
  :class:`If`, :class:`ParallelFor` and :class:`ExitHandler` add control flow.
- :meth:`Pipeline.compile` gives the JSON spec (``docs/pipeline-spec.md``) that the
  orchestrator runs; :func:`load_spec` checks one, and :func:`load_component` finds the
  component a spec names again, in any process.
"""

from mloop.dsl._component import Component, component, load_component
from mloop.dsl._control import ExitHandler, If, ParallelFor
from mloop.dsl._handle import StepHandle
from mloop.dsl._pipeline import Pipeline, pipeline
from mloop.dsl._spec import SCHEMA_VERSION, load_spec, spec_hash
from mloop.dsl._types import RunStatus

__all__ = [
    "SCHEMA_VERSION",
    "Component",
    "ExitHandler",
    "If",
    "ParallelFor",
    "Pipeline",
    "RunStatus",
    "StepHandle",
    "component",
    "load_component",
    "load_spec",
    "pipeline",
    "spec_hash",
]
