"""Writing a `planner check --output FILE` report: whole or not at all."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from planner.errors import PlannerError


def write_report(path: Path, text: str) -> None:
    """Write text to path through a temporary file in the same folder and a rename, so a full disk
    or a killed run leaves the old file (or none), never half a report. A path that exists and is
    not a regular file (/dev/stdout, /dev/full, a FIFO) is written in place: renaming over a device
    would replace it. Raises PlannerError with one line on any failure."""
    data = text.encode("utf-8")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise PlannerError(f"cannot write {path}: {exc.strerror or exc}", code="output_error") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise PlannerError(f"cannot write {path}: is a directory", code="output_error",
                           hint="name a file, e.g. --output report.json")
    try:
        if st is not None and not stat.S_ISREG(st.st_mode):
            with open(path, "wb") as fh:
                fh.write(data)
                fh.flush()
            return
        folder = path.parent if str(path.parent) else Path(".")
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if st is not None:
                os.chmod(tmp, stat.S_IMODE(st.st_mode))
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, path)
        except BaseException:
            with _suppress():
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise PlannerError(f"cannot write {path}: {exc.strerror or exc}", code="output_error") from None


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True
