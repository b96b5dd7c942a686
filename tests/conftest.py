"""Test-wide settings: offline hubs, quiet MLflow, and the shapely/GEOS versions in the header."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Set before any test imports timm or mlflow (see README, "Testing").
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
# Never the developer's own saved leaderboard token (geoarena leaderboard login).
os.environ["GEOARENA_CREDENTIALS"] = str(
    Path(tempfile.gettempdir()) / f"geoarena-tests-{os.getpid()}" / "credentials.json"
)

REPO = Path(__file__).resolve().parents[1]
#: the team's shared reference data (metric spec samples), beside the repository.
SHARED_DATA = REPO.parent / "shared" / "data"
#: the same samples bundled inside the package (used when ../shared is absent).
PACKAGE_DATA = REPO / "geoarena" / "evaluator" / "samples"


def pytest_report_header(config: pytest.Config) -> list[str]:
    import shapely

    return [f"shapely {shapely.__version__}, GEOS {shapely.geos_version_string}"]


@pytest.fixture
def postgres_url() -> str:
    """URL of a real PostgreSQL database; skips when GEOARENA_TEST_POSTGRES_URL is unset."""
    url = os.environ.get("GEOARENA_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("GEOARENA_TEST_POSTGRES_URL is not set")
    return url
