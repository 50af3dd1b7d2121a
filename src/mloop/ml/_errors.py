"""The errors of :mod:`mloop.ml`, in the one mloop hierarchy.

```
MloopError
├── DataError
│   └── SignatureError          input does not match the model signature (422; _signature)
└── ArtifactError
    └── MaterializerError
        ├── UnsupportedModelError   no flavor saves this kind of model        (400)
        └── ModelLoadError          a saved model cannot be read back         (500)
            └── UntrustedModelError loading it would trust unvetted code     (422)
```

The model errors derive from :class:`~mloop.errors.MaterializerError` so that the artifact
store passes them through unchanged when a ``Model`` artifact is loaded.
"""

from __future__ import annotations

from mloop.errors import MaterializerError

__all__ = ["ModelLoadError", "UnsupportedModelError", "UntrustedModelError"]


class UnsupportedModelError(MaterializerError):
    """No flavor saves this kind of model; the message names its class and the flavors."""

    http_status = 400


class ModelLoadError(MaterializerError):
    """A saved model cannot be read back: a corrupted or truncated file, a missing file, or a
    format version this mloop does not know. ``path`` and ``flavor`` name the file."""

    http_status = 500


class UntrustedModelError(ModelLoadError):
    """Loading the model would construct types (skops) or run code (pickle) that the caller
    has not vouched for; ``untrusted`` lists the types."""

    http_status = 422
