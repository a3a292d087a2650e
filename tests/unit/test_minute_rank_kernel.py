"""A minute's ranking in one compiled call (strategies/minute_rank_kernel.py) is the two
kernels it stands for, bit for bit: `rank_scores_kernel` then `top_reasons_kernel`, packed;
and `rank` on a 1m matrix, which takes it, gives the coins of the array definition
(`score_features`, `_top_candidates`, `_reasons_with_json`), every number to the bit and
every reason's JSON text. The kernel carries the stamp of the files it inlines."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from strategies import minute_rank_kernel
from strategies.barrier import MAX_IMAGES
from strategies.decision_kernel import rank_scores_kernel
from strategies.feature_columns import FEATURE_NAMES
from strategies.minute_rank_kernel import minute_ranking_kernel
from strategies.rank_select_kernel import top_reasons_kernel
from strategies.ranking import (
    _RETURN_WINDOWS,
    RankedCoin,
    _barriers,
    _kernel_columns,
    _name_ranks,
    rank,
)
from tests.unit.test_decision_kernel import kernel_features, random_state

ROOT = Path(__file__).resolve().parents[2]


def test_the_kernel_carries_the_stamp_of_the_code_it_inlines() -> None:
    digest = hashlib.sha256()
    for name in minute_rank_kernel.INLINED_SOURCES:
        digest.update((ROOT / name).read_bytes())
    expected = digest.hexdigest()[:16]
    assert expected == minute_rank_kernel.INLINED_SOURCES_SHA256, (
        f"{', '.join(minute_rank_kernel.INLINED_SOURCES)} changed: set "
        f'INLINED_SOURCES_SHA256 = "{expected}" in strategies/minute_rank_kernel.py, so '
        f"numba recompiles the minute's ranking")


def bits(values: list[float] | np.ndarray) -> list[str]:
    return [float(v).hex() for v in values]


def ranked_matrix(seed: int, n: int) -> np.ndarray:
    """Feature rows of `n` coins, most of them eligible, with trends from noise to sure
    things, tied rows (equal scores), and coins without data."""
    rng = np.random.default_rng(seed)
    features, _ = kernel_features(random_state(rng, n))
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}
    warm = features[:, col["warm_minutes"]]
    features[:, col["warm_minutes"]] = np.where(np.isnan(warm), warm, 2_000.0)
    for label in ("1h", "6h", "12h", "1d"):
        features[:, col[f"trend_z_{label}"]] = rng.standard_normal(n) * 10 ** (seed % 4 - 1)
    features[:, col["sigma_1h"]] *= 10.0 ** rng.integers(-4, 1, n)
    # quotes and volume for most: the scores, not the filters, decide the order
    features[:, col["spread_bps"]] = rng.choice([5.0, 5.0, 5.0, 80.0, np.nan], n)
    features[:, col["tick_turnover_24h"]] = rng.choice([np.log1p(1e6), np.log1p(0.5), np.nan], n)
    features[:, col["turnover_1d"]] = rng.choice([np.log1p(1e6), np.nan], n)
    sigma_1d = features[:, col["sigma_1d"]]
    features[:, col["sigma_1d"]] = np.where(rng.random(n) < 0.8, np.abs(rng.normal(2e-3, 1e-3, n)), sigma_1d)
    if n >= 4:
        features[1] = features[3]  # equal scores: ordered by symbol, then by row
    return features


def settings(seed: int, top_k: int) -> SimpleNamespace:
    return SimpleNamespace(top_k=top_k, target_return_pct=[1.0, 5.0, 0.2][seed % 3],
                           stop_return_pct=[1.0, 100.0, 3.0][seed % 3],
                           horizon_minutes=[60, 1440, 7][seed % 3],
                           min_quote_volume_24h=1.0, max_spread_bps=50.0)


def symbols_of(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed + 7)
    return [str(s) for s in rng.choice([f"C{k:02d}USDT" for k in range(n)] + ["AB", "Ä"], n)]


def coin_bits(coin: RankedCoin) -> tuple[object, ...]:
    return (coin.symbol, bits([coin.score, coin.drift, coin.sigma]),
            [(words, float(value).hex()) for words, value in coin.reasons], coin.reasons_json,
            coin.forecast_return, coin.forecast_confidence, coin.anomaly_score)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(("n", "top_k", "require_quotes"),
                         [(0, 10, True), (1, 10, False), (7, 3, True), (20, 10, False),
                          (48, 48, True), (48, 5, False)])
def test_the_kernel_is_the_scores_kernel_then_the_selection_kernel(
        seed: int, n: int, top_k: int, require_quotes: bool) -> None:
    features = ranked_matrix(seed, n)
    config = settings(seed, top_k)
    columns = _kernel_columns(FEATURE_NAMES)
    up, down = _barriers(config)
    scoring = (features, *columns, _RETURN_WINDOWS, 1440.0, 1.0, 50.0, require_quotes,
               float(config.horizon_minutes), up, down, float(MAX_IMAGES))
    ranks = _name_ranks(tuple(symbols_of(seed, n)))
    ints, floats, usual, images = minute_ranking_kernel(*scoring, ranks, top_k)
    probability, drift, sigma, eligible, contributions, returns, expected_images = (
        rank_scores_kernel(*scoring))
    top, numbers, _, _, _, shown, strong_values, strong_percents, codes = top_reasons_kernel(
        probability, eligible, ranks, top_k, drift, sigma, contributions, returns)
    m = top.shape[0]
    assert float(images).hex() == float(expected_images).hex()
    assert ints.tolist() == top.tolist() + codes.tolist()
    assert bits(floats) == bits(np.concatenate([numbers.ravel(), strong_values,
                                                strong_percents]))
    assert floats.shape == (9 * m,)
    assert usual == bool((shown == 3).all())


def test_fewer_windows_than_three_is_not_the_usual_minute() -> None:
    # two return windows: every coin shows two, which the flat words cannot hold
    features = ranked_matrix(0, 20)
    returns, trends, scalars = _kernel_columns(FEATURE_NAMES)
    config = settings(0, 10)
    up, down = _barriers(config)
    ints, _, usual, _ = minute_ranking_kernel(
        features, returns[:2], trends[:2], scalars, _RETURN_WINDOWS[:2], 1440.0, 1.0, 50.0,
        True, 60.0, up, down, float(MAX_IMAGES), _name_ranks(tuple(symbols_of(0, 20))), 10)
    assert ints.size > 0 and not usual


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(("n", "top_k"), [(1, 10), (7, 3), (20, 10), (48, 48)])
def test_rank_of_a_minute_gives_the_coins_of_the_array_definition(
        seed: int, n: int, top_k: int) -> None:
    # all-NaN anomaly scores change nothing and take the array path (score_features)
    features = ranked_matrix(seed, n)
    config = settings(seed, top_k)
    symbols = symbols_of(seed, n)
    for require_quotes in (True, False):
        compiled = rank(features, FEATURE_NAMES, symbols, config,
                        require_quotes=require_quotes)
        definition = rank(features, FEATURE_NAMES, symbols, config,
                          require_quotes=require_quotes, anomaly=np.full(n, np.nan))
        assert [coin_bits(c) for c in compiled] == [coin_bits(c) for c in definition]
    assert compiled or n < 20 or seed % 3 == 1  # the comparison above had coins to compare


def test_a_horizon_without_an_image_count_raises_as_the_array_form() -> None:
    features = ranked_matrix(0, 8)
    config = SimpleNamespace(**{**vars(settings(0, 5)), "horizon_minutes": float("nan")})
    with pytest.raises(ValueError):
        rank(features, FEATURE_NAMES, symbols_of(0, 8), config)
    with pytest.raises(ValueError):
        rank(features, FEATURE_NAMES, symbols_of(0, 8), config, anomaly=np.full(8, np.nan))
