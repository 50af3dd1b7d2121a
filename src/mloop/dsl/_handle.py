"""The handle a component call returns inside a pipeline definition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mloop.dsl._refs import OutputRef
from mloop.dsl._spec import check_options
from mloop.errors import DefinitionError

if TYPE_CHECKING:
    from mloop.dsl._builder import Builder, Step

__all__ = ["StepHandle"]

_UNSET: Any = object()


class _Outputs(dict[str, OutputRef]):
    """``handle.outputs``: a dict whose missing keys raise an error naming the step."""

    def __init__(self, step: Step, refs: dict[str, OutputRef], pipeline: str) -> None:
        super().__init__(refs)
        self._step = step
        self._pipeline = pipeline

    def __missing__(self, key: str) -> OutputRef:
        known = ", ".join(self) or "none"
        raise DefinitionError(
            f"pipeline {self._pipeline!r}, step {self._step.name!r}: component "
            f"{self._step.component.name!r} has no output {key!r} (outputs: {known})",
            pipeline=self._pipeline,
            step=self._step.name,
            argument=key,
        )


class StepHandle:
    """A step of the pipeline being defined: its outputs, and ways to tune it.

    ``handle.output`` is the single output, ``handle.outputs["auc"]`` (or ``handle.auc``) a
    named one; passing the handle itself as an argument means its single output.
    """

    def __init__(self, builder: Builder, step: Step) -> None:
        self._builder = builder
        self._step = step
        self._outputs = _Outputs(
            step,
            {n: OutputRef(builder, step, n, t) for n, t in step.component.output_types.items()},
            builder.pipeline,
        )

    @property
    def name(self) -> str:
        return self._step.name

    @property
    def outputs(self) -> dict[str, OutputRef]:
        return self._outputs

    @property
    def output(self) -> OutputRef:
        """The single output of the step (an error if it has none or several)."""
        return self._builder.single_output(self, self.name, None)

    def __getattr__(self, name: str) -> OutputRef:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._outputs:
            return self._outputs[name]
        known = ", ".join(self._outputs) or "none"
        raise AttributeError(
            f"step {self.name!r} has no output or attribute {name!r} (outputs: {known})"
        )

    def after(self, *handles: StepHandle) -> StepHandle:
        """Run this step only after ``handles`` (in addition to its data dependencies)."""
        self._builder.check_open(f"step {self.name!r}: .after()")
        for handle in handles:
            if not isinstance(handle, StepHandle):
                raise self._builder.error(
                    f".after() takes step handles, not {handle!r}", self.name, "after"
                )
            self._builder.check_handle(handle, self.name, "after")
            if handle._step is self._step:
                raise self._builder.error("a step cannot run after itself", self.name, "after")
            handle._step.referenced = True
            if handle.name not in self._step.after:
                self._step.after.append(handle.name)
        return self

    def set_options(
        self,
        *,
        retries: int = _UNSET,
        retry_backoff: float = _UNSET,
        timeout: float | None = _UNSET,
        cache: bool = _UNSET,
        cache_max_age: float | None = _UNSET,
        resources: dict[str, Any] = _UNSET,
    ) -> StepHandle:
        """Override the component's options for this step only."""
        self._builder.check_open(f"step {self.name!r}: .set_options()")
        given = {
            "retries": retries,
            "retry_backoff": retry_backoff,
            "timeout": timeout,
            "cache": cache,
            "cache_max_age": cache_max_age,
            "resources": resources,
        }
        given = {k: v for k, v in given.items() if v is not _UNSET}
        try:
            self._step.options.update(check_options(given, partial=True))
        except ValueError as exc:
            raise self._builder.error(str(exc), self.name, "options") from None
        return self

    def set_name(self, name: str) -> StepHandle:
        """Rename the step (only before another step, group or ``.after`` refers to it)."""
        self._builder.check_open(f"step {self.name!r}: .set_name()")
        self._builder.rename(self._step, name)
        return self

    def __repr__(self) -> str:
        return f"<step {self.name!r} of pipeline {self._builder.pipeline!r}>"
