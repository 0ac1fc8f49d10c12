"""One executor layer for many-fit work: placebo runs, calibration, sensitivity grids, CV folds.

Every batch of independent fits is a list of :class:`Task` objects handed to an
:class:`Executor`; what comes back is one :class:`TaskResult` per task, in task order. Three
executors share the same contract:

- :class:`SerialExecutor`: in-process, one task after another (debugging, tests).
- :class:`ProcessExecutor`: a local process pool (the default).
- :class:`DaskExecutor`: a ``dask.distributed`` cluster, either one started here on loopback
  (``--dask-local N``) or an existing scheduler (``--scheduler tcp://HOST:PORT``).

:func:`make_executor` is the single entry point the CLI and the study runner call.

Reproducibility
    A task's seed is part of the task and is passed to its function as ``seed=``; it never
    depends on which worker runs the task or in which order. The same tasks therefore give
    identical results, seed for seed, whichever executor runs them (and whichever retry).

Failures
    A task whose function raises is run once more with the same seed (``retries=1``). If it
    fails again its result has ``ok=False`` and ``error`` holds the traceback; :meth:`map`
    still returns it, never drops it. :func:`raise_on_failure` turns failed results into one
    :class:`TaskFailedError` naming every failed key. A worker process that dies (segfault,
    ``os._exit``, out-of-memory kill) is a failed attempt of the task it was running, not a
    hang: the process pool is restarted and the task retried (see :class:`ProcessExecutor`).
    Tasks should be free of side effects beyond their return value (or write files through
    :mod:`hybridflow.io`'s atomic helpers): a dask scheduler silently re-runs a task whose
    finished result was lost with a dead worker.

Compile once per worker
    Workers are long-lived processes that run many tasks. A task function keeps expensive
    objects (a compiled model, keyed by a hash of its structure) in :func:`worker_cache`, a
    process-global dict, so each worker compiles once and reuses the result for every later
    task of the same structure::

        def placebo_fit(spec_path, shift, *, seed):
            spec = load_spec(spec_path)
            compiled = cached(("placebo", structure_hash(spec)), lambda: compile_model(spec))
            return compiled.refit(shifted_data(shift), seed=seed).summary()

    or, by hand (single-threaded workers only)::

        cache = worker_cache()
        if key not in cache:
            cache[key] = compile_model(spec)
        compiled = cache[key]

Threads
    N single-task workers on N cores oversubscribe the machine if each task also starts a
    BLAS/OpenMP/numba thread pool of N threads. Process-pool workers (and the workers of a
    cluster started with ``--dask-local``) therefore limit those pools to
    ``threads_per_worker`` threads (default 1): the ``OMP_NUM_THREADS``-style variables are
    set in the worker before any task runs (they govern libraries loaded later) and
    already-loaded pools are limited through ``threadpoolctl`` and ``numba.set_num_threads``.
    Workers of an external ``--scheduler`` cluster are left as their operator set them up.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol, Self, runtime_checkable

from hybridflow.errors import HybridflowError

__all__ = [
    "DaskExecutor",
    "Executor",
    "ExecutorConfigError",
    "ExecutorError",
    "MissingDependencyError",
    "ProcessExecutor",
    "ProgressArg",
    "SchedulerConnectionError",
    "SerialExecutor",
    "Task",
    "TaskFailedError",
    "TaskResult",
    "cached",
    "clear_worker_cache",
    "make_executor",
    "raise_on_failure",
    "spawn_seeds",
    "worker_cache",
]


#: ``True`` for a rich progress bar on stderr, ``False`` for none, or a callable that receives
#: ``(done, total, result)`` each time a task reaches its final result.
ProgressArg = bool | Callable[[int, int, "TaskResult"], object]

# Thread-pool size variables read by OpenMP, the BLAS flavours, numexpr and numba at load time.
_THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)

_SCHEDULER_RE = re.compile(r"^(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")


# --------------------------------------------------------------------------------------
# Errors


class ExecutorError(HybridflowError):
    """Base class for the executor layer's errors."""


class ExecutorConfigError(ExecutorError, ValueError):
    """Invalid executor arguments (``--workers``, ``--scheduler``, ``--dask-local``)."""


class MissingDependencyError(ExecutorError, ImportError):
    """An optional dependency (``distributed``) is needed but not installed."""


class SchedulerConnectionError(ExecutorError, OSError):
    """The dask scheduler named by ``--scheduler`` could not be reached."""


class TaskFailedError(ExecutorError, RuntimeError):
    """Some tasks failed after their retries; raised by :func:`raise_on_failure`.

    Attributes
    ----------
    failures
        The failed :class:`TaskResult` objects, in task order; ``error`` holds each traceback.
    """

    def __init__(self, failures: Sequence[TaskResult], total: int) -> None:
        self.failures = list(failures)
        self.total = total
        parts = [f"{r.key} ({_last_line(r.error)}; {r.attempts} attempts)" for r in self.failures]
        super().__init__(f"{len(self.failures)} of {total} tasks failed: " + "; ".join(parts))


def _last_line(text: str | None) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown error"


# --------------------------------------------------------------------------------------
# Tasks and results


@dataclass(frozen=True)
class Task:
    """One unit of many-fit work.

    Parameters
    ----------
    key
        Unique id within a batch, e.g. ``"placebo-017"``; results carry it back.
    fn
        The function to run. For :class:`ProcessExecutor` it must be picklable by reference,
        i.e. defined at module level in a module the workers can import (no lambdas or
        closures); :class:`DaskExecutor` additionally needs that module installed on every
        worker of an external cluster.
    args, kwargs
        Positional and keyword arguments for ``fn``; they are pickled to the worker.
    seed
        The task's random seed. When not ``None`` the function is called as
        ``fn(*args, seed=seed, **kwargs)``. A retry uses the same seed. Derive seeds from a
        root seed and the task's identity (e.g. :func:`spawn_seeds`), never from worker
        identity or completion order.
    """

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"Task key must be a non-empty string, got {self.key!r}")
        if not callable(self.fn):
            raise ValueError(f"Task {self.key!r}: fn must be callable, got {self.fn!r}")
        object.__setattr__(self, "args", tuple(self.args))
        object.__setattr__(self, "kwargs", dict(self.kwargs))
        if self.seed is not None:
            if isinstance(self.seed, bool) or not hasattr(self.seed, "__index__"):
                raise ValueError(f"Task {self.key!r}: seed must be an integer, got {self.seed!r}")
            object.__setattr__(self, "seed", int(self.seed))
            if "seed" in self.kwargs:
                raise ValueError(
                    f"Task {self.key!r}: give the seed as Task(seed=...), not in kwargs"
                )

    def call(self) -> Any:
        """Run the task's function here, with its seed; no retries, no error capture."""
        if self.seed is None:
            return self.fn(*self.args, **self.kwargs)
        return self.fn(*self.args, seed=self.seed, **self.kwargs)


@dataclass(frozen=True)
class TaskResult:
    """The final outcome of one :class:`Task`.

    Attributes
    ----------
    key
        The task's key.
    ok
        ``True`` if an attempt returned normally.
    value
        What the task's function returned (``None`` when ``ok`` is false).
    error
        ``None`` when ``ok``; otherwise the last attempt's formatted traceback (its last line
        is ``ExceptionType: message``) or a note that the worker process died.
    attempts
        Attempts charged to the task: 1, or 2 after one retry. A run cut short because a
        *different* task killed a worker is not charged (see :class:`ProcessExecutor`), nor
        are re-runs an external dask scheduler makes on its own (``allowed-failures``).
    seconds
        Wall time of the final attempt: measured inside the worker around the function call,
        or, when the worker died, from submission to the crash as seen by the caller.
    worker
        Where the final attempt ran: ``"host:pid"`` for local processes, the worker's
        address for dask, ``""`` when unknown (the worker died).
    """

    key: str
    ok: bool
    value: Any = None
    error: str | None = None
    attempts: int = 1
    seconds: float = 0.0
    worker: str = ""


@dataclass(frozen=True)
class _Attempt:
    """What one run of a task sends back from the worker (errors are data, not raised)."""

    ok: bool
    value: Any
    error: str | None
    seconds: float
    worker: str


def raise_on_failure(results: Sequence[TaskResult]) -> list[TaskResult]:
    """Raise :class:`TaskFailedError` naming every failed task; else return ``results``.

    Parameters
    ----------
    results
        What :meth:`Executor.map` returned.

    Returns
    -------
    list of TaskResult
        ``results`` unchanged, when all succeeded.

    Raises
    ------
    TaskFailedError
        If any result has ``ok=False``; its message lists each failed key with the last line
        of its error, and ``.failures`` holds the full results.
    """
    results = list(results)
    failures = [r for r in results if not r.ok]
    if failures:
        raise TaskFailedError(failures, total=len(results))
    return results


def spawn_seeds(seed: int, n: int) -> list[int]:
    """Derive ``n`` independent task seeds from one root seed (numpy ``SeedSequence``).

    The i-th seed depends only on ``seed`` and ``i``, so give task i the i-th seed of a
    fixed, ordered list of task definitions.
    """
    import numpy as np

    children = np.random.SeedSequence(seed).spawn(n)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


# --------------------------------------------------------------------------------------
# Per-worker cache (compile once per worker process)

_WORKER_CACHE: dict[Hashable, Any] = {}
#: Most objects a process keeps in its cache (least recently used are dropped first).
MAX_CACHED = 12
_CACHE_LOCK = threading.Lock()
_KEY_LOCKS: dict[Hashable, threading.Lock] = {}


def worker_cache() -> dict[Hashable, Any]:
    """The process-global cache a task function uses to keep objects across tasks.

    Each worker process has its own dict, alive as long as the process; tasks run by the
    same worker see what earlier tasks stored. Key compiled models by a hash of their
    structure so that a worker compiles once and refits for all its tasks. Prefer
    :func:`cached`, which is also safe when a dask worker runs tasks in several threads.
    With :class:`SerialExecutor` this is the calling process's cache.
    """
    return _WORKER_CACHE


def cached[T](key: Hashable, factory: Callable[[], T]) -> T:
    """Return ``worker_cache()[key]``, calling ``factory()`` to fill it the first time.

    ``factory`` runs at most once per key per process, even when several threads ask for
    the same key at once (the others wait for it); a factory that raises stores nothing.

    Examples
    --------
    >>> compiled = cached(("placebo", spec_hash), lambda: compile_model(spec))  # doctest: +SKIP
    """
    with _CACHE_LOCK:
        if key in _WORKER_CACHE:
            # Most recently used last: eviction drops the oldest.
            _WORKER_CACHE[key] = _WORKER_CACHE.pop(key)
            return _WORKER_CACHE[key]  # type: ignore[no-any-return]
        lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with lock:
        if key not in _WORKER_CACHE:
            value = factory()
            with _CACHE_LOCK:
                _WORKER_CACHE[key] = value
                # A long study compiles dozens of models; keep memory bounded.
                while len(_WORKER_CACHE) > MAX_CACHED:
                    oldest = next(iter(_WORKER_CACHE))
                    _WORKER_CACHE.pop(oldest)
                    _KEY_LOCKS.pop(oldest, None)
            return value
        return _WORKER_CACHE[key]  # type: ignore[no-any-return]


def clear_worker_cache() -> None:
    """Empty this process's :func:`worker_cache` (frees compiled models)."""
    with _CACHE_LOCK:
        _WORKER_CACHE.clear()
        _KEY_LOCKS.clear()


# --------------------------------------------------------------------------------------
# What runs inside a worker

_THREADS_LIMITED: int | None = None


def _limit_threads(n: int) -> None:
    """Cap BLAS/OpenMP/numba thread pools in this process at ``n`` threads (idempotent)."""
    global _THREADS_LIMITED
    if n == _THREADS_LIMITED:
        return
    numba_loaded = "numba" in sys.modules
    # Variables govern libraries loaded from now on (numpy/scipy/numba imported by tasks).
    for var in _THREAD_ENV_VARS:
        # numba refuses a changed NUMBA_NUM_THREADS once its threads exist; use its API.
        if not (numba_loaded and var == "NUMBA_NUM_THREADS"):
            os.environ[var] = str(n)
    # Pools already loaded (e.g. numpy imported by the parent's __main__ on spawn).
    with contextlib.suppress(Exception):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n)
    if numba_loaded:
        with contextlib.suppress(Exception):
            import numba

            numba.set_num_threads(min(n, int(getattr(numba.config, "NUMBA_NUM_THREADS", n))))
    _THREADS_LIMITED = n


def _worker_init(threads_per_worker: int | None) -> None:
    """Process-pool initialiser: limit threads before any task is unpickled."""
    import warnings

    # Sampling goes through numba (nutpie); PyTensor's C-backend BLAS notice is noise here.
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    if threads_per_worker is not None:
        _limit_threads(threads_per_worker)


def _worker_name() -> str:
    if "distributed" in sys.modules:
        with contextlib.suppress(Exception):
            from distributed import get_worker

            return str(get_worker().address)
    return f"{socket.gethostname()}:{os.getpid()}"


def _run_task(task: Task, threads_per_worker: int | None = None) -> _Attempt:
    """Run one attempt of ``task``; exceptions come back as data with their traceback."""
    if threads_per_worker is not None:
        _limit_threads(threads_per_worker)
    start = time.perf_counter()
    try:
        value = task.call()
    except KeyboardInterrupt:
        raise
    except BaseException:  # SystemExit from a task is a task failure too
        return _Attempt(
            ok=False,
            value=None,
            error=traceback.format_exc(),
            seconds=time.perf_counter() - start,
            worker=_worker_name(),
        )
    return _Attempt(
        ok=True, value=value, error=None, seconds=time.perf_counter() - start, worker=_worker_name()
    )


# --------------------------------------------------------------------------------------
# Bookkeeping shared by the executors: attempts, retries, final results, progress


#: Seconds between plain progress lines when stderr is not a terminal (a log file).
PLAIN_PROGRESS_EVERY_S = 30.0


class _Progress:
    """Dispatch final results to a rich bar (a terminal), plain lines (a log file: at the
    first result, then at most every :data:`PLAIN_PROGRESS_EVERY_S`, and the last), a
    callback, or nowhere."""

    def __init__(self, progress: ProgressArg, total: int, label: str) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.label = label
        self._callback: Callable[[int, int, TaskResult], object] | None = None
        self._bar: Any = None
        self._bar_task: Any = None
        self._plain: Any = None
        self._start = time.perf_counter()
        self._last_line = -float("inf")
        if callable(progress):
            self._callback = progress
        elif progress and total:
            from rich.console import Console

            console = Console(stderr=True)
            if not console.is_terminal:
                # A redirected log gets no live bar from rich (it renders only at the
                # end), so a long run there would look hung: write timestamped lines.
                self._plain = sys.stderr
                return
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            self._bar_task = self._bar.add_task(label, total=total, failed=0)
            self._bar.start()

    def update(self, result: TaskResult) -> None:
        self.done += 1
        self.failed += not result.ok
        if self._bar is not None:
            self._bar.update(self._bar_task, advance=1, failed=self.failed)
        if self._plain is not None:
            self._plain_line()
        if self._callback is not None:
            self._callback(self.done, self.total, result)

    def _plain_line(self) -> None:
        now = time.perf_counter()
        last = self.done == self.total
        if not (last or self.done == 1 or now - self._last_line >= PLAIN_PROGRESS_EVERY_S):
            return
        self._last_line = now
        elapsed = now - self._start
        eta = "" if last else f", about {_clock(elapsed / self.done * (self.total - self.done))} left"
        print(f"{time.strftime('%H:%M:%S')} {self.label}: {self.done}/{self.total} done, "
              f"{self.failed} failed, {_clock(elapsed)} elapsed{eta}",
              file=self._plain, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _clock(seconds: float) -> str:
    """``1h02m03s``, ``2m03s`` or ``3s``."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


class _Ledger:
    """Attempts charged per task, final results in task order, and the retry decision."""

    def __init__(self, tasks: Sequence[Task], retries: int, progress: _Progress) -> None:
        self.tasks = tasks
        self.max_attempts = retries + 1
        self.attempts = [0] * len(tasks)
        self.results: list[TaskResult | None] = [None] * len(tasks)
        self.progress = progress

    def record(self, i: int, attempt: _Attempt) -> bool:
        """Charge one attempt to task ``i``; return True if it should run again."""
        self.attempts[i] += 1
        if not attempt.ok and self.attempts[i] < self.max_attempts:
            return True
        result = TaskResult(
            key=self.tasks[i].key,
            ok=attempt.ok,
            value=attempt.value,
            error=attempt.error,
            attempts=self.attempts[i],
            seconds=attempt.seconds,
            worker=attempt.worker,
        )
        self.results[i] = result
        self.progress.update(result)
        return False

    def final(self) -> list[TaskResult]:
        missing = [t.key for t, r in zip(self.tasks, self.results, strict=True) if r is None]
        if missing:  # a bug in an executor, never a user error; refuse to drop tasks silently
            raise RuntimeError(f"executor lost tasks without a result: {missing}")
        return [r for r in self.results if r is not None]


def _failed_attempt(message: str, seconds: float = 0.0, worker: str = "") -> _Attempt:
    return _Attempt(ok=False, value=None, error=message, seconds=seconds, worker=worker)


def _exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def _check_tasks(tasks: Sequence[Task]) -> list[Task]:
    tasks = list(tasks)
    seen: set[str] = set()
    for t in tasks:
        if not isinstance(t, Task):
            raise TypeError(f"map expects Task objects, got {type(t).__name__}")
        if t.key in seen:
            raise ValueError(f"duplicate task key {t.key!r}: keys must be unique within a batch")
        seen.add(t.key)
    return tasks


# --------------------------------------------------------------------------------------
# Executors


@runtime_checkable
class Executor(Protocol):
    """What every executor offers; use as a context manager so workers are released."""

    def map(self, tasks: Sequence[Task], *, progress: ProgressArg = True) -> list[TaskResult]:
        """Run ``tasks``; return one :class:`TaskResult` per task, in task order."""
        ...

    def close(self) -> None:
        """Release workers (idempotent)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _ExecutorBase:
    """Context-manager plumbing and the ``map`` skeleton shared by the executors."""

    label = "tasks"

    def __init__(self, retries: int = 1) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ExecutorConfigError(f"retries must be a non-negative integer, got {retries!r}")
        self.retries = retries
        self._closed = False

    def map(self, tasks: Sequence[Task], *, progress: ProgressArg = True) -> list[TaskResult]:
        """Run ``tasks``; return one :class:`TaskResult` per task, in task order.

        Parameters
        ----------
        tasks
            Tasks with unique keys.
        progress
            ``True``: a rich progress bar on stderr (tasks done/total, failures);
            ``False``: silent; a callable: called as ``progress(done, total, result)`` in
            the calling process each time a task reaches its final result.

        Returns
        -------
        list of TaskResult
            In the order of ``tasks``; failed tasks are included with ``ok=False``.
        """
        if self._closed:
            raise ExecutorError(f"{type(self).__name__} is closed")
        checked = _check_tasks(tasks)
        if not checked:
            return []
        bar = _Progress(progress, len(checked), self.label)
        try:
            ledger = _Ledger(checked, self.retries, bar)
            self._run(ledger)
            return ledger.final()
        finally:
            bar.close()

    def _run(self, ledger: _Ledger) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (idempotent)."""
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SerialExecutor(_ExecutorBase):
    """Run tasks one after another in this process (debugging, tests, tiny batches).

    Same retry and result contract as the others, but a task that kills its process kills
    the caller too, and :func:`worker_cache` is the caller's own.
    """

    label = "tasks (serial)"

    def __init__(self, *, retries: int = 1) -> None:
        super().__init__(retries)

    def _run(self, ledger: _Ledger) -> None:
        for i, task in enumerate(ledger.tasks):
            while ledger.record(i, _run_task(task)):
                pass

    def __repr__(self) -> str:
        return "SerialExecutor()"


class ProcessExecutor(_ExecutorBase):
    """A local pool of worker processes (``concurrent.futures.ProcessPoolExecutor``).

    Workers are started with ``spawn`` (or ``forkserver``), never ``fork``: forking a
    process that has compiled numba/pytensor code and runs threads (BLAS pools, a progress
    bar, dask's event loop) copies locks held by other threads into the child, which can
    deadlock. A spawned worker costs about 0.3 s to start plus the imports its tasks need
    (about 3 s for pymc), once; it then runs many tasks and keeps its :func:`worker_cache`.
    The parent's ``sys.path`` is passed on, so task functions must live in modules
    importable from it.

    At most ``n_workers`` tasks are in flight, one per worker, so that a worker that dies
    can be pinned to its task: when the pool breaks, it is restarted and the tasks that were
    in flight are re-run one at a time ("isolation"). A task that kills the pool while
    running alone is charged an attempt, retried once, then reported failed; the others are
    not charged for the crash.

    Parameters
    ----------
    n_workers
        Worker processes; default ``os.cpu_count()``.
    threads_per_worker
        Cap on BLAS/OpenMP/numba threads inside each worker (``None``: leave as inherited).
    retries
        Extra attempts for a failing task (default 1: retried once with the same seed).
    start_method
        ``"spawn"`` (default) or ``"forkserver"``.
    """

    label = "tasks (processes)"

    def __init__(
        self,
        n_workers: int | None = None,
        *,
        threads_per_worker: int | None = 1,
        retries: int = 1,
        start_method: Literal["spawn", "forkserver"] = "spawn",
    ) -> None:
        super().__init__(retries)
        self.n_workers = _positive_int(n_workers, "--workers") or (os.cpu_count() or 1)
        self.threads_per_worker = _positive_int(threads_per_worker, "threads_per_worker")
        if start_method not in ("spawn", "forkserver"):
            raise ExecutorConfigError(
                f"start_method must be 'spawn' or 'forkserver' (fork is unsafe after "
                f"compilation and threads), got {start_method!r}"
            )
        self.start_method = start_method
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            self._pool = ProcessPoolExecutor(
                max_workers=self.n_workers,
                mp_context=multiprocessing.get_context(self.start_method),
                initializer=_worker_init,
                initargs=(self.threads_per_worker,),
            )
        return self._pool

    def _restart_pool(self, *, kill: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            # Abort (Ctrl-C, a bug): do not wait for long fits to finish on their own.
            terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
            if terminate is not None:
                terminate()
            else:
                for proc in list((getattr(pool, "_processes", None) or {}).values()):
                    with contextlib.suppress(Exception):
                        proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, ledger: _Ledger) -> None:
        queue: deque[int] = deque(range(len(ledger.tasks)))
        suspects: deque[int] = deque()  # in flight when the pool broke: re-run alone
        inflight: dict[Future[_Attempt], tuple[int, bool, float]] = {}

        def submit(i: int, isolated: bool) -> bool:
            try:
                fut = self._get_pool().submit(_run_task, ledger.tasks[i], self.threads_per_worker)
            except BrokenProcessPool:
                (suspects if isolated else queue).appendleft(i)
                return False
            inflight[fut] = (i, isolated, time.perf_counter())
            return True

        def settle(fut: Future[_Attempt]) -> bool:
            """Record one finished future; return True if it shows the pool broke."""
            i, isolated, t0 = inflight.pop(fut)
            try:
                attempt = fut.result()
            except BrokenProcessPool as exc:
                if not isolated:
                    suspects.append(i)  # maybe innocent: not charged, re-run alone
                    return True
                crash = _failed_attempt(
                    f"the worker process died while running task {ledger.tasks[i].key!r} "
                    f"(segfault, os._exit or killed for memory?): {exc}",
                    seconds=time.perf_counter() - t0,
                )
                if ledger.record(i, crash):
                    suspects.appendleft(i)
                return True
            except BaseException as exc:  # e.g. arguments or result that cannot be pickled
                attempt = _failed_attempt(_exception_text(exc), time.perf_counter() - t0)
            if ledger.record(i, attempt):
                (suspects if isolated else queue).appendleft(i)
            return False

        try:
            while queue or suspects or inflight:
                if suspects:
                    if not inflight:
                        submit(suspects.popleft(), isolated=True)
                else:
                    while queue and len(inflight) < self.n_workers:
                        if not submit(queue.popleft(), isolated=False):
                            break
                if not inflight:  # submit found the pool broken: restart and go on
                    self._restart_pool()
                    continue
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                broken = False
                for fut in done:
                    broken |= settle(fut)
                if broken:
                    # Every other future of a broken pool completes (with results or the
                    # same error) right away; settle them all before restarting the pool.
                    rest, _ = wait(list(inflight))
                    for fut in rest:
                        settle(fut)
                    self._restart_pool()
        except BaseException:
            # Ctrl-C or a bug: do not leave workers running orphaned tasks.
            for fut in inflight:
                fut.cancel()
            self._restart_pool(kill=True)
            raise

    def close(self) -> None:
        """Shut the pool down (waits for running tasks; idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        super().close()

    def __repr__(self) -> str:
        return f"ProcessExecutor(n_workers={self.n_workers})"


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise MissingDependencyError(
            "the dask executor (--scheduler / --dask-local) needs the optional dependency "
            "'distributed': pip install 'hybridflow[dask]'"
        ) from exc
    return distributed


class DaskExecutor(_ExecutorBase):
    """Run tasks on a ``dask.distributed`` cluster.

    Either connects to an existing scheduler (``scheduler="tcp://HOST:PORT"``; its workers
    need hybridflow and the task functions' modules installed) or starts a
    ``LocalCluster`` of ``local_workers`` single-threaded worker processes on 127.0.0.1
    without a dashboard. ``distributed`` is optional: ``pip install 'hybridflow[dask]'``.

    Task exceptions are retried by this layer, like the other executors. When a worker
    dies, the scheduler marks every task it held as ``KilledWorker`` (after its own
    ``distributed.scheduler.allowed-failures`` re-runs; the local cluster started here sets
    that to 0). Those tasks are not charged: once the rest of the batch is done they are
    re-run one at a time, and a task that kills its worker while running alone is charged an
    attempt, retried once, then reported failed, as with :class:`ProcessExecutor`.

    Parameters
    ----------
    scheduler
        Address of a running scheduler, ``tcp://HOST:PORT`` (or ``tls://``).
    local_workers
        Start a local cluster of this many workers instead (default when neither is given:
        ``os.cpu_count()``).
    threads_per_worker
        Thread cap for BLAS/OpenMP/numba inside local workers (ignored for ``scheduler``).
    retries
        Extra attempts for a task that raises (default 1).
    connect_timeout
        Seconds to wait for an external scheduler.
    """

    label = "tasks (dask)"

    def __init__(
        self,
        scheduler: str | None = None,
        local_workers: int | None = None,
        *,
        threads_per_worker: int | None = 1,
        retries: int = 1,
        connect_timeout: float = 10.0,
    ) -> None:
        super().__init__(retries)
        if scheduler is not None and local_workers is not None:
            raise ExecutorConfigError("give either --scheduler or --dask-local, not both")
        if scheduler is not None:
            _check_scheduler(scheduler)
        local_workers = _positive_int(local_workers, "--dask-local")
        threads_per_worker = _positive_int(threads_per_worker, "threads_per_worker")
        distributed = _import_distributed()
        self.scheduler = scheduler
        self._cluster: Any = None
        if scheduler is not None:
            # Workers of an external cluster keep their operator's thread settings.
            self.threads_per_worker: int | None = None
            try:
                self._client = distributed.Client(scheduler, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise SchedulerConnectionError(
                    f"could not connect to the dask scheduler at {scheduler} within "
                    f"{connect_timeout:g} s: {exc}"
                ) from exc
        else:
            self.threads_per_worker = threads_per_worker
            n = local_workers or (os.cpu_count() or 1)
            env = (
                {}
                if threads_per_worker is None
                else dict.fromkeys(_THREAD_ENV_VARS, str(threads_per_worker))
            )
            # allowed_failures=0: a worker death comes straight back to _run, which finds
            # the culprit by isolation instead of letting the scheduler re-run everything
            # that shared the dead worker.
            self._cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                # The scheduler's HTTP routes (health, metrics) would otherwise claim port
                # 8787 and warn when it is taken: a free loopback port, no dashboard.
                scheduler_kwargs={
                    "allowed_failures": 0,
                    "dashboard": False,
                    "dashboard_address": "127.0.0.1:0",
                },
                env=env,
            )
            try:
                self._client = distributed.Client(self._cluster)
            except BaseException:
                self._cluster.close()
                raise
        self._distributed = distributed

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` in use."""
        return self._client

    def _run(self, ledger: _Ledger) -> None:
        distributed = self._distributed
        client = self._client
        # One random suffix per batch: dask keys must be unique across the client's life.
        batch = uuid.uuid4().hex[:8]
        submitted: dict[Any, tuple[int, float]] = {}
        attempt_no = [0] * len(ledger.tasks)
        suspects: deque[int] = deque()

        def submit(i: int) -> Any:
            attempt_no[i] += 1
            fut = client.submit(
                _run_task,
                ledger.tasks[i],
                self.threads_per_worker,
                key=f"hybridflow-{ledger.tasks[i].key}-{batch}-{attempt_no[i]}",
                pure=False,
            )
            submitted[fut] = (i, time.perf_counter())
            return fut

        def outcome(fut: Any, result: Any) -> tuple[int, _Attempt | None]:
            """The task index and its attempt; ``None`` when a worker died under it."""
            i, t0 = submitted.pop(fut)
            if not isinstance(result, _Attempt):
                # An error outside the task function: a dead worker (KilledWorker), a result
                # the client cannot unpickle, a cancelled future. Ask the future itself.
                try:
                    exc = fut.exception()
                except BaseException as err:  # CancelledError is raised, not returned
                    exc = err
                if isinstance(exc, distributed.KilledWorker):
                    fut.release()
                    return i, None
                text = _exception_text(exc) if exc is not None else repr(result)
                result = _failed_attempt(text, time.perf_counter() - t0)
            fut.release()
            return i, result

        try:
            # Normal pass: everything at once; the scheduler queues and balances. Results are
            # gathered in the background as futures finish (one round trip each is slow).
            pending = distributed.as_completed(
                [submit(i) for i in range(len(ledger.tasks))],
                with_results=True,
                raise_errors=False,
            )
            for fut, result in pending:
                i, attempt = outcome(fut, result)
                if attempt is None:
                    # Every task on a dying worker is "killed", innocent or not: re-run alone.
                    suspects.append(i)
                elif ledger.record(i, attempt):
                    pending.add(submit(i))
            # Isolation pass: a suspect running alone that still kills its worker is to blame.
            while suspects:
                i = suspects.popleft()
                t0 = time.perf_counter()
                fut = submit(i)
                distributed.wait(fut)
                i, attempt = outcome(fut, fut.result() if fut.status == "finished" else None)
                if attempt is None:
                    attempt = _failed_attempt(
                        f"the dask worker died while running task {ledger.tasks[i].key!r} "
                        "(segfault, os._exit or killed for memory?)",
                        seconds=time.perf_counter() - t0,
                    )
                if ledger.record(i, attempt):
                    suspects.appendleft(i)
        except BaseException:
            client.cancel(list(submitted))
            raise

    def close(self) -> None:
        """Close the client, and the local cluster if this executor started it."""
        if not self._closed:
            with contextlib.suppress(Exception):
                self._client.close()
            if self._cluster is not None:
                with contextlib.suppress(Exception):
                    self._cluster.close()
        super().close()

    def __repr__(self) -> str:
        where = self.scheduler or f"LocalCluster({len(self._cluster.workers)} workers)"
        return f"DaskExecutor({where})"


# --------------------------------------------------------------------------------------
# Entry point


def _positive_int(value: int | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ExecutorConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_scheduler(address: str) -> None:
    m = _SCHEDULER_RE.match(address) if isinstance(address, str) else None
    if m is None or not 1 <= int(m.group(3)) <= 65535:
        raise ExecutorConfigError(
            f"--scheduler must be a dask scheduler address like tcp://HOST:PORT, got {address!r}"
        )


def make_executor(
    kind: str = "process",
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    threads_per_worker: int | None = 1,
    retries: int = 1,
) -> Executor:
    """Build the executor the CLI and the study runner use.

    Parameters
    ----------
    kind
        ``"process"`` (default, a local process pool), ``"serial"`` (in-process) or
        ``"dask"``. Giving ``scheduler`` or ``dask_local`` selects dask even when ``kind`` is
        left at ``"process"``; with ``kind="serial"`` they are an error.
    workers
        ``--workers``: processes for ``"process"``, or local cluster size for ``"dask"``
        without ``scheduler``/``dask_local``; default ``os.cpu_count()``. Not allowed with
        ``scheduler`` (the cluster decides); with ``dask_local`` it must agree.
    scheduler
        ``--scheduler tcp://HOST:PORT``: connect to a running dask scheduler.
    dask_local
        ``--dask-local N``: start a dask ``LocalCluster`` of N workers on 127.0.0.1.
    threads_per_worker
        BLAS/OpenMP/numba thread cap inside each local worker.
    retries
        Extra attempts for a failing task (default 1).

    Returns
    -------
    Executor
        Use it as a context manager so workers are released.

    Raises
    ------
    ExecutorConfigError
        Unknown ``kind``, malformed scheduler address, non-positive counts, or conflicting
        options.
    MissingDependencyError
        Dask was asked for but ``distributed`` is not installed.
    SchedulerConnectionError
        The scheduler could not be reached.
    """
    kinds = ("process", "serial", "dask")
    if kind not in kinds:
        raise ExecutorConfigError(f"executor kind must be one of {', '.join(kinds)}; got {kind!r}")
    workers = _positive_int(workers, "--workers")
    dask_local = _positive_int(dask_local, "--dask-local")
    if scheduler is not None:
        _check_scheduler(scheduler)
    if scheduler is not None and dask_local is not None:
        raise ExecutorConfigError("give either --scheduler or --dask-local, not both")
    wants_dask = scheduler is not None or dask_local is not None
    if kind == "serial":
        return _serial_executor(workers, wants_dask, retries)
    if kind == "dask" or wants_dask:
        return _dask_executor(scheduler, workers, dask_local, threads_per_worker, retries)
    return ProcessExecutor(workers, threads_per_worker=threads_per_worker, retries=retries)


def _serial_executor(workers: int | None, wants_dask: bool, retries: int) -> SerialExecutor:
    if wants_dask:
        raise ExecutorConfigError(
            "the serial executor runs in this process; drop --scheduler/--dask-local"
        )
    if workers not in (None, 1):
        raise ExecutorConfigError(f"the serial executor has one worker; got --workers {workers}")
    return SerialExecutor(retries=retries)


def _dask_executor(
    scheduler: str | None,
    workers: int | None,
    dask_local: int | None,
    threads_per_worker: int | None,
    retries: int,
) -> DaskExecutor:
    if scheduler is not None:
        if workers is not None:
            raise ExecutorConfigError(
                "--workers cannot be combined with --scheduler: the cluster's workers run the tasks"
            )
        return DaskExecutor(scheduler=scheduler, retries=retries)
    if workers is not None and dask_local is not None and workers != dask_local:
        raise ExecutorConfigError(
            f"--workers {workers} disagrees with --dask-local {dask_local}; give one"
        )
    return DaskExecutor(
        local_workers=dask_local or workers,
        threads_per_worker=threads_per_worker,
        retries=retries,
    )
