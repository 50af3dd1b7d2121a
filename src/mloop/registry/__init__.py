"""The model registry: named models, numbered versions, movable aliases, cards, loading.

A **registered model** (``flights-delay``) has **versions** 1, 2, ... — each an immutable
``Model`` artifact plus its lineage (the run, the data, the metrics, the signature) — and
**aliases** (``champion``, ``challenger``, any name) that point at one version at a time and
move atomically (compare-and-set, safe with concurrent writers). Every change is written to
an **audit** log with who or what made it. A version is addressed as
``models:/flights-delay/3`` or ``models:/flights-delay@champion``::

    from mloop.registry import Registry, load

    reg = Registry()
    v = reg.register("flights-delay", model_artifact)
    reg.set_alias("flights-delay", "champion", v.version, expected=None)
    model = load("models:/flights-delay@champion")   # ready to predict, transform included
    print(reg.card("flights-delay", "champion"))      # the model card, as Markdown
"""

from mloop.registry._registry import ANY, ExpectedVersion, Registry, default_actor, load
from mloop.registry._uri import ModelURI, check_alias, check_name, parse_model_uri
from mloop.store import AuditRecord, ModelVersionRecord, RegisteredModelRecord

__all__ = [
    "ANY",
    "AuditRecord",
    "ExpectedVersion",
    "ModelURI",
    "ModelVersionRecord",
    "RegisteredModelRecord",
    "Registry",
    "check_alias",
    "check_name",
    "default_actor",
    "load",
    "parse_model_uri",
]
