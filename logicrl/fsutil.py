"""Small file-system helpers shared by the commands."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    Readers never see a half-written file, and a failed write leaves nothing behind.
    """
    path = Path(path)
    make_parent_dirs(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def blocking_file(path: str | os.PathLike) -> Path | None:
    """The nearest existing ancestor of `path` (or `path`'s parent chain) that is a file and so blocks
    creating `path`, or None. `--out /etc/passwd/x.jsonl` -> /etc/passwd."""
    path = Path(path).expanduser().absolute()
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def make_parent_dirs(path: str | os.PathLike) -> None:
    """`mkdir -p` of `path`'s parent, with a NotADirectoryError naming the file in the way (the plain
    error says only "File exists")."""
    path = Path(path)
    blocker = blocking_file(path)
    if blocker is not None:
        raise NotADirectoryError(f"cannot create {path}: {blocker} is a file, not a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
