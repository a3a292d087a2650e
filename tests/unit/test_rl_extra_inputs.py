"""The forecast and anomaly columns of the RL observation (rl/extra_inputs.py, rl/extra_folds.py):
one recipe, no lookahead in training, the same numbers live, and refusal where not served.

Real components throughout: the four forecast models and the autoencoder are trained (tiny
sizes, seconds) on a seeded synthetic market; the live path is the daemon's own objects
(`FeatureBook` fed bar by bar, `ForecastService.step`, `AnomalyDetector.observe`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exchange.sim.replay import load_grid
from model.market import MINUTE_MS, Bar
from risk.anomaly_features import INPUT_FEATURES, bar_features
from risk.anomaly_models import NetShape, TrainSettings
from rl.env import ACTIONS, EnvConfig
from rl.episodes import MarketData
from rl.extra_folds import ExtraSettings, FoldPlan, fit_sources, head, out_of_fold_grid
from rl.extra_inputs import (
    EXTRA_NAMES,
    OBSERVATION_NAMES,
    ExtraSources,
    LiveExtras,
    check_aligned,
    extra_columns,
    make_extra_env,
)
from rl.live_policy import RLPolicy
from rl.networks import ModelMismatchError, Player
from rl.registry import ModelRegistry
from rl.spaces import OBS_FEATURES
from strategies.feature_columns import FEATURE_NAMES
from strategies.features import FeatureBook
from strategies.features_batch import MinuteGrid, features_from_history
from strategies.forecast.dataset import build_panel
from strategies.forecast.models import ModelParams
from strategies.forecast.monitor import ForecastMonitor
from strategies.forecast.service import ForecastService
from strategies.forecast.synthetic import synthetic_grid, write_csv_dir
from strategies.forecast.training import TrainConfig
from strategies.policy import DecisionView, Quote

TINY = ExtraSettings(
    horizon=15,
    train=TrainConfig(horizons=(15,), params=ModelParams.tiny(), row_stride=2),
    anomaly_shape=NetShape(len(INPUT_FEATURES), hidden=8, latent=3),
    anomaly_settings=TrainSettings(epochs=1, batch_size=128, seed=1))
PLAN = FoldPlan(min_train_minutes=2200, refit_minutes=300, embargo_minutes=30)
EXTRA_AT = slice(len(OBS_FEATURES), len(OBS_FEATURES) + len(EXTRA_NAMES))


def test_the_recipe_scales_clips_centres_and_flags() -> None:
    """Given forecasts in target-scale units, confidences and anomaly ratios (NaN = none),
    then each column follows its documented rule."""
    scale = 0.002
    expected = np.array([3 * scale, -12 * scale, np.nan, 0.0])
    confidence = np.array([0.75, 0.4, np.nan, 0.5])
    anomaly = np.array([2.5, 9.0, np.nan, 0.1])
    cols = extra_columns(expected, confidence, scale, anomaly)
    np.testing.assert_allclose(cols, [[3.0, 0.5, 1.0, 2.5, 1.0],
                                      [-5.0, -0.2, 1.0, 5.0, 1.0],
                                      [0.0, 0.0, 0.0, 0.0, 0.0],
                                      [0.0, 0.0, 1.0, 0.1, 1.0]], atol=1e-12)
    with pytest.raises(ValueError, match="target scale"):
        extra_columns(expected, confidence, 0.0, anomaly)


def test_each_block_is_served_by_models_that_stop_an_embargo_before_it() -> None:
    blocks = PLAN.blocks(3000)
    assert blocks == [(2170, 2200, 2500), (2470, 2500, 2800), (2770, 2800, 3000)]
    with pytest.raises(ValueError, match="must exceed the embargo"):
        FoldPlan(min_train_minutes=10, embargo_minutes=60).blocks(100)


def _perturbed_after(grid: MinuteGrid, t: int, seed: int) -> MinuteGrid:
    """The same market up to minute t; prices and volumes after it scrambled."""
    rng = np.random.default_rng(seed)
    later = np.ones(grid.close.shape)
    later[t + 1:] = np.exp(np.cumsum(rng.normal(0, 0.01, later[t + 1:].shape), axis=0))
    volume = np.ones(grid.close.shape)
    volume[t + 1:] = rng.uniform(0.1, 10.0, volume[t + 1:].shape)
    return MinuteGrid(symbols=grid.symbols, start_ms=grid.start_ms, open=grid.open * later,
                      high=grid.high * later, low=grid.low * later, close=grid.close * later,
                      quote_volume=grid.quote_volume * later * volume)


@pytest.mark.slow
def test_out_of_fold_columns_never_look_ahead(one_torch_thread: None) -> None:
    """Given the training history and a copy whose bars after minute t are scrambled, when
    the out-of-fold columns are built for both, then no column at or before t differs (and
    later ones do, so the scramble reached the models that serve them)."""
    grid = synthetic_grid(seed=11, n_symbols=3, minutes=2900)
    t = 2560  # inside the second block; the third block's models train on rows after t
    columns = []
    for market in (grid, _perturbed_after(grid, t, seed=2)):
        built, records = out_of_fold_grid(build_panel(market), features_from_history(market),
                                          TINY, PLAN)
        columns.append(built)
    before, after = columns
    assert before[PLAN.min_train_minutes:, :, 2].mean() > 0.9, "forecasts served in blocks"
    assert before[PLAN.min_train_minutes:, :, 4].mean() > 0.9, "anomaly scored in blocks"
    assert not before[:PLAN.min_train_minutes].any(), "nothing before the first block"
    np.testing.assert_array_equal(before[:t + 1], after[:t + 1])
    assert not np.allclose(before[2800:, :, :2], after[2800:, :, :2])
    assert [r["serves"] for r in records] == [[2200, 2500], [2500, 2800], [2800, 2900]]


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[MarketData, object, np.ndarray, MinuteGrid]:
    """A replay folder read the walk-forward's way: MarketData, the forecast panel, the
    features, and the bars on the minute grid (NaN = no trade) the live book is fed."""
    import torch

    torch.set_num_threads(1)  # module-scoped: the one_torch_thread fixture is per test
    folder = write_csv_dir(synthetic_grid(seed=7, n_symbols=3, minutes=2400),
                           Path(tmp_path_factory.mktemp("extra")) / "csv")
    data = MarketData.from_csv_dir(folder, warmup_minutes=200)
    bars = load_grid(folder)
    panel = build_panel(bars)
    check_aligned(data, panel)
    return data, panel, data.features, bars


@pytest.fixture(scope="module")
def sources(market: tuple[MarketData, object, np.ndarray, MinuteGrid]) -> ExtraSources:
    _, panel, features, _ = market
    return fit_sources(head(panel, 2000), features[:2000], TINY)


def _bars(data: MarketData, grid: MinuteGrid, t: int) -> list[Bar]:
    open_ms = int(data.open_ms[t])
    return [Bar(s, open_ms, grid.open[t, i], grid.high[t, i], grid.low[t, i], grid.close[t, i],
                grid.quote_volume[t, i] / grid.close[t, i], grid.quote_volume[t, i])
            for i, s in enumerate(data.symbols) if np.isfinite(grid.close[t, i])]


@pytest.mark.slow
def test_live_columns_equal_the_training_columns_minute_by_minute(
        market: tuple[MarketData, object, np.ndarray, MinuteGrid],
        sources: ExtraSources) -> None:
    """Given one trained forecast and detector, when the daemon's objects run minute by
    minute over the bars (book -> ForecastService.step -> AnomalyDetector.observe) and the
    RL policy builds its observation, then its extra columns equal the offline grid's at
    that minute, which is also what the training env shows."""
    from risk.anomaly import AnomalyDetector

    data, panel, features, bars = market
    offline = sources.grid(panel, features)
    book = FeatureBook(data.symbols)
    service = ForecastService(sources.forecaster, len(data.symbols), ForecastMonitor(15))
    detector = AnomalyDetector(sources.detector.bundle, data.symbols, kind="ae", method="evt",
                               rate=0.001)
    extras = LiveExtras(service, detector)
    policy = RLPolicy(Player.create(len(OBSERVATION_NAMES), len(ACTIONS), hidden=(8,),
                                    feature_names=OBSERVATION_NAMES), "v0001", capital=1.0)
    policy.attach_sources(service, detector)
    env = make_extra_env(data.with_extra(offline), 1,
                         EnvConfig(horizon_minutes=30, warmup_minutes=200, auto_reset=False), 0)
    checked = 0
    for t in range(len(data)):
        book.on_bars(_bars(data, bars, t))
        book.advance_to(int(data.open_ms[t]))
        matrix = book.matrix()
        detector.observe(bar_features(book.primitives()), int(data.open_ms[t]) + MINUTE_MS,
                         data.symbols)
        if t < 2230:  # the LSTM ring fills in the hour before the checks
            continue
        service.step(book, matrix, int(data.open_ms[t]))
        if not 2300 <= t <= 2360 or t % 10:
            continue
        live = extras.columns(data.symbols, {s: i for i, s in enumerate(data.symbols)})
        np.testing.assert_allclose(live, offline[t], rtol=1e-4, atol=1e-5)
        view = DecisionView(int(data.open_ms[t]) + MINUTE_MS, data.symbols, matrix,
                            FEATURE_NAMES, (), {s: Quote(float(data.close[t, i]), np.nan, np.nan)
                                                for i, s in enumerate(data.symbols)},
                            {}, (), 1.0)
        observed = policy.observe(view, data.symbols)
        np.testing.assert_allclose(observed[:, EXTRA_AT], offline[t], rtol=1e-4, atol=1e-5)
        obs = env.reset(np.array([t]), np.array([1]))
        np.testing.assert_array_equal(obs[0, EXTRA_AT], offline[t, 1].astype(np.float32))
        assert live[:, 2].all() and live[:, 4].all(), "both sources served at this minute"
        checked += 1
    assert checked == 7


def test_a_model_that_reads_the_columns_is_refused_where_they_are_not_served(
        sources: ExtraSources, tmp_path: Path) -> None:
    """Given a model trained with the extra columns, when the daemon serves no forecast,
    then attaching fails saying what to turn on, deciding fails too, a plain model is
    untouched, and a hot swap to such a model is refused while the current one trades."""
    extra_model = Player.create(len(OBSERVATION_NAMES), len(ACTIONS), hidden=(8,),
                                feature_names=OBSERVATION_NAMES)
    policy = RLPolicy(extra_model, "v0002")  # built before the daemon attaches its sources
    assert policy.wants_extras
    with pytest.raises(ModelMismatchError, match=r"does not serve the forecast \(\[forecast\]"):
        policy.attach_sources(None, sources.detector)
    with pytest.raises(ModelMismatchError, match="anomaly detector"):
        policy.attach_extras(LiveExtras(object(), None))  # type: ignore[arg-type]

    from rl.live_policy import OBSERVATION_NAMES as PLAIN

    plain = RLPolicy(Player.create(len(PLAIN), len(ACTIONS), hidden=(8,), feature_names=PLAIN),
                     "v0001")
    plain.attach_sources(None, None)
    assert not plain.wants_extras

    generic = (*OBS_FEATURES, "extra_0", "extra_1", *PLAIN[len(OBS_FEATURES):])
    with pytest.raises(ModelMismatchError, match="no extra columns or exactly 5"):
        RLPolicy(Player.create(len(generic), len(ACTIONS), hidden=(8,), feature_names=generic),
                 "v0003")

    with ModelRegistry.open(tmp_path / "models.sqlite") as registry:
        registry.register("v0001", plain.player.save(tmp_path / "v0001.pt"))
        registry.promote("v0001")
        registry.register("v0002", extra_model.save(tmp_path / "v0002.pt"), parent="v0001")
        registry.promote("v0002")
        plain.registry = registry
        assert not plain.maybe_reload(force=True)
        assert plain.version == "v0001"


@pytest.mark.slow
def test_the_walk_forward_with_extra_columns_trains_a_model_the_live_policy_accepts(
        tmp_path: Path, one_torch_thread: None) -> None:
    """Given two replay folders, when the walk-forward runs with the extra columns (tiny
    budget), then its players are built for the named layout, the report says how the
    columns were made, the test period carries forecasts, and the best model is one the live
    policy reads the columns for."""
    from rl.ppo import PPOConfig
    from rl.selfplay import SelfPlayConfig
    from rl.walkforward import walk_forward

    write_csv_dir(synthetic_grid(seed=3, n_symbols=3, minutes=3300), tmp_path / "train")
    write_csv_dir(synthetic_grid(seed=4, n_symbols=2, minutes=1800), tmp_path / "test")
    env = EnvConfig(horizon_minutes=60, reward_scale=1000.0)
    config = SelfPlayConfig(n_envs=8, memory_steps=8, updates=1, rollout_steps=8,
                            env_config=env, ppo=PPOConfig(minibatch_size=64))
    rows = walk_forward(tmp_path / "train", tmp_path / "test", seeds=(0,), generations=1,
                        config=config, arena_episodes=10, embargo_minutes=60,
                        workdir=tmp_path / "wd",
                        extra=(TINY, FoldPlan(min_train_minutes=2200, refit_minutes=600,
                                              embargo_minutes=30)))
    extra = rows[0]["data"]["extra"]
    assert extra["names"] == list(EXTRA_NAMES)
    assert [b["serves"] for b in extra["blocks"]] == [[2200, 2800], [2800, 3300]]
    assert extra["test_forecast_share"] > 0.1  # rows after the test folder's first day
    assert rows[0]["test"]["rl"]["episodes"] == rows[0]["test"]["flat"]["episodes"] > 0
    with ModelRegistry.open(tmp_path / "wd" / "seed0" / "registry.db") as registry:
        best = registry.best()
        assert best is not None
        policy = RLPolicy(Player.load(best.path), best.version)
    assert policy.wants_extras


def test_the_backtester_refuses_a_model_that_reads_columns_it_does_not_serve(
        tmp_path: Path) -> None:
    """Given a registry whose best model reads the extra columns, when the replay backtester
    (which serves no forecast) trades policy rl, then it stops with the reason, not zeros."""
    from decimal import Decimal

    from bot.config import load_config
    from bot.research.backtest import run_backtest
    from rl.live_policy import REGISTRY_FILE
    from tests.replay_data import START_MS, write_random_walk_market

    market = write_random_walk_market(tmp_path / "market", minutes=1_500)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with ModelRegistry.open(data_dir / REGISTRY_FILE) as registry:
        player = Player.create(len(OBSERVATION_NAMES), len(ACTIONS), hidden=(8,),
                               feature_names=OBSERVATION_NAMES)
        registry.register("v0000", player.save(data_dir / "models" / "v0000.pt"))
        registry.promote("v0000")
    config = load_config(None, environ={})
    config = config.model_copy(update={"app": config.app.model_copy(
        update={"data_dir": data_dir})})
    with pytest.raises(ModelMismatchError, match="does not serve the forecast"):
        run_backtest(config, market, tmp_path / "bt.sqlite", policy="rl", quote_asset="USDT",
                     balance=Decimal(10000), from_ms=START_MS + 1_440 * 60_000)
