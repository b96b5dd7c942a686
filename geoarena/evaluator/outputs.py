"""Files the evaluator's commands write: checked before any scoring, written whole.

A score can take seconds (minutes at a million buildings), so an output path that cannot
be written (``--json results/s.json`` under a file named ``results``, a read-only
folder) is refused before that work, naming the option and the path, not after it with
a traceback. A file is written whole or not at all: its bytes go to a temporary file
beside it, renamed over it once complete, so a full disk or a killed process leaves the
previous file (or none), never half a JSON. A missing folder is made, as ``geoarena
prepare -o`` always did. What is not a regular file (``/dev/stdout``, a named pipe) is
written in place: renaming over it would replace the device or the link.

Examples
--------
>>> import tempfile
>>> out = Path(tempfile.mkdtemp()) / "new" / "score.json"
>>> check_writable(out, "--json")
>>> write_atomically(out, b"{}\\n", "--json")
>>> out.read_bytes()
b'{}\\n'
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from geoarena.errors import InvalidInput


def check_writable(path: Path, option: str) -> None:
    """Make ``path``'s folder if missing; raise :class:`InvalidInput` (naming ``option``
    and ``path``) when the file could not be written there."""
    if _special(path):
        if not os.access(path, os.W_OK):
            raise _cannot(path, option, "permission denied")
        return
    _writable_folder(path.parent, "its folder", path, option)
    if path.is_dir():
        raise _cannot(path, option, "is a folder")


def check_writable_folder(path: Path, option: str) -> None:
    """As :func:`check_writable`, for a folder files will be written into."""
    _writable_folder(path, "the folder", path, option)


def _writable_folder(folder: Path, called: str, path: Path, option: str) -> None:
    """Make ``folder`` (``called`` so in messages) if missing and check that it can take
    new files; an error names ``path`` and ``option``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot(path, option, f"cannot make {called} {folder} ({exc.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _cannot(path, option, f"{called} {folder} is not writable")


def write_atomically(path: Path, data: bytes, option: str = "") -> None:
    """Write ``data`` to ``path`` whole or not at all (a reader never sees half a file);
    a failure is an :class:`InvalidInput` naming ``option`` and ``path``."""
    try:
        if _special(path):
            with path.open("wb") as file:
                file.write(data)
            return
        target = path.resolve()  # a link keeps pointing at the file it named
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace(target, data)
    except OSError as exc:
        raise _cannot(path, option, exc.strerror or str(exc)) from None


def _replace(target: Path, data: bytes) -> None:
    """Write a new file beside ``target``, then rename it over ``target``. Not
    ``tempfile.mkstemp``: its module's imports cost every score ~5 ms, and it makes the
    file private where an output wants the umask's usual mode, as ``os.open`` gives."""
    tmp = target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _special(path: Path) -> bool:
    """Whether ``path`` exists and is neither a regular file nor a folder."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _cannot(path: Path, option: str, reason: str) -> InvalidInput:
    return InvalidInput.about(f"cannot write: {reason}", file=str(path), column=option)
