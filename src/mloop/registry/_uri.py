"""Model references (``models:/name@alias``, ``models:/name/3``) and the naming rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from mloop.errors import DefinitionError

__all__ = ["ModelURI", "check_alias", "check_name", "parse_model_uri"]

SCHEME: Final = "models:/"
NAME_RULE: Final = "1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VERSION_LIKE = re.compile(r"^[vV]?[0-9]+$")
LATEST: Final = "latest"


@dataclass(frozen=True, slots=True)
class ModelURI:
    """A parsed model reference: a version number, an alias, or (neither) the latest version."""

    name: str
    version: int | None = None
    alias: str | None = None

    @property
    def is_latest(self) -> bool:
        return self.version is None and self.alias is None

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{SCHEME}{self.name}@{self.alias}"
        return f"{SCHEME}{self.name}/{LATEST if self.version is None else self.version}"


def parse_model_uri(uri: str) -> ModelURI:
    """Parse ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``models:/NAME/latest``, or the
    same without the ``models:/`` prefix (a bare ``NAME`` means its latest version)."""
    if not isinstance(uri, str) or not uri.strip():
        raise DefinitionError(f"a model reference must be a non-empty string, not {uri!r}")
    text = uri.strip()
    rest = text[len(SCHEME) :] if text.startswith(SCHEME) else text
    if rest.startswith("/"):  # models://name (a common typo): one slash is the scheme
        rest = rest.lstrip("/")
    if "@" in rest:
        name, _, alias = rest.partition("@")
        check_name(name, what="model name", uri=text)
        if alias == LATEST:
            return ModelURI(name)
        check_alias(alias, uri=text)
        return ModelURI(name, alias=alias)
    name, sep, ref = rest.partition("/")
    check_name(name, what="model name", uri=text)
    if not sep or ref == LATEST:
        return ModelURI(name)
    if _VERSION_LIKE.match(ref):
        version = int(ref.lstrip("vV"))
        if version >= 1:
            return ModelURI(name, version=version)
    raise DefinitionError(
        f"model reference {text!r}: {ref!r} is not a version number (1, 2, ...) or 'latest'; "
        "use models:/NAME/VERSION, models:/NAME/latest or models:/NAME@ALIAS",
        uri=text,
    )


def check_name(name: str, *, what: str = "model name", uri: str | None = None) -> str:
    """``name`` if it follows the naming rule, else a DefinitionError that states the rule."""
    if not isinstance(name, str) or not _NAME.match(name):
        where = f" in {uri!r}" if uri is not None and uri != name else ""
        raise DefinitionError(
            f"invalid {what} {name!r}{where}: use {NAME_RULE}", name=name, uri=uri
        )
    return name


def check_alias(alias: str, *, uri: str | None = None) -> str:
    """``alias`` if it is a valid, unreserved alias: ``latest`` and version-like names
    (``3``, ``v3``) are reserved, so that a reference never means two things."""
    check_name(alias, what="alias", uri=uri)
    if alias.lower() == LATEST or _VERSION_LIKE.match(alias):
        raise DefinitionError(
            f"alias {alias!r} is reserved: 'latest' and version-like names (3, v3) would "
            "read as a version; choose another name (e.g. champion, challenger, staging)",
            alias=alias,
        )
    return alias
