"""Where a sweep's runs came from: the code's git commit and the command that launched it.

A researcher looking at a trial weeks later must be able to rebuild it: the config is an
artefact, and these tags say which code ran it and how. They are computed once by the
launcher and stored on the study (``StudyAttr.SOURCE``), so worker processes -- started
as ``geoarena sweep worker ...``, possibly on other machines with another checkout --
record the user's command and the launcher's commit, not their own.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from mlflow.utils.mlflow_tags import (
    MLFLOW_GIT_COMMIT,
    MLFLOW_GIT_DIRTY,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
)

import geoarena

#: tag holding the command line that launched the sweep.
COMMAND_TAG = "geoarena.command"
VERSION_TAG = "geoarena.version"


def git_commit(path: Path) -> tuple[str, bool] | None:
    """``(commit, dirty)`` of the git checkout holding ``path``; None outside a checkout
    (an installed wheel) or without a ``git`` executable."""
    try:
        head = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return head, bool(status.strip())


def command_line(argv: Sequence[str] | None = None) -> str:
    """The process's command as a shell would take it (program by its name, not path)."""
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    return " ".join([Path(argv[0]).name, *(shlex.quote(a) for a in argv[1:])])


def source_tags(argv: Sequence[str] | None = None) -> dict[str, str]:
    """MLflow's source tags (shown on a run's page) plus the full command line."""
    command = command_line(argv)
    tags = {
        MLFLOW_SOURCE_TYPE: "LOCAL",
        MLFLOW_SOURCE_NAME: command.split(" ", 1)[0] if command else "geoarena",
        COMMAND_TAG: command,
        VERSION_TAG: geoarena.__version__,
    }
    git = git_commit(Path(geoarena.__file__).resolve().parent)
    if git is not None:
        tags[MLFLOW_GIT_COMMIT] = git[0]
        tags[MLFLOW_GIT_DIRTY] = str(git[1]).lower()
    return tags


__all__ = ["COMMAND_TAG", "VERSION_TAG", "command_line", "git_commit", "source_tags"]
