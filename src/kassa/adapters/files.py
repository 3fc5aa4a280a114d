"""The file store: where rendered documents are kept, addressed by a relative path.

`LocalFileStore` keeps them under a directory (KASSA_FILES_DIR, default {data_dir}/files).
Writes are atomic (a temporary file in the same directory, then a rename), so a reader never
sees half a file and a crash leaves no torn document behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Protocol


class FileStore(Protocol):
    def write(self, path: str, data: bytes) -> None:
        """Store `data` at `path`, replacing what was there, all at once."""

    def read(self, path: str) -> bytes:
        """The bytes at `path`; FileNotFoundError if there are none."""

    def exists(self, path: str) -> bool: ...


class LocalFileStore:
    """Files in a local directory; paths are relative and may not leave it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _resolve(self, path: str) -> Path:
        relative = PurePosixPath(path)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ValueError(f"Not a relative path inside the file store: {path!r}")
        return self.root.joinpath(*relative.parts)

    def write(self, path: str, data: bytes) -> None:
        target = self._resolve(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, path: str) -> bytes:
        return self._resolve(path).read_bytes()

    def exists(self, path: str) -> bool:
        return self._resolve(path).is_file()
