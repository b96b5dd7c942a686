"""Predict with a study's best trial and hand the CSV to a geoarena leaderboard."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoarena.platform.config import SweepConfig
from geoarena.platform.results import best_trial, load_study
from geoarena.platform.study import RESULT_ATTR

#: the leaderboard's participant route (``geoarena.leaderboard.api.participant``).
SUBMIT_ROUTE = "/api/v1/challenges/{slug}/submissions"


class SubmitError(RuntimeError):
    """The leaderboard refused the submission (the message carries its explanation)."""


@dataclass(frozen=True)
class BestPrediction:
    trial: Any
    checkpoint: Path
    csv: Path
    post: dict[str, float]


def predict_best(
    sweep: SweepConfig, images_dir: str | Path, out_csv: str | Path, *, tta: bool = False
) -> BestPrediction:
    """Run the best trial's checkpoint on ``images_dir`` with its tuned thresholds."""
    from geoarena.models.predict import predict

    trial = best_trial(load_study(sweep))
    result = trial.user_attrs.get(RESULT_ATTR, {})
    checkpoint = Path(result.get("checkpoint", sweep.trial_dir(trial.number) / "best.pt"))
    if not checkpoint.is_file():
        raise FileNotFoundError(
            f"checkpoint of trial {trial.number} not found at {checkpoint} "
            "(run `submit` on the machine that holds the sweep's out_dir)"
        )
    post = dict(result.get("post", {}))
    csv = predict(checkpoint, images_dir, out_csv, tta=tta, **post)
    return BestPrediction(trial, checkpoint, Path(csv), post)


def post_submission(
    server: str,
    token: str,
    challenge: str,
    csv: str | Path,
    *,
    description: str = "",
    timeout: float = 120.0,
) -> dict[str, Any]:
    """POST ``csv`` to the leaderboard's submission route; return its JSON answer."""
    import httpx

    url = server.rstrip("/") + SUBMIT_ROUTE.format(slug=challenge)
    path = Path(csv)
    with open(path, "rb") as fh:
        response = httpx.post(
            url,
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (path.name, fh, "text/csv")},
            data={"description": description},
            timeout=timeout,
        )
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise SubmitError(f"{url} answered {response.status_code}: {detail}")
    return response.json()
