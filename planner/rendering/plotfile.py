"""The FILE of `--plot FILE` (perf's sweep chart, estimate's and plan's memory split): the checks made before
any work, and the atomic write.

A path is refused up front (exit 2, one line) when it is a folder, does not end in .svg or .png, or its
folder is missing or not writable, so a long estimate or sweep never ends in a file that cannot be written.
The file itself is written to a temp file in the same folder, then renamed over the target: a failed or
interrupted run leaves the old file (or none), never a half-written plot.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from planner.errors import PlannerError

SUFFIXES = (".svg", ".png")


def is_png(path: Path) -> bool:
    return path.suffix.lower() == ".png"


def check_path(path: Path) -> None:
    """Refuse, before any work, a plot path that cannot be written: exit 2 with the reason."""
    try:
        _check_path(path)
    except OSError as exc:     # a name past NAME_MAX or PATH_MAX, a loop of links: is_dir() raises, not False
        raise PlannerError(f"--plot {_shown(path)}: not a path this system can write "
                           f"({exc.strerror or type(exc).__name__})") from None


def _shown(path: Path) -> str:
    text = str(path)
    return repr(text if len(text) <= 80 else text[:37] + "..." + text[-40:])


def _check_path(path: Path) -> None:
    if path.is_dir():
        raise PlannerError(f"--plot {str(path)!r} is a folder; give a file name ending in .svg or .png")
    if path.suffix.lower() not in SUFFIXES:
        raise PlannerError(f"--plot {str(path)!r}: the file must end in .svg or .png")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise PlannerError(f"--plot {str(path)!r}: the folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PlannerError(f"--plot {str(path)!r}: the folder {str(parent)!r} is not writable")


def _mode(path: Path) -> int:
    """The mode the file gets: the old file's, or what the umask leaves of 0o666 (mkstemp's 0o600 is private)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: Path, data: bytes) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), _mode(path))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise PlannerError(f"--plot {str(path)!r}: cannot write it ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
