"""Shared fixtures: where the real raw data lives, skipped cleanly when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    """``../shared/data/raw``; tests using it skip when it is not beside the repo."""
    path = SHARED_DATA / "raw"
    if not path.is_dir():
        pytest.skip(f"raw data not found at {path} (it lives beside the repository)")
    return path


@pytest.fixture(scope="session")
def events_dir() -> Path:
    """``../shared/data/events``; skipped when absent."""
    path = SHARED_DATA / "events"
    if not path.is_dir():
        pytest.skip(f"event tables not found at {path} (they live beside the repository)")
    return path


#: Environment variable that shifts every sampling test's sampler seed (default 0: the
#: seeds written in the tests). ``scripts/seed_sweep.py`` runs the sampling tests with
#: several values to show that they assert properties of any correct run, not of one seed.
SEED_ENV = "HYBRIDFLOW_TEST_SEED"


@pytest.fixture(scope="session")
def seed_shift() -> int:
    """Added to the sampler seed of every sampling test (``HYBRIDFLOW_TEST_SEED``)."""
    import os

    return int(os.environ.get(SEED_ENV, "0"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test that takes the seed shift samples a model: mark it, so that
    # `pytest -m sampling` (scripts/seed_sweep.py) selects exactly these.
    for item in items:
        if "seed_shift" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.sampling)
