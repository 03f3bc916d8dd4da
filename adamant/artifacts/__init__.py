"""Where artifacts (checkpoints) live: the local artifact root or an fsspec object store.

Keys are POSIX paths relative to the store's root, the same relative paths the database
records (checkpoints.path, e.g. ``jobs/<job id>/run/checkpoints/step-00000042``); a key may
name one file or a "directory" (every file under that prefix).

- `LocalArtifacts(root)`: plain files under a folder — the embedded default, and what a
  cluster uses with a shared volume (ADAMANT_ARTIFACTS).
- `FsspecArtifacts(url)`: any fsspec filesystem (ADAMANT_ARTIFACTS_URL): ``file:///srv/x``,
  ``memory://`` (one process only: tests), ``s3://bucket/prefix`` (needs the s3fs package,
  which Adamant does not install), ``gs://`` (gcsfs) and so on.

The trainer always writes its checkpoints under the local artifact root first (atomic
rename, fsync); with ADAMANT_ARTIFACTS_URL set, the worker then uploads each one to the store
before recording it, and the service reads downloads from the store.
"""

from adamant.artifacts.stores import (
    ArtifactNotFound,
    ArtifactStore,
    ArtifactStoreError,
    FsspecArtifacts,
    LocalArtifacts,
    artifact_mirror,
    artifact_store,
    local_copy,
    publish,
)

__all__ = [
    "ArtifactNotFound",
    "ArtifactStore",
    "ArtifactStoreError",
    "FsspecArtifacts",
    "LocalArtifacts",
    "artifact_store",
    "artifact_mirror",
    "local_copy",
    "publish",
]
