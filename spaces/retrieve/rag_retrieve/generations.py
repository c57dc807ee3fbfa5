"""Files on disk for the index: generation folders, checksums, fsync, and what a failed write means.

Pure file-system helpers, no index logic: index.py uses them to save atomically.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path


def write_error(exc: OSError, folder: Path) -> tuple[int | None, str]:
    """errno and words for a failed write. numpy's short write on a full disk has no errno."""
    if exc.errno is None and "requested and" in str(exc):
        return errno.ENOSPC, os.strerror(errno.ENOSPC)
    return exc.errno, exc.strerror or str(exc)


def write_fix(code: int | None) -> str:
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "Free some disk space (or raise the quota), then try again."
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "Make the folder writable by this process, or point RETRIEVE_INDEX_DIR at a writable folder."
    return "Check the folder and the disk, then try again."


def current_generation(folder: Path) -> str | None:
    try:
        return (folder / "CURRENT").read_text().strip() or None
    except OSError:
        return None


def complete_generations(folder: Path, *, before: str | None = None) -> list[str]:
    """Generation folders whose manifest (written last) exists, oldest first; only those older than `before` if given."""
    if not folder.is_dir():
        return []
    return sorted(
        p.name for p in folder.glob("gen-*") if (p / "manifest.json").exists() and (before is None or p.name < before)
    )


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    try:
        fsync(path)
    except OSError:  # some filesystems cannot fsync a directory; the rename is still atomic
        pass
