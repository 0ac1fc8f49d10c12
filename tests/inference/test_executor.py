"""Tests for hybridflow.inference.executor.

Worker processes are expensive to start (each imports the package), so the process pool and
the dask LocalCluster are module-scoped fixtures shared by the tests that need them; the
crash test has its own pool because it breaks it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hybridflow.errors import HybridflowError
from hybridflow.inference.executor import (
    DaskExecutor,
    Executor,
    ExecutorConfigError,
    MissingDependencyError,
    ProcessExecutor,
    SchedulerConnectionError,
    SerialExecutor,
    Task,
    TaskFailedError,
    TaskResult,
    cached,
    clear_worker_cache,
    make_executor,
    raise_on_failure,
    spawn_seeds,
    worker_cache,
)
from tests.inference import _executor_tasks as tasks_mod

# Generous bound for anything that could hang if a dead worker were not noticed.
HANG_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def process_ex() -> Iterator[ProcessExecutor]:
    with ProcessExecutor(2) as ex:
        yield ex


@pytest.fixture(scope="module")
def dask_ex() -> Iterator[DaskExecutor]:
    pytest.importorskip("distributed")
    with DaskExecutor(local_workers=2) as ex:
        yield ex


def _draw_tasks(n: int = 8) -> list[Task]:
    seeds = spawn_seeds(20250101, n)
    return [Task(f"draw-{i:03d}", tasks_mod.draws, (5,), seed=s) for i, s in enumerate(seeds)]


def _map_with_timeout(ex: Executor, tasks: list[Task]) -> list[TaskResult]:
    """Run ``ex.map`` in a thread and fail (instead of hanging the suite) if it never returns."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["results"] = ex.map(tasks, progress=False)
        except BaseException as exc:  # surfaced below
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_TIMEOUT)
    assert not thread.is_alive(), f"map did not return within {HANG_TIMEOUT} s"
    if "error" in out:
        raise out["error"]
    return out["results"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------ tasks and seeds


def test_task_passes_seed_as_keyword() -> None:
    task = Task("t", tasks_mod.draws, (3,), seed=7)
    np.testing.assert_array_equal(task.call(), np.random.default_rng(7).normal(size=3))
    assert Task("e", tasks_mod.echo, ("x",)).call() == "x"


def test_task_validation() -> None:
    with pytest.raises(ValueError, match="seed as Task"):
        Task("t", tasks_mod.draws, (3,), {"seed": 1}, seed=2)
    with pytest.raises(ValueError, match="non-empty string"):
        Task("", tasks_mod.echo)
    with pytest.raises(ValueError, match="seed must be an integer"):
        Task("t", tasks_mod.draws, seed=1.5)  # type: ignore[arg-type]
    assert Task("t", tasks_mod.draws, seed=np.int64(3)).seed == 3  # type: ignore[arg-type]


def test_duplicate_keys_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate task key 'a'"):
        SerialExecutor().map([Task("a", tasks_mod.echo, (1,)), Task("a", tasks_mod.echo, (2,))])


def test_spawn_seeds_depend_only_on_root_and_position() -> None:
    assert spawn_seeds(1, 5) == spawn_seeds(1, 5)
    assert spawn_seeds(1, 5)[:3] == spawn_seeds(1, 3)
    assert len(set(spawn_seeds(1, 100))) == 100
    assert spawn_seeds(1, 3) != spawn_seeds(2, 3)


# ------------------------------------------------------------------ identical results


def test_identical_results_serial_process_dask(
    process_ex: ProcessExecutor, dask_ex: DaskExecutor
) -> None:
    tasks = _draw_tasks()
    serial = SerialExecutor().map(tasks, progress=False)
    process = process_ex.map(tasks, progress=False)
    dask = dask_ex.map(tasks, progress=False)
    # The same batch through an external-scheduler connection (tcp:// on loopback).
    with make_executor(scheduler=dask_ex.client.scheduler.address) as remote:
        assert isinstance(remote, DaskExecutor)
        remote_results = remote.map(tasks, progress=False)

    expected_keys = [t.key for t in tasks]
    for results in (serial, process, dask, remote_results):
        assert [r.key for r in results] == expected_keys
        assert all(r.ok and r.attempts == 1 and r.error is None for r in results)
    for i, task in enumerate(tasks):
        reference = np.random.default_rng(task.seed).normal(size=5)
        for results in (serial, process, dask, remote_results):
            np.testing.assert_array_equal(results[i].value, reference)
    # The work really ran elsewhere: worker processes, and dask worker addresses.
    assert all(r.worker.split(":")[-1] != str(os.getpid()) for r in process)
    assert all(r.worker.startswith("tcp://127.0.0.1:") for r in dask)


def test_order_preserved_when_completion_order_differs(process_ex: ProcessExecutor) -> None:
    # Early tasks sleep longest, so they finish last.
    tasks = [Task(f"e{i}", tasks_mod.echo, (i, 0.05 * (5 - i))) for i in range(6)]
    seen: list[tuple[int, int, str]] = []
    results = process_ex.map(tasks, progress=lambda d, n, r: seen.append((d, n, r.key)))
    assert [r.value for r in results] == list(range(6))
    assert [r.key for r in results] == [t.key for t in tasks]
    assert [(d, n) for d, n, _ in seen] == [(k, 6) for k in range(1, 7)]
    assert sorted(k for _, _, k in seen) == sorted(t.key for t in tasks)
    assert [k for _, _, k in seen] != [t.key for t in tasks]  # finished out of order


# ------------------------------------------------------------------ retries and failures


@pytest.mark.parametrize("which", ["serial", "process"])
def test_task_failing_once_succeeds_on_retry(
    which: str, process_ex: ProcessExecutor, tmp_path: Path
) -> None:
    ex: Executor = SerialExecutor() if which == "serial" else process_ex
    tasks = [
        Task("flaky", tasks_mod.fail_first_time, (str(tmp_path / "marker"),), seed=11),
        Task("fine", tasks_mod.echo, ("ok",)),
    ]
    flaky, fine = ex.map(tasks, progress=False)
    assert (flaky.ok, flaky.value, flaky.attempts, flaky.error) == (True, 11, 2, None)
    assert (fine.ok, fine.value, fine.attempts) == (True, "ok", 1)
    assert (tmp_path / "marker").read_text() == "attempted"


@pytest.mark.parametrize("which", ["serial", "process"])
def test_always_failing_task_reported_not_dropped(which: str, process_ex: ProcessExecutor) -> None:
    ex: Executor = SerialExecutor() if which == "serial" else process_ex
    tasks = [
        Task("good-1", tasks_mod.echo, (1,)),
        Task("placebo-017", tasks_mod.always_fail, seed=17),
        Task("good-2", tasks_mod.echo, (2,)),
    ]
    results = ex.map(tasks, progress=False)
    assert [r.key for r in results] == ["good-1", "placebo-017", "good-2"]
    bad = results[1]
    assert (bad.ok, bad.value, bad.attempts) == (False, None, 2)
    assert bad.error is not None
    assert bad.error.rstrip().endswith("ValueError: always fails (seed 17)")
    assert "Traceback" in bad.error
    assert [r.value for r in results if r.ok] == [1, 2]

    with pytest.raises(TaskFailedError) as info:
        raise_on_failure(results)
    message = str(info.value)
    assert isinstance(info.value, HybridflowError)
    assert message.startswith("1 of 3 tasks failed: placebo-017")
    assert "ValueError: always fails (seed 17)" in message
    assert "good-1" not in message
    assert [r.key for r in info.value.failures] == ["placebo-017"]


def test_raise_on_failure_passes_successes_through() -> None:
    results = SerialExecutor().map([Task("a", tasks_mod.echo, (1,))], progress=False)
    assert raise_on_failure(results) == results


def test_raise_on_failure_lists_every_failed_key() -> None:
    tasks = [Task(f"bad-{i}", tasks_mod.always_fail, seed=i) for i in range(3)]
    with pytest.raises(TaskFailedError, match=r"3 of 3 tasks failed: bad-0 .*bad-1 .*bad-2 "):
        raise_on_failure(SerialExecutor().map(tasks, progress=False))


def test_unpicklable_task_is_reported_not_dropped(process_ex: ProcessExecutor) -> None:
    tasks = [Task("lambda", lambda: 1), Task("fine", tasks_mod.echo, (3,))]
    bad, fine = process_ex.map(tasks, progress=False)
    assert (bad.ok, bad.attempts) == (False, 2)
    assert "pickle" in (bad.error or "").lower()
    assert (fine.ok, fine.value) == (True, 3)


def test_dead_worker_reported_without_hanging() -> None:
    tasks = [
        Task("before", tasks_mod.echo, ("a", 0.2)),
        Task("crash", tasks_mod.kill_worker),
        Task("after-1", tasks_mod.echo, ("b",)),
        Task("after-2", tasks_mod.echo, ("c",)),
    ]
    with ProcessExecutor(2) as ex:
        results = _map_with_timeout(ex, tasks)
        # The pool was restarted: the executor is still usable.
        again = ex.map([Task("later", tasks_mod.echo, ("d",))], progress=False)
    assert [r.key for r in results] == [t.key for t in tasks]
    crash = results[1]
    assert (crash.ok, crash.attempts, crash.value) == (False, 2, None)
    assert "worker process died while running task 'crash'" in (crash.error or "")
    # Innocent tasks sharing the pool are not charged for the crash.
    assert [(r.ok, r.value, r.attempts) for r in results if r.key != "crash"] == [
        (True, "a", 1),
        (True, "b", 1),
        (True, "c", 1),
    ]
    assert again[0].value == "d"


def test_dask_retry_and_failure(dask_ex: DaskExecutor, tmp_path: Path) -> None:
    tasks = [
        Task("flaky", tasks_mod.fail_first_time, (str(tmp_path / "marker"),), seed=5),
        Task("bad", tasks_mod.always_fail, seed=6),
        Task("fine", tasks_mod.echo, ("ok",)),
    ]
    flaky, bad, fine = _map_with_timeout(dask_ex, tasks)
    assert (flaky.ok, flaky.value, flaky.attempts) == (True, 5, 2)
    assert (bad.ok, bad.attempts) == (False, 2)
    assert (bad.error or "").rstrip().endswith("ValueError: always fails (seed 6)")
    assert (fine.ok, fine.value, fine.attempts) == (True, "ok", 1)


def test_dask_dead_worker_reported_without_hanging(dask_ex: DaskExecutor) -> None:
    # A separate batch from the retry test: dask silently recomputes results that were
    # held by a worker when it died, which would hide a flaky task's first attempt.
    tasks = [
        Task("crash", tasks_mod.kill_worker),
        Task("fine-1", tasks_mod.echo, ("a", 0.1)),
        Task("fine-2", tasks_mod.echo, ("b",)),
    ]
    crash, fine1, fine2 = _map_with_timeout(dask_ex, tasks)
    assert (crash.ok, crash.attempts, crash.value) == (False, 2, None)
    assert "dask worker died while running task 'crash'" in (crash.error or "")
    assert [(r.ok, r.value, r.attempts) for r in (fine1, fine2)] == [(True, "a", 1), (True, "b", 1)]
    # The nannies restarted the workers: the cluster still runs tasks.
    assert dask_ex.map([Task("later", tasks_mod.echo, ("c",))], progress=False)[0].value == "c"


def test_workers_limit_blas_and_numba_threads(
    process_ex: ProcessExecutor, dask_ex: DaskExecutor
) -> None:
    task = [Task("threads", tasks_mod.thread_limits)]
    for ex in (process_ex, dask_ex):
        (result,) = ex.map(task, progress=False)
        assert result.value == ("1", "1", 1), type(ex).__name__


# ------------------------------------------------------------------ per-worker cache


def test_worker_compiles_once_and_reuses(process_ex: ProcessExecutor) -> None:
    key = "model-structure-abc"
    tasks = [Task(f"fit-{i}", tasks_mod.use_compiled, (key,), seed=i) for i in range(4)]
    with ProcessExecutor(1) as one:
        results = one.map(tasks, progress=False)
    pids = {r.value[0] for r in results}
    assert len(pids) == 1 and pids != {os.getpid()}
    assert [r.value[1] for r in results] == [1, 1, 1, 1]  # factory ran once for 4 tasks
    assert [r.value[3] for r in results] == [0, 1, 2, 3]
    # With two workers: at most one compile per worker process.
    results2 = process_ex.map(tasks, progress=False)
    assert all(r.value[1] == 1 for r in results2)
    assert all(r.value[2] == f"compiled-{key}-{r.value[0]}" for r in results2)


def test_cached_runs_factory_once_per_key_in_process() -> None:
    calls: list[str] = []

    def factory(name: str) -> Callable[[], str]:
        def make() -> str:
            calls.append(name)
            return name.upper()

        return make

    try:
        assert cached(("k", 1), factory("a")) == "A"
        assert cached(("k", 1), factory("b")) == "A"
        assert cached(("k", 2), factory("c")) == "C"
        assert calls == ["a", "c"]
        assert worker_cache()[("k", 1)] == "A"
    finally:
        clear_worker_cache()
    assert ("k", 1) not in worker_cache()


def test_cached_does_not_store_a_failed_factory() -> None:
    def boom() -> str:
        raise RuntimeError("compile failed")

    with pytest.raises(RuntimeError, match="compile failed"):
        cached("failing-key", boom)
    assert "failing-key" not in worker_cache()
    assert cached("failing-key", lambda: "ok") == "ok"
    clear_worker_cache()


def test_cached_is_thread_safe() -> None:
    calls: list[int] = []
    barrier = threading.Barrier(4)

    def factory() -> int:
        calls.append(1)
        return 42

    def worker(out: list[int]) -> None:
        barrier.wait()
        out.append(cached("threaded", factory))

    out: list[int] = []
    threads = [threading.Thread(target=worker, args=(out,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    clear_worker_cache()
    assert out == [42, 42, 42, 42] and calls == [1]


# ------------------------------------------------------------------ progress


def test_progress_to_a_log_is_plain_lines_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    # capsys is not a terminal, as a redirected log is not: rich would print nothing until
    # the end, so the executor writes its own lines (the first result, then the last).
    tasks = [
        Task("a", tasks_mod.echo, (1,)),
        Task("b", tasks_mod.always_fail, seed=0),
        Task("c", tasks_mod.echo, (3,)),
    ]
    SerialExecutor().map(tasks, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert "1/3 done, 0 failed" in lines[0] and "left" in lines[0]
    assert "3/3 done, 1 failed" in lines[-1] and "left" not in lines[-1]


def test_closed_executor_refuses_work() -> None:
    ex = SerialExecutor()
    with ex:
        pass
    with pytest.raises(HybridflowError, match="SerialExecutor is closed"):
        ex.map([Task("a", tasks_mod.echo, (1,))])


def test_empty_batch() -> None:
    assert SerialExecutor().map([], progress=True) == []


# ------------------------------------------------------------------ construction


def test_make_executor_kinds() -> None:
    with make_executor() as ex:
        assert isinstance(ex, ProcessExecutor)
        assert ex.n_workers == (os.cpu_count() or 1)
    with make_executor("process", workers=3) as ex:
        assert isinstance(ex, ProcessExecutor) and ex.n_workers == 3
    with make_executor("serial") as ex:
        assert isinstance(ex, SerialExecutor)
    assert isinstance(SerialExecutor(), Executor)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "threads"}, "executor kind must be one of process, serial, dask; got 'threads'"),
        ({"workers": 0}, "--workers must be a positive integer, got 0"),
        ({"workers": True}, "--workers must be a positive integer"),
        ({"dask_local": -2}, "--dask-local must be a positive integer, got -2"),
        ({"scheduler": "localhost:8786"}, "like tcp://HOST:PORT, got 'localhost:8786'"),
        ({"scheduler": "tcp://host:99999"}, "like tcp://HOST:PORT"),
        ({"scheduler": "tcp://h:1", "dask_local": 2}, "either --scheduler or --dask-local"),
        ({"kind": "serial", "dask_local": 2}, "drop --scheduler/--dask-local"),
        ({"kind": "serial", "workers": 4}, "one worker; got --workers 4"),
        ({"scheduler": "tcp://h:1", "workers": 2}, "--workers cannot be combined with --scheduler"),
        ({"dask_local": 2, "workers": 3}, "--workers 3 disagrees with --dask-local 2"),
        ({"retries": -1}, "retries must be a non-negative integer"),
    ],
)
def test_make_executor_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ExecutorConfigError) as info:
        make_executor(**kwargs)
    assert message in str(info.value)
    assert isinstance(info.value, HybridflowError) and isinstance(info.value, ValueError)


def test_missing_distributed_gives_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'hybridflow\[dask\]'"):
        make_executor(dask_local=2)
    with pytest.raises(MissingDependencyError, match="needs the optional dependency 'distributed'"):
        DaskExecutor(scheduler="tcp://127.0.0.1:8786")


def test_unreachable_scheduler_is_a_clear_error() -> None:
    pytest.importorskip("distributed")
    with pytest.raises(SchedulerConnectionError, match="could not connect to the dask scheduler"):
        DaskExecutor(scheduler="tcp://127.0.0.1:9", connect_timeout=0.5)


def test_cached_keeps_at_most_max_cached_least_recently_used_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hybridflow.inference.executor as executor_mod

    monkeypatch.setattr(executor_mod, "MAX_CACHED", 2)
    calls: list[str] = []

    def make(name: str) -> Callable[[], str]:
        return lambda: calls.append(name) or name

    try:
        cached("a", make("a"))
        cached("b", make("b"))
        cached("a", make("a"))  # a is now the most recently used
        cached("c", make("c"))  # evicts b, the least recently used
        assert set(worker_cache()) == {"a", "c"}
        cached("b", make("b"))  # b has to be built again
        assert calls == ["a", "b", "c", "b"]
    finally:
        clear_worker_cache()


# ------------------------------------------------------------------ same seed, same numbers


def test_same_seed_same_draws_for_fits_and_refits_on_every_executor(
    process_ex: ProcessExecutor, dask_ex: DaskExecutor, tmp_path: Path, seed_shift: int
) -> None:
    """The study's fits and the checks' compile-once refits give the same posterior draws
    whether they run in this process, a worker process or a dask worker (to 1e-4 of each
    draw's sd), and bit-identical draws when repeated in one process. (The study fit hands its compiled model to the worker's cache, so
    the refits reuse it, as placebo and backtests do.)"""
    from hybridflow.inference.refit import data_values
    from hybridflow.inference.sampling import Sampling
    from hybridflow.models.build import build_model, prepare_data
    from hybridflow.models.spec import spec_to_json
    from tests.inference.test_refit import tiny_panel, tiny_spec

    spec, panel = tiny_spec(), tiny_panel(3)
    data = prepare_data(spec, panel, None)
    n_obs = len(data_values(build_model(spec, data))["y_obs"])
    y_new = np.random.default_rng(4).poisson(20, size=n_obs).astype(np.int64)
    study_sampling = {"draws": 60, "tune": 60, "chains": 2, "seed": 11 + seed_shift, "sampler": "nutpie",
                      "target_accept": 0.9}
    check_sampling = Sampling(draws=60, tune=60, chains=2, target_accept=0.9)
    seeds = spawn_seeds(7 + seed_shift, 2)

    def tasks(tag: str) -> list[Task]:
        return [
            Task("study-fit", tasks_mod.study_fit_draws,
                 (spec_to_json(spec), panel, study_sampling, str(tmp_path / tag))),
            *[Task(f"refit-{i}", tasks_mod.refit_draws, (data, y_new, check_sampling), seed=s)
              for i, s in enumerate(seeds)],
        ]

    runs = {
        "serial": SerialExecutor().map(tasks("serial"), progress=False),
        "serial-again": SerialExecutor().map(tasks("serial-again"), progress=False),
        "process": process_ex.map(tasks("process"), progress=False),
        "dask": dask_ex.map(tasks("dask"), progress=False),
    }
    for results in runs.values():
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    ref = runs["serial"]
    # Different seeds give different draws (the comparison below is not vacuous).
    assert not np.array_equal(ref[1].value["effect"], ref[2].value["effect"])
    for name, results in runs.items():
        for a, b in zip(ref, results, strict=True):
            got, want = b.value, a.value
            assert set(got) == set(want), (name, a.key)
            for var in want:
                if name == "serial-again":
                    # Same process, same seed: bit-identical.
                    assert np.array_equal(got[var], want[var], equal_nan=True), (name, a.key, var)
                else:
                    # Another process may differ in the last bits (CI once saw about 1e-8 in
                    # intercept_raw, a few parts in a million of the value; cause not found).
                    # Measured against the draws' spread, so a small-valued parameter is judged
                    # fairly; a different seed moves draws by about one sd, so this still fails.
                    tol = 1e-4 * float(np.nanstd(want[var])) + 1e-12
                    np.testing.assert_allclose(got[var], want[var], rtol=0, atol=tol,
                                               equal_nan=True, err_msg=f"{name} {a.key} {var}")
