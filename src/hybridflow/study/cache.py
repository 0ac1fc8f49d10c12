"""Resumable study steps: a step whose inputs are unchanged is not run again.

Each step has a name and a *key*: a hash of everything its output depends on (spec hash,
data hash, sampling settings, package version). ``state.json`` in the results folder maps
step names to the key they were last completed with and the files they wrote. A step is
skipped when its key matches and its files still exist, so re-running a study reuses
fits whose spec and data are unchanged, and an interrupted run resumes where it stopped
(steps are marked done only after their outputs are written atomically).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hybridflow import __version__
from hybridflow.io import atomic_open


def step_key(*parts: Any) -> str:
    """A stable sha256 of JSON-serialisable parts (plus the package version)."""
    text = json.dumps([__version__, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class StudyState:
    """The record of completed steps in ``<out>/state.json``."""

    def __init__(self, out_dir: str | Path) -> None:
        # Absolute, so that recorded files do not depend on the working directory.
        self.out = Path(out_dir).resolve()
        self.path = self.out / "state.json"
        self.steps: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                self.steps = json.loads(self.path.read_text(encoding="utf-8")).get("steps", {})
            except (json.JSONDecodeError, OSError):
                # A damaged state file only costs recomputation, never wrong reuse.
                self.steps = {}

    def is_done(self, name: str, key: str) -> bool:
        """True if ``name`` completed with ``key`` and all its files still exist."""
        rec = self.steps.get(name)
        if rec is None or rec.get("key") != key:
            return False
        return all((self.out / f).exists() for f in rec.get("files", []))

    def mark(self, name: str, key: str, files: Sequence[str | Path], **info: Any) -> None:
        """Record ``name`` as done with ``key``.

        ``files`` are absolute paths inside the results folder or paths relative to it; they
        are stored relative to it, so a results folder can be moved or named relatively.
        """
        rel = [self._relative(f) for f in files]
        self.steps[name] = {"key": key, "files": rel, **info}
        self.save()

    def _relative(self, f: str | Path) -> str:
        p = Path(f)
        if not p.is_absolute():
            return p.as_posix()
        try:
            return p.resolve().relative_to(self.out).as_posix()
        except ValueError:
            raise ValueError(f"step output {p} lies outside the results folder {self.out}") from None

    def info(self, name: str) -> dict[str, Any]:
        """What was recorded for a step (empty if never run)."""
        return dict(self.steps.get(name, {}))

    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.path) as fh:
            json.dump({"steps": self.steps}, fh, indent=2, sort_keys=True)
