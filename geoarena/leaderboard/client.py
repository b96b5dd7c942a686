"""The HTTP client of a geoarena leaderboard server, for participants and scripts.

One place knows the routes, the bearer header, the timeouts and how an error answer reads:
the participant CLI and ``geoarena sweep submit`` both use it. Every failure is a
:class:`geoarena.errors.GeoarenaError` (the server's own error class when it names one,
:class:`Unreachable` when no answer came), never an HTTP library traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from geoarena import errors
from geoarena.errors import GeoarenaError, InvalidInput, Problem
from geoarena.leaderboard.access import Identity
from geoarena.leaderboard.boards import Board
from geoarena.leaderboard.errors import Unauthorized
from geoarena.leaderboard.quotas import Quota
from geoarena.leaderboard.submissions import SubmissionView

API = "/api/v1"
#: seconds to wait for the answer to an upload: the server validates the whole file before
#: it answers (a 200 MB CSV takes minutes on a small machine), and an upload it accepted
#: must never look failed to the participant.
UPLOAD_TIMEOUT = 1800.0
#: chunk size of a streamed upload (the progress callback sees each one).
CHUNK = 256 * 1024


class Unreachable(GeoarenaError):
    """No answer from the server (refused, timed out, DNS): nothing is known to have changed."""


class ServerError(GeoarenaError):
    """The server answered with an error it did not explain (a 5xx, or a non-JSON body)."""


#: error classes a server names in its error body (``"error": "NotFound"``).
_KNOWN: dict[str, type[GeoarenaError]] = {
    cls.__name__: cls
    for cls in (
        errors.NotFound,
        errors.Forbidden,
        errors.Conflict,
        errors.LimitExceeded,
        Unauthorized,
    )
}


class LeaderboardClient:
    """A session with one server, optionally authenticated by a bearer token.

    Example::

        with LeaderboardClient("http://host:8000", token) as client:
            submission = client.submit("vegas", Path("preds.csv"))
            print(client.wait(submission.uuid, timeout=120).status)
    """

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
        )

    def __enter__(self) -> LeaderboardClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- participant routes --------------------------------------------------------------
    def submit(
        self,
        slug: str,
        path: Path,
        *,
        description: str = "",
        phase: str | None = None,
        baseline_label: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> SubmissionView:
        """Stream ``path`` as a submission; returns the accepted submission (status queued).

        ``progress(n)`` is called with the size of every chunk sent.
        """
        path = Path(path)
        params = {"filename": path.name, "description": description}
        if phase:
            params["phase"] = phase
        if baseline_label:
            params["baseline_label"] = baseline_label

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    if progress is not None:
                        progress(len(chunk))
                    yield chunk

        body = self._request(
            "POST",
            f"{API}/challenges/{slug}/submissions",
            params=params,
            content=chunks(),
            headers={"Content-Type": "text/csv", "Content-Length": str(path.stat().st_size)},
            timeout=httpx.Timeout(UPLOAD_TIMEOUT, connect=10.0),
        )
        return SubmissionView.model_validate(body)

    def me(self) -> Identity:
        """Whose token this client holds (raises :class:`Unauthorized` for a bad one)."""
        return Identity.model_validate(self._request("GET", f"{API}/me"))

    def submission(self, uuid: str) -> SubmissionView:
        return SubmissionView.model_validate(self._request("GET", f"{API}/submissions/{uuid}"))

    def submissions(self, slug: str) -> list[SubmissionView]:
        """The caller's team's submissions, newest first."""
        page = self._request("GET", f"{API}/challenges/{slug}/submissions")
        return [SubmissionView.model_validate(s) for s in page["data"]]

    def quota(self, slug: str, phase: str | None = None) -> Quota:
        body = self._request("GET", f"{API}/challenges/{slug}/quota", params=_phase(phase))
        return Quota.model_validate(body)

    def select_finals(self, slug: str, uuids: list[str], phase: str | None = None) -> list[str]:
        body = self._request(
            "PUT",
            f"{API}/challenges/{slug}/finals",
            params=_phase(phase),
            json={"submissions": uuids},
        )
        return list(body["selected"])

    def leaderboard(self, slug: str, split: str = "public", phase: str | None = None) -> Board:
        params = {"split": split, **_phase(phase)}
        body = self._request("GET", f"{API}/challenges/{slug}/leaderboard", params=params)
        return Board.model_validate(body)

    def wait(self, uuid: str, *, timeout: float, poll: float = 0.5) -> SubmissionView:
        """The submission once scored or failed, or as it is after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        state = self.submission(uuid)
        while state.status.pending and time.monotonic() < deadline:
            time.sleep(poll)
            state = self.submission(uuid)
        return state

    # --- plumbing ------------------------------------------------------------------------
    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise Unreachable(f"{self.server}: no answer in time ({method} {url})") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"{self.server}: cannot connect ({exc})") from None
        if response.status_code < 400:
            return response.json() if response.content else None
        raise error_from_response(response)


def error_from_response(response: httpx.Response) -> GeoarenaError:
    """The error a server's error answer describes (its class, message and problems)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "detail" not in body:
        text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        return ServerError(f"server answered {response.status_code} {text}".rstrip())
    detail = str(body["detail"])
    problems = [Problem.from_dict(p) for p in body.get("problems") or []]
    if response.status_code == 422 or body.get("error") == "InvalidInput":
        return InvalidInput(problems, body.get("total"), message=detail)
    cls = _KNOWN.get(str(body.get("error")), ServerError)
    if response.status_code >= 500:
        cls = ServerError
    error = cls(detail)
    error.problems = tuple(problems)
    return error


def _phase(phase: str | None) -> dict[str, str]:
    return {"phase": phase} if phase else {}
