"""Step: rolling-origin backtests of the study's count models, scored out of sample.

Backtests score the null, the full and each hypothesis model against a seasonal-naive
forecast.
"""

from __future__ import annotations

from hybridflow.analysis.backtest import rolling_origin
from hybridflow.models.spec import spec_hash
from hybridflow.study.cache import step_key
from hybridflow.study.context import StudyContext
from hybridflow.study.results import BacktestResult, StudyResults

FILES = ["backtest", "backtest_summary"]


def run(context: StudyContext, results: StudyResults) -> BacktestResult | None:
    """Expanding-window refits at each origin (None if the study asks for no origins)."""
    c = context.spec.checks
    if c.backtest_origins <= 0:
        return None
    fits = results.fitted().fits
    names = [n for n in context.spec.models if n in fits
             and fits[n].idata.posterior.attrs.get("outcome", "counts") == "counts"]
    if c.backtest_models:
        names = [n for n in names if n in c.backtest_models]
    specs = [context.model_spec(n) for n in names]
    s = context.refit_sampling()
    key = step_key("backtest", [spec_hash(sp) for sp in specs], c.backtest_origins, s,
                   context.data_key())
    if context.state.is_done("backtest", key):
        table = context.read_table("backtest_summary")
        text = context.state.info("backtest").get("text", [])
    else:
        res = rolling_origin(
            specs, context.panel, context.events, origins=c.backtest_origins, horizons=(1, 2, 3),
            sampling=context.check_sampling(target_accept=0.95), seed=s["seed"],
            executor=context.executor(), null=context.spec.null_model,
        )
        context.write_table("backtest", res.table)
        context.write_table("backtest_summary", res.summary)
        table = res.summary
        text = res.text()
        context.state.mark("backtest", key, [f"tables/{f}.csv" for f in FILES], text=text)
    return BacktestResult(origins=c.backtest_origins, summary=table, text=tuple(text))
