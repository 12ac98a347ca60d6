"""Private files: the data directory, the SQLite database (and its -wal/-shm), the logs and
Reflex's `.states/` are readable by the service's own user only (files 0600, directories 0700).

`private_umask()` makes every file the process creates private, including those created by
code EnergyApp does not control (SQLite's side files, Reflex's state pickles, the frontend build,
which the same process serves). The helpers below also tighten what already exists from an
older release: they only ever remove permission bits, and only on paths this user owns.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_umask() -> None:
    os.umask(PRIVATE_UMASK)


def tighten(path: Path, mode: int) -> None:
    """Drop any permission bit of `path` outside `mode` (missing or foreign paths: nothing)."""
    try:
        info = path.stat()
        current = stat.S_IMODE(info.st_mode)
        if info.st_uid == os.getuid() and current & ~mode:
            path.chmod(current & mode)
    except OSError:
        pass


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) if needed; the directory itself ends up 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 if it does not exist, else tighten it to 0600."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        tighten(path, FILE_MODE)
    return path


def states_dir() -> Path:
    """Where Reflex's disk state manager keeps each tab's state (REFLEX_STATES_WORKDIR)."""
    return Path(os.environ.get("REFLEX_STATES_WORKDIR") or ".states")


def protect_runtime_files(data_dir: Path, log_dir: Path | None) -> None:
    """Start-up: private umask, then tighten what an older release left readable."""
    private_umask()
    for directory in (data_dir, log_dir, states_dir()):
        if directory is not None and directory.is_dir():
            tighten(directory, DIR_MODE)
