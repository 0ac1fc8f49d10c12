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
