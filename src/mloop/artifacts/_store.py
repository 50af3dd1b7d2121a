"""The artifact store: immutable, content-addressed directories under ``<root>/<type>/<sha256>``.

``save`` materializes a value into a local staging directory, fingerprints its files and
publishes it; identical content is stored once. Publishing never makes a half artifact
visible: on a local root the staging directory lives under ``<root>/.tmp/`` and is renamed
into place whole (``manifest.json`` inside); on a remote root (``s3://`` and any other
fsspec URL) every file is uploaded before ``manifest.json``, whose presence is what commits
an artifact. A directory without a manifest is not an artifact and is replaced when the
same content is saved again.

Every read is verified: ``local_path`` re-hashes each file against the manifest and the
manifest against the artifact's fingerprint, and raises :class:`ArtifactCorrupted` naming
the artifact and the file. Remote artifacts are downloaded once into ``cache_dir`` (staged
and renamed, so concurrent readers are safe). A per-process memo of verified directories,
checked against every file's inode, size, mtime and ctime, skips re-hashing what has not
changed since it was verified.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.artifacts._fingerprint import MANIFEST_NAME, Manifest, hash_directory, hash_file
from mloop.artifacts._materializers import Materializer, get_materializer, materializer_for
from mloop.artifacts._types import Artifact, artifact_type, is_artifact_type
from mloop.errors import ArtifactCorrupted, ArtifactError, MaterializerError, NotFoundError

if TYPE_CHECKING:
    from mloop.config import Settings

_LOCAL_PROTOCOLS = ("file", "local")
_TMP = ".tmp"

#: (inode, size, mtime_ns, ctime_ns) of every file of a directory, by relative path
_Signature = dict[str, tuple[int, int, int, int]]

_VERIFIED: dict[tuple[str, str], tuple[_Signature, Manifest]] = {}
_VERIFIED_LOCK = threading.Lock()
_VERIFIED_MAX = 4096


class ArtifactStore:
    """Artifacts under one fsspec root: a local directory (default) or ``s3://``, ``gs://``…

    Constructing a store does no I/O; directories and connections are made on first use.
    """

    def __init__(
        self,
        root: str,
        *,
        storage_options: dict[str, Any] | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        protocol, _, rest = str(root).rpartition("://")
        self.is_local = protocol in ("", *_LOCAL_PROTOCOLS)
        self.root = str(Path(rest).absolute()) if self.is_local else str(root).rstrip("/")
        self.storage_options: dict[str, Any] = dict(storage_options or {})
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._fs_and_path: tuple[Any, str] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ArtifactStore:
        """The store configured by ``settings``; remote reads are cached under its home."""
        return cls(
            settings.resolved_artifact_root,
            storage_options=settings.storage_options,
            cache_dir=settings.home / "cache" / "artifacts",
        )

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root!r})"

    # Writing -------------------------------------------------------------------------------

    def save(
        self,
        value: Any,
        artifact_type: type[Artifact] | str,
        *,
        materializer: str | None = None,
    ) -> Artifact:
        """Store ``value`` as an artifact of ``artifact_type`` and return it, bound to this store.

        The materializer is the one named, else the one chosen for the value's Python type
        and the artifact type (see :mod:`mloop.artifacts._materializers`).
        """
        cls = _artifact_class(artifact_type)
        if materializer is None:
            chosen = materializer_for(value, cls)
        else:
            chosen = get_materializer(materializer)
            _check_explicit(chosen, value, cls)
        return self._save(value, cls, chosen, {})

    def put_directory(
        self,
        local_dir: Path,
        artifact_type: type[Artifact] | str,
        *,
        properties: dict[str, Any] | None = None,
    ) -> Artifact:
        """Store the files of an existing local directory as an artifact (materializer ``files``).

        ``properties`` are recorded with the artifact; they do not change its fingerprint.
        """
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise ArtifactError(f"cannot store {local_dir}: not a directory", path=str(local_dir))
        cls = _artifact_class(artifact_type)
        return self._save(local_dir, cls, get_materializer("files"), dict(properties or {}))

    def _save(
        self,
        value: Any,
        cls: type[Artifact],
        materializer: Materializer,
        extra: dict[str, Any],
    ) -> Artifact:
        staging = self._staging_root() / uuid.uuid4().hex
        staging.mkdir(parents=True)
        try:
            reported = _run_save(materializer, value, staging, cls)
            before = _signature(staging)
            files = hash_directory(staging)
            manifest = Manifest(files=files, type=cls.type_name, materializer=materializer.name)
            properties = {
                **extra,
                **reported,
                "materializer": materializer.name,
                "size_bytes": sum(entry["size"] for entry in files.values()),
            }
            (staging / MANIFEST_NAME).write_bytes(manifest.to_bytes())
            before[MANIFEST_NAME] = _stat(staging / MANIFEST_NAME)
            if self.is_local:
                uri, placed = self._publish_local(staging, manifest)
            else:
                uri = self._publish_remote(staging, manifest)
                placed = self._install(staging, self._cache_root() / manifest.fingerprint)
            if placed is not None:
                _remember(placed, manifest, before)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return cls(uri, manifest.fingerprint, properties, store=self)

    def _publish_local(self, staging: Path, manifest: Manifest) -> tuple[str, Path | None]:
        dest = Path(self.root) / manifest.type / manifest.fingerprint
        if (dest / MANIFEST_NAME).is_file():
            return str(dest), None
        dest.parent.mkdir(parents=True, exist_ok=True)
        return str(dest), self._install(staging, dest)

    def _publish_remote(self, staging: Path, manifest: Manifest) -> str:
        fs, root_path = self._fs()
        dest = f"{root_path}/{manifest.type}/{manifest.fingerprint}"
        fs.invalidate_cache(dest)
        if not fs.exists(f"{dest}/{MANIFEST_NAME}"):
            names = sorted(manifest.files)
            if names:
                fs.put([str(staging / n) for n in names], [f"{dest}/{n}" for n in names])
            fs.pipe_file(f"{dest}/{MANIFEST_NAME}", manifest.to_bytes())
        return str(fs.unstrip_protocol(dest))

    def _install(self, staging: Path, dest: Path) -> Path | None:
        """Rename the committed ``staging`` directory to ``dest``; ``None`` if one was there.

        A ``dest`` without a manifest is debris of an interrupted write: it is moved aside
        (an atomic rename, so racing writers cannot both remove it) and deleted.
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(8):
            try:
                os.rename(staging, dest)
            except OSError:
                if (dest / MANIFEST_NAME).is_file():
                    return None
                debris = staging.parent / f"{uuid.uuid4().hex}.debris"
                try:
                    os.rename(dest, debris)
                except FileNotFoundError:
                    continue
                shutil.rmtree(debris, ignore_errors=True)
            else:
                return dest
        raise ArtifactError(f"cannot move {staging} into place at {dest}", path=str(dest))

    # Reading -------------------------------------------------------------------------------

    def local_path(self, artifact: Artifact) -> Path:
        """A local directory holding the artifact's files, verified against its fingerprint."""
        return self._verified(artifact)[0]

    def load(self, artifact: Artifact, *, as_type: type | None = None) -> Any:
        """Read an artifact's value (verified), optionally as ``as_type``."""
        directory, manifest = self._verified(artifact)
        name = artifact.properties.get("materializer") or manifest.materializer
        materializer = get_materializer(name)
        try:
            return materializer.load(directory, as_type)
        except MaterializerError as exc:
            exc.fields.setdefault("artifact", artifact.uri)
            raise
        except Exception as exc:
            raise MaterializerError(
                f"materializer {name!r} cannot read {artifact.type_name} artifact "
                f"{artifact.uri}: {type(exc).__name__}: {exc}",
                artifact=artifact.uri,
                materializer=name,
            ) from exc

    def exists(self, artifact_type: type[Artifact] | str, fingerprint: str) -> bool:
        """Whether a committed artifact of this type and fingerprint is in the store."""
        type_name = artifact_type if isinstance(artifact_type, str) else artifact_type.type_name
        if self.is_local:
            return (Path(self.root) / type_name / fingerprint / MANIFEST_NAME).is_file()
        fs, root_path = self._fs()
        dest = f"{root_path}/{type_name}/{fingerprint}"
        fs.invalidate_cache(dest)
        return bool(fs.exists(f"{dest}/{MANIFEST_NAME}"))

    def _verified(self, artifact: Artifact) -> tuple[Path, Manifest]:
        if self.is_local:
            directory = Path(_strip_file_protocol(artifact.uri))
            return directory, _verify(directory, artifact)
        cached = self._cache_root() / artifact.fingerprint
        if (cached / MANIFEST_NAME).is_file():
            try:
                return cached, _verify(cached, artifact)
            except (ArtifactCorrupted, NotFoundError):
                self._discard(cached)  # a damaged cache entry is fetched again
        return self._download(artifact)

    def _download(self, artifact: Artifact) -> tuple[Path, Manifest]:
        fs, _ = self._fs()
        remote = self._remote_path(artifact.uri)
        try:
            data = fs.cat_file(f"{remote}/{MANIFEST_NAME}")
        except FileNotFoundError:
            raise _not_committed(artifact) from None
        manifest = _parse_manifest(data, artifact)
        staging = self._cache_root() / _TMP / uuid.uuid4().hex
        try:
            names = sorted(manifest.files)
            for name in names:
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
            try:
                if names:
                    fs.get([f"{remote}/{n}" for n in names], [str(staging / n) for n in names])
            except FileNotFoundError as exc:
                raise ArtifactCorrupted(
                    f"{artifact.type_name} artifact {artifact.uri} is corrupted: a file listed "
                    f"in its manifest is missing ({exc})",
                    artifact=artifact.uri,
                    fingerprint=artifact.fingerprint,
                ) from None
            (staging / MANIFEST_NAME).write_bytes(data)
            _verify(staging, artifact)
            signature = _signature(staging)
            placed = self._install(staging, self._cache_root() / artifact.fingerprint)
            if placed is not None:
                _remember(placed, manifest, signature)
                return placed, manifest
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        cached = self._cache_root() / artifact.fingerprint  # another reader installed it
        return cached, _verify(cached, artifact)

    def _discard(self, directory: Path) -> None:
        debris = directory.parent / _TMP / f"{uuid.uuid4().hex}.debris"
        debris.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(directory, debris)
        except FileNotFoundError:
            return
        shutil.rmtree(debris, ignore_errors=True)

    # Locations -----------------------------------------------------------------------------

    def _fs(self) -> tuple[Any, str]:
        if self._fs_and_path is None:
            from fsspec.core import url_to_fs

            fs, path = url_to_fs(self.root, **self.storage_options)
            self._fs_and_path = fs, str(path).rstrip("/")
        return self._fs_and_path

    def _remote_path(self, uri: str) -> str:
        fs, _ = self._fs()
        protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
        protocol, sep, _ = uri.partition("://")
        if not sep or protocol not in protocols:
            raise ArtifactError(
                f"artifact {uri} is not in artifact store {self.root}", artifact=uri
            )
        return str(fs._strip_protocol(uri)).rstrip("/")

    def _cache_root(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(base) / "mloop" / "artifacts"

    def _staging_root(self) -> Path:
        return Path(self.root) / _TMP if self.is_local else self._cache_root() / _TMP


# Helpers ------------------------------------------------------------------------------------


def _artifact_class(artifact_type_: type[Artifact] | str) -> type[Artifact]:
    cls = artifact_type(artifact_type_) if isinstance(artifact_type_, str) else artifact_type_
    if not is_artifact_type(cls):
        raise ArtifactError(f"{cls!r} is not an Artifact type")
    name = cls.type_name
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        raise ArtifactError(f"artifact type name {name!r} cannot be a directory name")
    return cls


def _check_explicit(materializer: Materializer, value: Any, cls: type[Artifact]) -> None:
    value_type = f"{type(value).__module__}.{type(value).__qualname__}"
    if not materializer.handles(cls):
        handled = ", ".join(t.type_name for t in materializer.artifact_types)
        raise MaterializerError(
            f"materializer {materializer.name!r} does not store {cls.type_name} artifacts "
            f"(it stores: {handled})",
            artifact_type=cls.type_name,
            materializer=materializer.name,
        )
    if not materializer.can_save(value):
        raise MaterializerError(
            f"materializer {materializer.name!r} cannot save a {value_type} value "
            f"as a {cls.type_name} artifact",
            artifact_type=cls.type_name,
            value_type=value_type,
            materializer=materializer.name,
        )


def _run_save(
    materializer: Materializer, value: Any, directory: Path, cls: type[Artifact]
) -> dict[str, Any]:
    """Call the materializer, turning its failures into one :class:`MaterializerError`."""
    what = f"a {type(value).__qualname__} value as a {cls.type_name} artifact"
    try:
        reported = materializer.save(value, directory)
        if (directory / MANIFEST_NAME).exists():
            raise MaterializerError(f"the file name {MANIFEST_NAME} is reserved")
        json.dumps(reported, allow_nan=False)
    except Exception as exc:
        message = exc.message if isinstance(exc, MaterializerError) else f"{exc}"
        fields = exc.fields if isinstance(exc, MaterializerError) else {}
        raise MaterializerError(
            f"materializer {materializer.name!r} cannot save {what}: {message}",
            **{**fields, "artifact_type": cls.type_name, "materializer": materializer.name},
        ) from exc
    return dict(reported)


def _strip_file_protocol(uri: str) -> str:
    for protocol in _LOCAL_PROTOCOLS:
        if uri.startswith(f"{protocol}://"):
            return uri[len(protocol) + 3 :]
    return uri


def _not_committed(artifact: Artifact) -> NotFoundError:
    return NotFoundError(
        f"{artifact.type_name} artifact {artifact.uri} does not exist "
        f"(no {MANIFEST_NAME}: missing or never committed)",
        artifact=artifact.uri,
        fingerprint=artifact.fingerprint,
    )


def _corrupted(artifact: Artifact, file: str, problem: str) -> ArtifactCorrupted:
    return ArtifactCorrupted(
        f"{artifact.type_name} artifact {artifact.uri} is corrupted: {file} {problem}",
        artifact=artifact.uri,
        file=file,
        fingerprint=artifact.fingerprint,
    )


def _parse_manifest(data: bytes, artifact: Artifact) -> Manifest:
    try:
        manifest = Manifest.from_bytes(data)
    except ValueError as exc:
        raise _corrupted(artifact, MANIFEST_NAME, f"is unreadable ({exc})") from None
    if manifest.fingerprint != artifact.fingerprint:
        raise _corrupted(
            artifact,
            MANIFEST_NAME,
            f"lists files with fingerprint {manifest.fingerprint}, not {artifact.fingerprint}",
        )
    return manifest


def _stat(path: Path) -> tuple[int, int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _signature(directory: Path) -> _Signature:
    signature: _Signature = {}
    for dirpath, _, filenames in os.walk(directory):
        for name in filenames:
            path = Path(dirpath) / name
            signature[path.relative_to(directory).as_posix()] = _stat(path)
    return signature


def _remember(directory: Path, manifest: Manifest, signature: _Signature) -> None:
    """Memoize a verified directory if its files are still exactly the ones hashed."""
    if _signature(directory) != signature:
        return
    with _VERIFIED_LOCK:
        if len(_VERIFIED) >= _VERIFIED_MAX:
            del _VERIFIED[next(iter(_VERIFIED))]
        _VERIFIED[(str(directory), manifest.fingerprint)] = (signature, manifest)


def _verify(directory: Path, artifact: Artifact) -> Manifest:
    """Check every file of ``directory`` against its manifest and ``artifact.fingerprint``."""
    key = (str(directory), artifact.fingerprint)
    signature = _signature(directory) if directory.is_dir() else {}
    with _VERIFIED_LOCK:
        memo = _VERIFIED.get(key)
    if memo is not None and memo[0] == signature:
        return memo[1]
    if MANIFEST_NAME not in signature:
        raise _not_committed(artifact)
    manifest = _parse_manifest((directory / MANIFEST_NAME).read_bytes(), artifact)
    present = set(signature) - {MANIFEST_NAME}
    for name in sorted(set(manifest.files) - present):
        raise _corrupted(artifact, name, "is missing")
    for name in sorted(present - set(manifest.files)):
        raise _corrupted(artifact, name, "is not listed in the manifest")
    for name, entry in sorted(manifest.files.items()):
        if signature[name][1] != entry["size"]:
            raise _corrupted(
                artifact, name, f"has {signature[name][1]} bytes, expected {entry['size']}"
            )
        sha256, _ = hash_file(directory / name)
        if sha256 != entry["sha256"]:
            raise _corrupted(artifact, name, f"has sha256 {sha256}, expected {entry['sha256']}")
    _remember(directory, manifest, signature)
    return manifest
