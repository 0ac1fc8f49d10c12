"""The one sampler-settings type: defaults, validation, copies."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from hybridflow.analysis.backtest import BACKTEST_SAMPLING
from hybridflow.analysis.checks import REFIT_SAMPLING, VARIANT_SAMPLING
from hybridflow.analysis.sbc import SBC_SAMPLING
from hybridflow.inference.sampling import Sampling
from hybridflow.study.spec import StudySampling


def test_defaults_are_those_of_a_headline_fit_and_of_each_check() -> None:
    assert Sampling().model_dump() == {
        "draws": 1000, "tune": 500, "chains": 4, "sampler": "nutpie", "target_accept": 0.95,
    }  # fmt: skip
    # The defaults each caller had before it took a Sampling.
    assert (REFIT_SAMPLING.draws, REFIT_SAMPLING.tune, REFIT_SAMPLING.chains) == (200, 200, 2)
    assert (VARIANT_SAMPLING.draws, VARIANT_SAMPLING.tune) == (500, 500)
    assert REFIT_SAMPLING.target_accept == VARIANT_SAMPLING.target_accept == 0.9
    assert SBC_SAMPLING.target_accept == BACKTEST_SAMPLING.target_accept == 0.95
    assert (BACKTEST_SAMPLING.draws, SBC_SAMPLING.draws) == (200, 500)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown sampler 'stan'; valid options: nutpie, pymc"):
        Sampling(sampler="stan")  # type: ignore[arg-type]
    for bad in ({"draws": 0}, {"tune": -1}, {"chains": 0}, {"target_accept": 1.0}, {"thin": 2}):
        with pytest.raises(ValidationError):
            Sampling(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        REFIT_SAMPLING.replace(draws=0)  # replace validates, unlike model_copy


def test_replace_copies_frozen_settings_and_pickles() -> None:
    fewer = REFIT_SAMPLING.replace(draws=50)
    assert fewer.draws == 50 and fewer.target_accept == 0.9 and REFIT_SAMPLING.draws == 200
    with pytest.raises(ValidationError):
        fewer.draws = 10  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(fewer)) == fewer  # travels to executor workers
    assert fewer.total_draws == 100


def test_the_study_sampling_is_a_sampling_plus_the_seed() -> None:
    s = StudySampling()
    assert isinstance(s, Sampling)
    assert (s.draws, s.tune, s.chains, s.seed) == (1000, 1000, 4, 20250601)
    assert set(s.model_dump()) == {"draws", "tune", "chains", "seed", "sampler", "target_accept"}
    with pytest.raises(ValidationError):
        StudySampling(draws=5)  # the study's own bound
