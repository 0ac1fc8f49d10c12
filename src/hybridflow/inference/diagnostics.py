"""The convergence gate: R-hat, bulk and tail ESS, divergences on the reported parameters.

A fit is *converged* when, for every element of every reported parameter (driver effects,
their group-level values, between-group and between-event sds, lag-kernel parameters),
``R-hat <= 1.01``, bulk ESS ``>= 400`` and tail ESS ``>= 400``, and the sampler reported
zero divergent transitions. Anything else is flagged loudly wherever the fit is used
(:func:`warn_if_unconverged`), and ``strict=True`` makes it a :class:`ConvergenceError`.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from hybridflow.errors import ConvergenceError
from hybridflow.inference.posterior import Posterior, fit_group, has_group, n_divergences

__all__ = [
    "ESS_MIN",
    "RHAT_MAX",
    "DiagnosticsReport",
    "UnconvergedWarning",
    "check_convergence",
    "warn_if_unconverged",
]

RHAT_MAX = 1.01
ESS_MIN = 400.0


class UnconvergedWarning(UserWarning):
    """A result that failed the convergence gate is being used."""


@dataclass
class DiagnosticsReport:
    """Outcome of the convergence gate.

    Attributes
    ----------
    converged
        True only if every check passed.
    failing
        One line per failing check, e.g. ``"effect[losses, Eastern Borders Route, Others]:
        r_hat 1.034 > 1.01"``.
    table
        Per parameter element: ``r_hat``, ``ess_bulk``, ``ess_tail``.
    """

    converged: bool
    n_divergences: int
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    n_draws: int
    n_chains: int
    failing: list[str] = field(default_factory=list)
    var_names: list[str] = field(default_factory=list)
    rhat_max: float = RHAT_MAX
    ess_min: float = ESS_MIN
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_checked: int = 0

    def summary_text(self) -> str:
        """A few lines for logs and the CLI."""
        head = "CONVERGED" if self.converged else "NOT CONVERGED"
        lines = [
            f"{head}: {self.n_chains} chains x {self.n_draws} draws; divergences "
            f"{self.n_divergences}; max R-hat {self.max_rhat:.3f} (<= {self.rhat_max}); "
            f"min bulk ESS {self.min_ess_bulk:.0f}, min tail ESS {self.min_ess_tail:.0f} "
            f"(>= {self.ess_min:.0f}) over {self.n_checked} reported parameter values"
        ]
        shown = self.failing[:10]
        lines.extend(f"  - {f}" for f in shown)
        if len(self.failing) > len(shown):
            lines.append(f"  - ... and {len(self.failing) - len(shown)} more")
        return "\n".join(lines)

    def to_attrs(self) -> dict[str, Any]:
        """Flat attrs for netCDF (numbers and strings only)."""
        return {
            "converged": int(self.converged),
            "n_divergences": int(self.n_divergences),
            "max_rhat": _finite(self.max_rhat),
            "min_ess_bulk": _finite(self.min_ess_bulk),
            "min_ess_tail": _finite(self.min_ess_tail),
            "rhat_max": float(self.rhat_max),
            "ess_min": float(self.ess_min),
            "diagnostics_failing": json.dumps(self.failing),
            "diagnostics_vars": json.dumps(self.var_names),
            "n_checked": int(self.n_checked),
        }

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> DiagnosticsReport:
        """Rebuild the headline numbers (not the table) from :meth:`to_attrs` output."""
        return cls(
            converged=bool(int(attrs.get("converged", 0))),
            n_divergences=int(attrs.get("n_divergences", -1)),
            max_rhat=float(attrs.get("max_rhat", math.nan)),
            min_ess_bulk=float(attrs.get("min_ess_bulk", math.nan)),
            min_ess_tail=float(attrs.get("min_ess_tail", math.nan)),
            n_draws=int(attrs.get("draws", 0)),
            n_chains=int(attrs.get("chains", 0)),
            failing=list(json.loads(str(attrs.get("diagnostics_failing", "[]")))),
            var_names=list(json.loads(str(attrs.get("diagnostics_vars", "[]")))),
            rhat_max=float(attrs.get("rhat_max", RHAT_MAX)),
            ess_min=float(attrs.get("ess_min", ESS_MIN)),
            n_checked=int(attrs.get("n_checked", 0)),
        )


def _finite(x: float) -> float:
    # netCDF attrs cannot hold NaN portably in every reader; -1 marks "not computable".
    return float(x) if np.isfinite(x) else -1.0


def _fixed_elements(post: Any, names: Sequence[str]) -> np.ndarray:
    """Per element of ``names`` (each variable in C order, as arviz labels one variable's
    rows), whether every draw of every chain has the same value."""
    flags: list[np.ndarray] = []
    for name in names:
        da = post[name]
        rest = [d for d in da.dims if d not in ("chain", "draw")]
        arr = np.asarray(da.transpose("chain", "draw", *rest).values, dtype=float)
        flat = arr.reshape(arr.shape[0] * arr.shape[1], -1)
        flags.append(np.all(flat == flat[:1], axis=0))
    return np.concatenate(flags) if flags else np.zeros(0, dtype=bool)


def check_convergence(
    idata: Posterior,
    var_names: Sequence[str],
    *,
    rhat_max: float = RHAT_MAX,
    ess_min: float = ESS_MIN,
    strict: bool = False,
) -> DiagnosticsReport:
    """Run the convergence gate on the reported parameters of a fit.

    Parameters
    ----------
    idata
        Posterior with ``sample_stats.diverging``.
    var_names
        Parameters to check (missing names are ignored).
    rhat_max, ess_min
        Thresholds (defaults 1.01 and 400).
    strict
        Raise :class:`ConvergenceError` instead of returning a failing report.

    Returns
    -------
    DiagnosticsReport
    """
    post = fit_group(idata, "posterior")
    names = [v for v in var_names if v in post.data_vars]
    n_chains = int(post.sizes.get("chain", 0))
    n_draws = int(post.sizes.get("draw", 0))
    n_div = n_divergences(idata)
    table = pd.DataFrame(columns=["r_hat", "ess_bulk", "ess_tail"], dtype=float)
    if names:
        parts = []
        for name in names:
            # One variable at a time: a summary of several variables of different dims
            # (ArviZ 1.x) can pair a row's label with another element's numbers.
            with warnings.catch_warnings():
                # Too few draws make arviz warn; the gate reports it instead.
                warnings.simplefilter("ignore")
                part = az.summary(post[[name]], kind="diagnostics", round_to="none")[
                    ["r_hat", "ess_bulk", "ess_tail"]
                ].astype(float)
            fixed = _fixed_elements(post, [name])
            if len(fixed) == len(part):
                # Fixed by construction (a regime's effect on a group it does not apply
                # to): no sampling error to check, and arviz's r_hat of a constant is NaN.
                part = part[~fixed]
            parts.append(part)
        table = pd.concat(parts)
    failing: list[str] = []
    if n_div:
        failing.append(f"{n_div} divergent transition(s) (need 0)")
    for param, row in table.iterrows():
        r, eb, et = row["r_hat"], row["ess_bulk"], row["ess_tail"]
        if not np.isfinite(r) or r > rhat_max:
            failing.append(f"{param}: r_hat {r:.3f} > {rhat_max}")
        if not np.isfinite(eb) or eb < ess_min:
            failing.append(f"{param}: bulk ESS {eb:.0f} < {ess_min:.0f}")
        if not np.isfinite(et) or et < ess_min:
            failing.append(f"{param}: tail ESS {et:.0f} < {ess_min:.0f}")
    if not names:
        failing.append("no reported parameters to check")
    report = DiagnosticsReport(
        converged=not failing,
        n_divergences=n_div,
        max_rhat=float(table["r_hat"].max()) if len(table) else math.nan,
        min_ess_bulk=float(table["ess_bulk"].min()) if len(table) else math.nan,
        min_ess_tail=float(table["ess_tail"].min()) if len(table) else math.nan,
        n_draws=n_draws,
        n_chains=n_chains,
        failing=failing,
        var_names=names,
        rhat_max=rhat_max,
        ess_min=ess_min,
        table=table,
        n_checked=len(table),
    )
    if strict and not report.converged:
        raise ConvergenceError(
            "fit failed the convergence gate (strict):\n" + report.summary_text()
        )
    return report


def warn_if_unconverged(source: Posterior | Mapping[str, Any], *, where: str = "") -> bool:
    """Warn loudly (``UnconvergedWarning``) if a stored fit did not pass the gate.

    Parameters
    ----------
    source
        A posterior written by hybridflow (attrs on ``posterior``) or its attrs.
    where
        What is using the fit, for the message.

    Returns
    -------
    bool
        True if the fit is converged.
    """
    attrs: Mapping[Any, Any]
    if isinstance(source, Posterior):
        attrs = dict(source["posterior"].attrs) if has_group(source, "posterior") else {}
    else:
        attrs = source
    if "converged" not in attrs:
        warnings.warn(
            f"{where + ': ' if where else ''}this fit carries no convergence record; "
            "treat its numbers as unchecked",
            UnconvergedWarning,
            stacklevel=2,
        )
        return False
    if int(attrs["converged"]):
        return True
    report = DiagnosticsReport.from_attrs(attrs)
    warnings.warn(
        "\n" + "!" * 78 + f"\n{where + ': ' if where else ''}THIS FIT DID NOT CONVERGE: "
        "its numbers are not reliable.\n" + report.summary_text() + "\n" + "!" * 78,
        UnconvergedWarning,
        stacklevel=2,
    )
    return False
