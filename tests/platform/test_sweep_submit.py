"""``geoarena sweep submit`` against a real leaderboard server (uvicorn subprocess)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from geoarena.evaluator import PreparedTruth, read_truth
from geoarena.leaderboard import (
    LeaderboardClient,
    add_team,
    create_challenge,
    issue_token,
    open_database,
)
from geoarena.platform import launch, load_sweep
from geoarena.platform.cli import sweep as sweep_cli
from tests.leaderboard import procs

pytestmark = pytest.mark.slow


def private_tile(synth_data: Path) -> str:
    """The tile ``split_truth`` keeps private: the first row's."""
    return (synth_data / "truth.csv").read_text().splitlines()[1].split(",", 1)[0]


def split_truth(synth_data: Path) -> bytes:
    """The truth with a ``split`` column: one tile private, every other one public."""
    lines = (synth_data / "truth.csv").read_text().splitlines()
    private = private_tile(synth_data) + ","
    rows = [f"{x},{'private' if x.startswith(private) else 'public'}" for x in lines[1:]]
    return "\n".join([lines[0] + ",split", *rows]).encode() + b"\n"


@pytest.fixture
def leaderboard(tmp_path: Path, synth_data: Path) -> Iterator[tuple[str, str]]:
    """A challenge on the synthetic truth, one team token, and a server scoring inline."""
    url = f"sqlite:///{tmp_path / 'board.db'}"
    db = open_database(url, migrate=True)
    try:
        create_challenge(db, slug="synth", title="synthetic", truth=split_truth(synth_data))
        add_team(db, slug="synth", name="sweepers")
        token = issue_token(db, member="me", slug="synth", team="sweepers")
    finally:
        db.dispose()
    with procs.server(url, workers=1) as base:
        yield base, token


def test_submit_best_trial_to_leaderboard(make_sweep, synth_data: Path, leaderboard) -> None:
    base, token = leaderboard
    path = make_sweep("submit", budget={"n_trials": 1})
    sweep = load_sweep(path)
    launch(sweep, progress=False)
    runner = CliRunner()
    args = ["submit", str(path), "--images", str(synth_data / "images"), "--server", base]
    refused = runner.invoke(sweep_cli, [*args, "--token", "nope", "--challenge", "synth"])
    # the leaderboard client's refusal, as the CLI maps every refused action
    assert refused.exit_code == 1 and "token" in refused.output, refused.output
    assert "Traceback" not in refused.output

    result = runner.invoke(sweep_cli, [*args, "--token", token, "--challenge", "synth"])
    assert result.exit_code == 0, result.output
    csv = sweep.root / "best_predictions.csv"
    assert f"-> {csv}" in result.output

    truth = read_truth(synth_data / "truth.csv")
    public = [i for i in truth.image_ids if i != private_tile(synth_data)]
    expected = PreparedTruth(truth, rules="deepglobe", image_ids=public).score(csv)
    with LeaderboardClient(base, token) as client:
        deadline = time.monotonic() + 60
        while not (board := client.leaderboard("synth")).rows:  # scored by the server
            assert time.monotonic() < deadline, board
            time.sleep(0.3)
    (row,) = board.rows
    assert row.team == "sweepers"
    assert (row.score.tp, row.score.fp, row.score.fn) == (
        expected.micro.tp,
        expected.micro.fp,
        expected.micro.fn,
    )
    assert row.score.mean_city_f1 == pytest.approx(expected.mean_city_f1)
