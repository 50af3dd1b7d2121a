"""The one error root of mloop, and its hierarchy.

```
MloopError                      base; carries ``http_status`` and structured fields
├── ConfigError                 bad settings file, unknown key, bad value           (400)
├── DefinitionError             a component or pipeline is wrong when defined       (400)
│   └── CompileError            a spec cannot be produced or read back              (400)
├── DataError                   data cannot be used as asked; names the column      (400)
│   └── IngestError             a source cannot be read as asked                    (400)
├── NotFoundError               a run, execution, artifact, pipeline ... is missing (404)
├── ConflictError               the state does not allow the operation              (409)
├── StoreError                  the metadata database failed or is not migrated     (500)
├── ArtifactError               an artifact cannot be written or read               (500)
│   ├── ArtifactCorrupted       the bytes no longer match the fingerprint           (500)
│   └── MaterializerError       no materializer for a type/value, or it failed      (400)
└── RunError                    a pipeline run did not succeed                      (500)
    ├── StepFailed              a user component raised (original traceback kept)   (500)
    ├── StepTimeout             a step ran past its timeout and was killed          (504)
    └── RunCancelled            the run was cancelled                               (409)
```

User-code exceptions are wrapped at exactly one boundary (the step runner) into
:class:`StepFailed`, which keeps the formatted original traceback.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ArtifactCorrupted",
    "ArtifactError",
    "CompileError",
    "ConfigError",
    "ConflictError",
    "DataError",
    "DefinitionError",
    "IngestError",
    "MaterializerError",
    "MloopError",
    "NotFoundError",
    "RunCancelled",
    "RunError",
    "StepFailed",
    "StepTimeout",
    "StoreError",
]


class MloopError(Exception):
    """Base of every error mloop raises on purpose.

    ``fields`` holds structured context (run id, step, artifact uri, ...) so that the CLI and
    the server can show or return it without parsing the message.
    """

    http_status: int = 500

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message, **self.fields}


class ConfigError(MloopError):
    http_status = 400


class DefinitionError(MloopError):
    """A component or pipeline definition is invalid; names the pipeline, step and argument."""

    http_status = 400


class CompileError(DefinitionError):
    pass


class DataError(MloopError):
    """Data (or statistics of it) cannot be used as asked; ``column`` names the column."""

    http_status = 400

    def __init__(self, message: str, *, column: str | None = None, **fields: Any) -> None:
        super().__init__(message, column=column, **fields)
        self.column = column


class IngestError(DataError, ValueError):
    """A source cannot be read as asked; ``fields`` name the column, path or argument."""


class NotFoundError(MloopError):
    http_status = 404


class ConflictError(MloopError):
    http_status = 409


class StoreError(MloopError):
    http_status = 500


class ArtifactError(MloopError):
    http_status = 500


class ArtifactCorrupted(ArtifactError):
    """The stored bytes of an artifact no longer hash to its recorded fingerprint."""


class MaterializerError(ArtifactError):
    http_status = 400


class RunError(MloopError):
    http_status = 500


class StepFailed(RunError):
    """A user component raised. ``traceback`` is the original, formatted traceback."""

    def __init__(self, message: str, *, traceback: str | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.traceback = traceback


class StepTimeout(RunError):
    http_status = 504


class RunCancelled(RunError):
    http_status = 409
