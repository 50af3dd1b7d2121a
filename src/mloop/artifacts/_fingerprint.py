"""Content fingerprints: sha256 of files, and the manifest that commits an artifact.

An artifact is a directory of files plus a ``manifest.json`` written last; the manifest's
presence is what makes the artifact exist. It lists every file with its sha256 and size::

    {"files": {"data.parquet": {"sha256": "…", "size": 123}},
     "materializer": "parquet", "type": "Dataset"}

The artifact's **fingerprint** is the sha256 of the canonical JSON of the ``files`` mapping
alone, so the same bytes have the same fingerprint whatever type or materializer wrote them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

MANIFEST_NAME = "manifest.json"
CHUNK_SIZE = 1024 * 1024

#: relative POSIX path -> {"sha256": hex digest, "size": bytes}
FileEntries = dict[str, dict[str, Any]]


def canonical_json(value: Any) -> bytes:
    """One byte string per JSON value: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def hash_stream(stream: BinaryIO) -> tuple[str, int]:
    """sha256 hex digest and byte count of a binary stream, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    size = 0
    while True:
        n = stream.readinto(view)  # type: ignore[attr-defined]
        if not n:
            break
        digest.update(view[:n])
        size += n
    return digest.hexdigest(), size


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """sha256 hex digest and size of one file."""
    with open(path, "rb", buffering=0) as stream:
        return hash_stream(stream)


def list_files(directory: Path) -> list[str]:
    """Relative POSIX paths of the files under ``directory``, sorted, without the manifest."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(directory)
        for name in filenames:
            rel = (rel_dir / name).as_posix()
            if rel != MANIFEST_NAME:
                found.append(rel)
    return sorted(found)


def hash_directory(directory: Path) -> FileEntries:
    """The ``files`` mapping of a manifest for every file under ``directory``."""
    entries: FileEntries = {}
    for rel in list_files(directory):
        sha256, size = hash_file(directory / rel)
        entries[rel] = {"sha256": sha256, "size": size}
    return entries


def fingerprint_of(files: FileEntries) -> str:
    """The artifact fingerprint: sha256 of the canonical JSON of the ``files`` mapping."""
    return hashlib.sha256(canonical_json(files)).hexdigest()


@dataclass(frozen=True, slots=True)
class Manifest:
    """The commit record of an artifact directory."""

    files: FileEntries
    type: str
    materializer: str

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.files)

    def to_bytes(self) -> bytes:
        return canonical_json(
            {"files": self.files, "type": self.type, "materializer": self.materializer}
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse a manifest; raises ``ValueError`` when it is not one."""
        try:
            raw = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"manifest is not JSON: {exc}") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("files"), dict):
            raise ValueError("manifest has no 'files' mapping")
        files: FileEntries = raw["files"]
        for rel, entry in files.items():
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("sha256"), str)
                or not isinstance(entry.get("size"), int)
                or rel.startswith("/")
                or ".." in rel.split("/")
            ):
                raise ValueError(f"manifest entry {rel!r} is malformed")
        return cls(
            files=files,
            type=str(raw.get("type", "")),
            materializer=str(raw.get("materializer", "")),
        )
