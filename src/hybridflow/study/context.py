"""What every step of a study reads: the spec, the data, the results folder and its state.

A :class:`StudyContext` is made once per run by the runner and handed to each step. It
holds no step's results (those are in :mod:`hybridflow.study.results`); it owns the things
the steps share: the model specs (loaded once), the hash of the data, the executor for
many-fit checks (one pool of workers for the whole run, so compiled models are reused
across steps), the resumable-step record and the console.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr
from rich.console import Console

from hybridflow.data.panel import panel_hash
from hybridflow.errors import SpecError
from hybridflow.inference.executor import Executor, make_executor
from hybridflow.inference.sampling import Sampling
from hybridflow.io import atomic_open
from hybridflow.models.spec import ModelSpec, load_spec
from hybridflow.study.cache import StudyState, step_key
from hybridflow.study.spec import StudySpec


@dataclass(frozen=True)
class ExecutorOptions:
    """Where many-fit checks run: local processes (default) or a dask cluster."""

    workers: int | None = None
    scheduler: str | None = None
    dask_local: int | None = None


@dataclass
class StudyContext:
    """Everything a step needs that is not another step's result."""

    spec: StudySpec
    study_dir: Path
    out: Path
    profile: str
    panel: xr.Dataset
    events: pd.DataFrame
    state: StudyState
    console: Console
    executor_options: ExecutorOptions = field(default_factory=ExecutorOptions)
    timings: dict[str, float] = field(default_factory=dict)
    model_specs: dict[str, ModelSpec] = field(default_factory=dict)
    _data_key: str | None = field(default=None, init=False, repr=False)
    _executor: Executor | None = field(default=None, init=False, repr=False)

    @property
    def tables_dir(self) -> Path:
        return self.out / "tables"

    def data_key(self) -> str:
        """Hash of the data every step reads (panel values and the event catalogue)."""
        if self._data_key is None:
            ev = self.events.attrs.get("sha256") or pd.util.hash_pandas_object(
                self.events.astype(str), index=False).sum()
            self._data_key = step_key(panel_hash(self.panel), str(ev))
        return self._data_key

    def sampling(self) -> dict[str, Any]:
        """The main fits' sampling settings."""
        return self.spec.sampling.model_dump()

    def refit_sampling(self) -> dict[str, Any]:
        """The checks' refit settings and seed as their cache keys and notes record them."""
        c = self.spec.checks
        return {"draws": c.refit_draws, "tune": c.refit_tune, "chains": c.refit_chains,
                "sampler": self.spec.sampling.sampler, "seed": self.spec.sampling.seed}

    def check_sampling(self, *, target_accept: float = 0.9) -> Sampling:
        """The checks' refit settings as a Sampling. Target acceptance 0.9 is the checks' own
        default; the backtests pass 0.95, a headline fit's, as they always have."""
        c = self.spec.checks
        return Sampling(draws=c.refit_draws, tune=c.refit_tune, chains=c.refit_chains,
                        sampler=self.spec.sampling.sampler, target_accept=target_accept)

    def model_spec(self, name: str) -> ModelSpec:
        """The model spec ``name`` from the study's models folder."""
        if name not in self.model_specs:
            path = (self.study_dir / self.spec.models_dir / f"{name}.toml").resolve()
            if not path.is_file():
                raise SpecError(f"{path}: model spec '{name}' named by the study was not found")
            self.model_specs[name] = load_spec(path)
        return self.model_specs[name]

    def executor(self) -> Executor:
        """The run's executor, started on first use."""
        if self._executor is None:
            opts = self.executor_options
            if opts.scheduler or opts.dask_local:
                self._executor = make_executor("dask", scheduler=opts.scheduler,
                                               dask_local=opts.dask_local)
            else:
                self._executor = make_executor("process", workers=opts.workers or 2)
        return self._executor

    def close_executor(self) -> None:
        if self._executor is not None:
            self._executor.close()
            self._executor = None

    def write_table(self, name: str, frame: pd.DataFrame) -> Path:
        """Write ``tables/<name>.csv`` atomically."""
        path = self.tables_dir / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as fh:
            frame.to_csv(fh, index=False, lineterminator="\n")
        return path

    def read_table(self, name: str) -> pd.DataFrame:
        # Only empty cells are missing: a model named "null" must stay a name.
        return pd.read_csv(self.tables_dir / f"{name}.csv", keep_default_na=False,
                           na_values=[""])

    def write_json(self, name: str, obj: Any) -> Path:
        path = self.tables_dir / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as fh:
            json.dump(obj, fh, indent=2, default=str)
        return path

    def cached_tables(self, name: str, key: str, names: list[str],
                      compute: Callable[[], dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
        """Run ``compute`` unless step ``name`` is done with ``key``; tables by name."""
        files = [f"tables/{n}.csv" for n in names]
        if self.state.is_done(name, key):
            return {n: self.read_table(n) for n in names}
        tables = compute()
        for n in names:
            self.write_table(n, tables[n])
        self.state.mark(name, key, files)
        return tables
