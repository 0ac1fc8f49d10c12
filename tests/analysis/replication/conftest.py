"""Replications shared by the topic tests: a synthetic panel, and the embedded snapshot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import xarray as xr

from hybridflow.analysis.replication import ReplicationResult, replicate
from tests.analysis.replication._panels import synthetic_panel


@pytest.fixture(scope="session")
def synthetic() -> tuple[xr.Dataset, ReplicationResult]:
    panel = synthetic_panel()
    return panel, replicate(panel)


@pytest.fixture(scope="session")
def real() -> ReplicationResult:
    from hybridflow.data.build import default_snapshot_dir
    from hybridflow.data.events import load_events
    from hybridflow.data.panel import load_panel

    # HYBRIDFLOW_TEST_SNAPSHOT: a snapshot folder built elsewhere (optional).
    snap = Path(os.environ.get("HYBRIDFLOW_TEST_SNAPSHOT", default_snapshot_dir()))
    if not (snap / "MANIFEST.json").is_file():
        pytest.skip(f"no snapshot at {snap} (run `hybridflow data build`)")
    return replicate(load_panel(snap), load_events())
