"""Blocking file primitives behind the file effects (WriteFile, ReadFile, DeleteFile).

Workflows never call these: they yield the effects, and each driver runs these functions,
inline on the request thread (sync) or via `asyncio.to_thread` (async). Written once here,
like `db_errors`, because both shells touch the same filesystem the same way.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from shared_logic.effects import StorageFailed


@contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise OS errors as the core's `StorageFailed`."""
    try:
        yield
    except OSError as exc:
        raise StorageFailed(f"{type(exc).__name__}: {exc.strerror or exc}") from exc


def write_atomically(path: str, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`.

    The rename is atomic on POSIX, so readers see the old file or the whole new one;
    on any failure the temporary file is removed and `path` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise


def read_range(path: str, offset: int, length: int) -> bytes:
    with open(path, "rb") as source:
        source.seek(offset)
        return source.read(length)


def delete(path: str) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)
