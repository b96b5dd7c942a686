"""Where the participant's commands find their server and token.

In order: the ``--server``/``--token`` flags, the ``GEOARENA_SERVER``/``GEOARENA_TOKEN``
environment variables, then a credentials file that ``geoarena leaderboard login`` writes
(like the Kaggle CLI's ``~/.kaggle/kaggle.json``): ``$GEOARENA_CREDENTIALS``, else
``$XDG_CONFIG_HOME/geoarena/credentials.json`` (``~/.config/...``). A token is a secret, so
the file is written readable by its owner only and, as ssh does with keys, refused when
others may read it.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from geoarena.errors import Forbidden, invalid_input_from

#: permission bits a credentials file must not have (group or others may read or write).
_SHARED = stat.S_IRWXG | stat.S_IRWXO


class Credentials(BaseModel):
    """A server and the token to speak to it with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server: str
    token: str


def credentials_path() -> Path:
    """The credentials file of this user (it need not exist)."""
    if explicit := os.environ.get("GEOARENA_CREDENTIALS"):
        return Path(explicit)
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "geoarena" / "credentials.json"


def load_credentials(path: Path | None = None) -> Credentials | None:
    """The saved credentials, or None when there is no file."""
    path = path or credentials_path()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if os.name == "posix" and mode & _SHARED:
        raise Forbidden(
            f"{path}: holds a token but other users may read it"
            f" (mode {stat.S_IMODE(mode):o}); run 'chmod 600 {path}'"
        )
    text = path.read_text(encoding="utf-8")
    try:
        return Credentials.model_validate_json(text)
    except ValidationError as exc:  # also what pydantic raises for text that is not JSON
        raise invalid_input_from(exc, file=str(path)) from None


def save_credentials(credentials: Credentials, path: Path | None = None) -> Path:
    """Write ``credentials`` (mode 600, atomically: never a half-written file)."""
    path = path or credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".credentials-")  # mode 600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(credentials.model_dump(), out, indent=2)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def forget_credentials(path: Path | None = None) -> bool:
    """Remove the saved credentials; False when there were none."""
    path = path or credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def resolve(server: str | None, token: str | None) -> tuple[str | None, str | None]:
    """The server and token to use, given what flags and environment said.

    The saved file fills what they left out, but its token is only ever sent to its own
    server: a token saved for one server never leaks to another named by ``--server``.
    """
    if server and token:
        return server, token
    saved = load_credentials()
    if saved is None:
        return server, token
    if server is None:
        return saved.server, token or saved.token
    same = server.rstrip("/") == saved.server.rstrip("/")
    return server, token or (saved.token if same else None)
