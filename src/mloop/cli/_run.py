"""``mloop run``: run a pipeline with live progress of its steps."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from mloop.cli._render import console, duration, mark
from mloop.cli._target import load_pipeline, parse_params

if TYPE_CHECKING:
    from mloop.config import Settings
    from mloop.orchestrator import RunResult, StepEvent


class Progress:
    """Prints one line per finished step and keeps a spinner on the running ones."""

    def __init__(self, total: int | None = None) -> None:
        self.running: dict[str, float] = {}
        self.started = time.monotonic()
        self.status = console.status("", spinner="dots") if console.is_terminal else None
        self.total = total

    def __call__(self, event: StepEvent) -> None:
        if event.kind == "run_started":
            console.print(f"Run [bold]{event.run_id}[/]")
            if self.status:
                self.status.start()
        elif event.kind == "started":
            self.running[event.key] = time.monotonic()
        elif event.kind in ("finished", "retrying"):
            self.running.pop(event.key, None)
            self._line(event)
        elif event.kind == "run_finished" and self.status:
            self.status.stop()
        if self.status:
            names = ", ".join(list(self.running)[:4]) + (" …" if len(self.running) > 4 else "")
            self.status.update(f"running {names}" if names else "")

    def _line(self, event: StepEvent) -> None:
        state = event.state
        took = duration(event.duration) if event.duration else ""
        if event.kind == "retrying":
            detail = (
                f"[yellow]attempt {event.attempt} failed, retrying[/]: {escape(event.error or '')}"
            )
            console.print(f"  {mark('failed')} {event.key:<20} {took:>8}   {detail}")
            return
        if state == "cached":
            detail = f"[cyan]cached[/]  {event.summary}"
        elif state in ("failed", "blocked"):
            detail = f"[red]{escape(event.error or state)}[/]"
        elif state == "skipped":
            detail = f"[dim]skipped ({escape(event.error or '')})[/]"
        else:
            detail = escape(event.summary)
        console.print(f"  {mark(state)} {event.key:<20} {took:>8}   {detail}".rstrip())


def run_command(
    target: str,
    params: list[str],
    settings: Settings,
    executor: str | None,
    cache: bool,
    run_id: str | None,
) -> RunResult:
    from mloop.orchestrator import run

    pipeline = load_pipeline(target)
    values = pipeline.validate_params(parse_params(params))
    progress = Progress()
    result = run(
        pipeline,
        values,
        settings=settings,
        executor=executor,
        cache=cache,
        run_id=run_id,
        on_event=progress,
        raise_on_failure=False,
    )
    took = duration(time.monotonic() - progress.started)
    if result.state == "succeeded":
        console.print(f"[green]Run {result.id} succeeded[/] in {took}")
    else:
        console.print(
            f"[red]Run {result.id} {result.state}[/] in {took}: {escape(result.error or '')}"
        )
        console.print(
            f"  logs: mloop runs logs {result.id}    resume: mloop runs resume {result.id}"
        )
        raise typer.Exit(1)
    return result
