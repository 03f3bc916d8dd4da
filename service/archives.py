"""Downloads of artifact folders (a checkpoint, TensorBoard files) as tars written while they stream.

A checkpoint can be gigabytes; a tar built in memory costs the API process that much per
download in flight. The tar here is written member by member, each file read in chunks, so a
download holds one chunk at a time. Its metadata is fixed (mtime 0, mode 0644, uid/gid 0) and
its members sorted, so the same folder downloads byte-identical every time, and its length is
known before the first byte (the Content-Length of the response).
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

from adamant.artifacts import ArtifactNotFound, ArtifactStore

CHUNK = 256 * 1024
BLOCK = tarfile.BLOCKSIZE  # 512: every header and file is padded to it
END = 2 * BLOCK  # two zero blocks end the archive ...
RECORD = tarfile.RECORDSIZE  # ... which is padded to a whole record, as tarfile writes it


@dataclass(frozen=True)
class Member:
    key: str  # in the artifact store
    header: bytes
    size: int


def _padding(size: int, unit: int) -> int:
    return -size % unit


class FolderTar:
    """The files directly under `key` of a store, as a PAX tar under the folder's own name.
    Built from the listing (names and sizes) only: ArtifactNotFound when the folder is empty."""

    def __init__(self, store: ArtifactStore, key: str) -> None:
        base = key.strip("/")
        names = [k[len(base) + 1 :] for k in store.list(base) if k.startswith(base + "/") and "/" not in k[len(base) + 1 :]]
        if not names:
            raise ArtifactNotFound(base)
        folder = base.rsplit("/", 1)[-1]
        self.store = store
        self.members: list[Member] = []
        for name in sorted(names):
            info = tarfile.TarInfo(name=f"{folder}/{name}")
            info.size = store.size(f"{base}/{name}")
            info.mtime, info.mode, info.uid, info.gid = 0, 0o644, 0, 0
            header = info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")
            self.members.append(Member(f"{base}/{name}", header, info.size))

    @property
    def length(self) -> int:
        body = sum(len(m.header) + m.size + _padding(m.size, BLOCK) for m in self.members) + END
        return body + _padding(body, RECORD)

    def chunks(self) -> Iterator[bytes]:
        """The tar's bytes, a header or at most CHUNK bytes of a file at a time. A file that
        changed size since the listing ends the stream with an error (the download is cut
        short, which the client sees), never a tar whose headers lie."""
        written = 0
        for member in self.members:
            yield member.header
            left = member.size
            with self.store.open(member.key) as f:
                while left:
                    chunk = f.read(min(CHUNK, left))
                    if not chunk:
                        raise OSError(f"{member.key} shrank while it was being sent")
                    left -= len(chunk)
                    yield chunk
            padding = _padding(member.size, BLOCK)
            if padding:
                yield b"\0" * padding
            written += len(member.header) + member.size + padding
        yield b"\0" * (END + _padding(written + END, RECORD))
