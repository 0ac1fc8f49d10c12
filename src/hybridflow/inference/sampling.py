"""How hard to sample: the one settings type every fit and refit takes.

A :class:`Sampling` holds the sampler settings of a fit (draws, tuning steps, chains, the
sampler, NUTS target acceptance); the seed is not part of it, because one setting is
reused with many seeds (placebo datings, SBC replicates, backtest origins). The headline
fits, the checks' refits, SBC and the backtests all take one, so a caller sizes any of
them the same way, and the study's ``[sampling]`` table
(:class:`hybridflow.study.spec.StudySampling`) is a ``Sampling`` plus the root seed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from hybridflow.schema import StrictModel

__all__ = ["SAMPLERS", "Sampler", "Sampling"]

Sampler = Literal["nutpie", "pymc"]
SAMPLERS: tuple[str, ...] = ("nutpie", "pymc")


class Sampling(StrictModel):
    """Sampler settings of one fit (frozen; the defaults are those of a headline fit).

    Attributes
    ----------
    draws, tune, chains
        Posterior draws and tuning steps per chain (defaults 1000 and 500: nutpie's
        adaptation settles well within 500 steps; its own default is 300), number of
        chains.
    sampler
        ``"nutpie"`` (default: numba-compiled log-density, compiled once per model and
        refitted with ``with_data``) or ``"pymc"`` (PyMC's own NUTS, for comparison).
    target_accept
        NUTS target acceptance (0.95 by default: the partially pooled effects of a few
        groups need the smaller step to avoid divergences).
    """

    draws: int = Field(default=1000, ge=1)
    tune: int = Field(default=500, ge=0)
    chains: int = Field(default=4, ge=1)
    sampler: Sampler = "nutpie"
    target_accept: float = Field(default=0.95, gt=0.0, lt=1.0)

    @field_validator("sampler", mode="before")
    @classmethod
    def _known_sampler(cls, value: Any) -> Any:
        if value not in SAMPLERS:
            raise ValueError(f"unknown sampler {value!r}; valid options: {', '.join(SAMPLERS)}")
        return value

    def replace(self, **changes: Any) -> Sampling:
        """A copy with some settings changed, validated (``model_copy`` does not validate)."""
        return type(self).model_validate({**self.model_dump(), **changes})

    @property
    def total_draws(self) -> int:
        """Posterior draws over all chains."""
        return self.draws * self.chains

    def record(self) -> dict[str, Any]:
        """The settings as a fit's provenance attrs record them."""
        return {
            "sampler": self.sampler,
            "draws": int(self.draws),
            "tune": int(self.tune),
            "chains": int(self.chains),
            "target_accept": float(self.target_accept),
        }
