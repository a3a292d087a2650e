"""The batched RL env: the risk rule's sizes, the fill model's fills, log-equity rewards,
no lookahead, determinism, episode ends."""

from __future__ import annotations

import gzip
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest

from model import fills
from model.instruments import Instrument
from risk.limits import RiskLimits
from risk.sizing import size_entry
from rl.account import ceil_quantum, size_entries
from rl.env import ACTIONS, BatchedEnv, EnvConfig
from rl.episodes import MarketData
from tests.replay_data import write_random_walk_market

SHORT = EnvConfig(horizon_minutes=30, warmup_minutes=60)
A = {name: i for i, name in enumerate(ACTIONS)}


@pytest.fixture(scope="module")
def generated() -> MarketData:
    return MarketData.from_generator(5, 4, 600, warmup_minutes=60)


def test_action_names_are_flat_and_cover_every_offset() -> None:
    assert ACTIONS == ("HOLD", "CANCEL_BUY", "CANCEL_SELL", "BUY-1", "BUY+0", "BUY+1",
                       "SELL-1", "SELL+0", "SELL+1")


# -- sizing ----------------------------------------------------------------------------------
SIZING_CASES = [  # equity, entry, stop_pct, held, risk_pct, cap_pct, tick, lot
    ("10000", "40000.00", "1", "0", "2", "5", "0.01", "0.00001"),
    ("10000", "40000.00", "1", "300", "2", "5", "0.01", "0.00001"),
    ("10000", "40000.00", "1", "600", "2", "5", "0.01", "0.00001"),  # cap already full
    ("1", "0.05709", "1", "0", "2", "5", "0.00001", "1"),
    ("1", "0.05709", "25", "0", "1", "50", "0.00001", "1"),  # risk budget binds
    ("1", "1770.81", "1", "0", "2", "5", "0.01", "0.0001"),
    ("0.97", "49803000", "3", "0.01", "2", "5", "1000", "0.00000001"),
    ("1", "300.00", "10", "0", "0.5", "100", "0.01", "1"),  # rounds down to 0 lots
    ("2.5", "123.45", "2", "0", "1", "20", "0.05", "0.01"),
]


@pytest.mark.parametrize(("equity", "entry", "stop_pct", "held", "risk", "cap", "tick", "lot"),
                         SIZING_CASES)
def test_vectorized_sizing_equals_risk_size_entry(equity: str, entry: str, stop_pct: str,
                                                   held: str, risk: str, cap: str, tick: str,
                                                   lot: str) -> None:
    coin = Instrument("XQ", "X", "Q", tick=D(tick), lot=D(lot), min_notional=D(0),
                      max_qty=D("1e12"))
    stop = D(entry) * (1 - D(stop_pct) / 100)
    expected = size_entry(equity=D(equity), entry_price=D(entry), stop_price=stop,
                          confidence=1.0, held_value=D(held), instrument=coin,
                          limits=RiskLimits(risk_per_trade_pct=D(risk),
                                            max_position_pct=D(cap))).amount
    got = size_entries(np.array([float(equity)]), np.array([float(entry)]),
                       np.array([float(held)]), np.array([float(tick)]),
                       np.array([float(lot)]), risk_per_trade_pct=float(risk),
                       max_position_pct=float(cap), stop_pct=float(stop_pct))
    assert got[0] == pytest.approx(float(expected), rel=1e-12, abs=1e-15)


def test_vectorized_sizing_matches_on_random_table() -> None:
    """Given 200 random accounts, when sized both ways, then the lot counts agree."""
    rng = np.random.default_rng(3)
    equity = np.round(rng.uniform(0.5, 5.0, 200), 4)
    price = np.round(rng.uniform(1, 500, 200), 2)
    held = np.round(rng.uniform(0, 0.3, 200), 4)
    lot = 10.0 ** -rng.integers(0, 5, 200)
    got = size_entries(equity, price, held, np.full(200, 0.01), lot, risk_per_trade_pct=2.0,
                       max_position_pct=10.0, stop_pct=1.5)
    for i in range(200):
        coin = Instrument("XQ", "X", "Q", tick=D("0.01"), lot=D(str(lot[i])),
                          min_notional=D(0), max_qty=D("1e12"))
        entry = D(str(price[i]))
        expected = size_entry(equity=D(str(equity[i])), entry_price=entry,
                              stop_price=entry * (1 - D("1.5") / 100), confidence=1.0,
                              held_value=D(str(held[i])), instrument=coin,
                              limits=RiskLimits(max_position_pct=D(10))).amount
        assert round(got[i] / lot[i]) == int(expected / D(str(lot[i]))), i


# -- rewards, fills, episodes ----------------------------------------------------------------
def run_episode(env: BatchedEnv, policy: list[str]) -> tuple[list, list]:
    """Step a full horizon, cycling through `policy`; return per-step (reward, info)."""
    out_rewards, out_infos = [], []
    for step in range(env.config.horizon_minutes):
        action = np.full(env.n_envs, A[policy[step % len(policy)]])
        _, reward, done, info = env.step(action)
        out_rewards.append(reward)
        out_infos.append(info)
    assert done.all()
    return out_rewards, out_infos


def test_hold_only_keeps_equity_at_its_starting_capital(generated: MarketData) -> None:
    env = BatchedEnv(generated, 64, SHORT, seed=1)
    env.reset()
    capital = env.capital.copy()  # auto-reset at the end starts new episodes (new capital)
    rewards, infos = run_episode(env, ["HOLD"])
    assert np.all(np.stack(rewards) == 0.0) and np.all(infos[-1]["equity"] == capital)


def test_rewards_sum_to_log_final_equity(generated: MarketData) -> None:
    """Given trading envs without shaping, the rewards add up to log(final equity)."""
    config = EnvConfig(horizon_minutes=30, warmup_minutes=60, auto_reset=False)
    env = BatchedEnv(generated, 256, config, seed=2)
    env.reset()
    rewards, infos = run_episode(env, ["BUY+1", "HOLD", "SELL+0", "BUY-1", "CANCEL_BUY"])
    assert sum(float(np.sum(i["fees"])) for i in infos) > 0
    total = np.sum(np.stack(rewards).astype(np.float64), axis=0)
    np.testing.assert_allclose(total, infos[-1]["episode_log_return"], atol=1e-5)
    np.testing.assert_allclose(total, np.log(infos[-1]["equity"] / env.capital), atol=1e-5)


def test_first_buy_fills_exactly_as_the_fill_model_says(generated: MarketData) -> None:
    """Given BUY+1 at minute t, then cash drops by what `fills.match` says bar t+1 gives."""
    env = BatchedEnv(generated, 32, SHORT, seed=4)
    env.reset()
    starts, symbols = env._t.copy(), env._sym.copy()
    _, _, _, info = env.step(np.full(32, A["BUY+1"]))
    tick, lot = generated.tick[symbols], generated.lot[symbols]
    close = generated.close[starts, symbols]
    price = (np.round(close / tick) + 1) * tick
    capital = env.capital.copy()  # the 5% cap: 1,000 lots and 100 minimum orders at least
    np.testing.assert_allclose(capital, np.maximum(1_000 * lot * close,
                                                   100 * generated.min_notional[symbols]) / 0.05)
    amount = np.floor(0.05 * capital / price / lot + 1e-9) * lot
    market = fills.market_from_bars(
        generated.open_ms[starts + 1], generated.open[starts + 1, symbols],
        generated.high[starts + 1, symbols], generated.low[starts + 1, symbols],
        generated.close[starts + 1, symbols], generated.volume[starts + 1, symbols], tick,
        SHORT.fill_params())
    reserve = ceil_quantum(amount * price * 1.001)  # PaperBroker._reservation, worst fee
    expected = fills.match(
        fills.orders(np.arange(32), np.ones(32), price, amount, tick, lot,
                     placed_ms=generated.open_ms[starts + 1],
                     budget=reserve),
        market, SHORT.fill_params())
    np.testing.assert_allclose(info["fills"], expected.amount)
    # Fees as the paper broker books them: each level's fee rounded up to 1e-8 quote (the
    # account's free cash pays what the rounding adds beyond the reservation).
    level_fees = ceil_quantum(expected.level_price * expected.level_amount * 1e-3)
    rounded_up = np.where(expected.level_amount > 0, level_fees, 0.0).sum(axis=1)
    np.testing.assert_allclose(info["fees"], rounded_up, rtol=1e-12)
    assert np.all(info["fees"] >= expected.fee * (1 - 1e-12))
    assert (expected.amount > 0).any()
    mark = generated.close[starts + 1, symbols]
    np.testing.assert_allclose(info["equity"], capital - expected.notional - info["fees"]
                               + expected.amount * mark)


def test_episode_ends_at_horizon_and_auto_resets(generated: MarketData) -> None:
    env = BatchedEnv(generated, 16, SHORT, seed=5)
    first = env.reset()
    for _ in range(SHORT.horizon_minutes - 1):
        _, _, done, _ = env.step(np.full(16, A["BUY+1"]))
        assert not done.any()
    obs, _, done, info = env.step(np.zeros(16, np.int64))
    assert done.all() and np.isfinite(info["episode_log_return"]).all()
    assert np.all(obs[:, -1] == 1.0) and np.all(obs[:, -9] == 0.0)  # fresh: flat, full time
    assert first.shape == obs.shape == (16, env.observation_size)


def test_done_envs_stay_done_without_auto_reset(generated: MarketData) -> None:
    config = EnvConfig(horizon_minutes=5, warmup_minutes=60, auto_reset=False)
    env = BatchedEnv(generated, 8, config, seed=6)
    env.reset()
    for _ in range(5):
        env.step(np.full(8, A["BUY+1"]))
    equity = env._equity.copy()
    _, reward, done, _ = env.step(np.full(8, A["SELL+1"]))
    assert done.all() and np.all(reward == 0) and np.all(env._equity == equity)


def test_ruin_ends_the_episode() -> None:
    data = MarketData.from_generator(9, 3, 600, warmup_minutes=60)
    config = EnvConfig(horizon_minutes=60, warmup_minutes=60, max_position_pct=100.0,
                       risk_per_trade_pct=100.0, ruin_fraction=0.9999, auto_reset=False)
    env = BatchedEnv(data, 64, config, seed=7)
    env.reset()
    infos = [env.step(np.full(64, A["BUY+1"]))[3] for _ in range(60)]
    ruined = np.any([i["ruined"] for i in infos], axis=0)
    assert ruined.any()
    assert np.all(infos[-1]["equity"][ruined] <= 0.9999 * env.capital[ruined] * (1 + 1e-12))


def test_shaping_scores_outcomes_not_entries(generated: MarketData) -> None:
    config = EnvConfig(horizon_minutes=30, warmup_minutes=60, shaping_weight=0.5)
    env = BatchedEnv(generated, 128, config, seed=8)
    env.reset()
    _, _, _, entry = env.step(np.full(128, A["BUY+1"]))
    assert (entry["fills"] > 0).any() and np.all(entry["shaping"] == 0)
    scored = np.zeros(128, bool)
    for _ in range(5):
        _, _, _, info = env.step(np.full(128, A["SELL+1"]))
        scored |= info["shaping"] != 0
        assert np.all(np.abs(info["shaping"]) <= 1)
        assert np.all(info["shaping"][info["fills"] >= 0] == 0)  # only on sells
    assert scored.any()


# -- determinism and pinning -----------------------------------------------------------------
def trajectory(data: MarketData, seed: int, starts=None, symbols=None) -> list[np.ndarray]:
    env = BatchedEnv(data, 64, SHORT, seed=seed)
    out = [env.reset(starts, symbols)]
    actions = np.random.default_rng(0).integers(0, env.n_actions, (45, 64))
    for row in actions:
        obs, reward, done, info = env.step(row)
        out += [obs, reward, done, info["equity"], info["fills"]]
    return out


def test_same_seed_same_trajectories(generated: MarketData) -> None:
    a, b = trajectory(generated, 11), trajectory(generated, 11)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], trajectory(generated, 12)[0])


def test_pinned_episodes_do_not_depend_on_the_seed(generated: MarketData) -> None:
    env = BatchedEnv(generated, 64, SHORT, seed=0)
    starts, symbols = env.sample_starts(64, np.random.default_rng(99))
    a = trajectory(generated, 1, starts, symbols)[:4 * 5]  # before any auto-reset
    b = trajectory(generated, 2, starts, symbols)[:4 * 5]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_pinned_start_outside_the_usable_range_is_refused(generated: MarketData) -> None:
    env = BatchedEnv(generated, 2, SHORT, seed=0)
    with pytest.raises(ValueError, match="outside"):
        env.reset(np.array([0, 0]), np.array([0, 1]))


# -- no lookahead ----------------------------------------------------------------------------
def rewrite_tail(directory: Path, after_minute: int) -> None:
    """Scramble every bar after `after_minute` in every file (prices x1.5, volume x3)."""
    for file in directory.glob("*.csv.gz"):
        with gzip.open(file, "rt") as handle:
            lines = handle.read().splitlines()
        first = int(lines[1].split(",")[0])
        for i, line in enumerate(lines[1:], start=1):
            ts, o, h, lo, c, v = line.split(",")
            if (int(ts) - first) // 60_000 > after_minute:
                o, h, lo, c = (f"{float(x) * 1.5:.4f}" for x in (o, h, lo, c))
                lines[i] = f"{ts},{o},{h},{lo},{c},{float(v) * 3:.3f}"
        with gzip.open(file, "wt") as handle:
            handle.write("\n".join(lines) + "\n")


def test_changing_data_after_t_does_not_change_observations_up_to_t(tmp_path: Path) -> None:
    """Given two markets equal up to minute m, when the same episodes are played, then every
    observation made at a minute <= m is identical (features, account and order state)."""
    m = 1_520  # after the replay gaps (minutes 1450+ of coin 0), so they are crossed too
    write_random_walk_market(tmp_path / "a", coins=3)
    write_random_walk_market(tmp_path / "b", coins=3)
    rewrite_tail(tmp_path / "b", m)
    a = MarketData.from_csv_dir(tmp_path / "a", warmup_minutes=60)
    b = MarketData.from_csv_dir(tmp_path / "b", warmup_minutes=60)
    np.testing.assert_array_equal(a.features[: m + 1], b.features[: m + 1])
    assert not np.allclose(a.close[m + 2:], b.close[m + 2:])  # the tail really differs
    assert not np.allclose(a.features[m + 2:, :, 5], b.features[m + 2:, :, 5])  # px_ma_1h
    config = EnvConfig(horizon_minutes=40, warmup_minutes=60, auto_reset=False)
    starts = np.repeat(np.arange(m - 39, m + 1), 3)  # episodes crossing minute m
    symbols = np.tile(np.arange(3), 40)
    envs = [BatchedEnv(d, 120, config, seed=0) for d in (a, b)]
    obs = [env.reset(starts, symbols) for env in envs]
    actions = np.random.default_rng(1).integers(0, envs[0].n_actions, (40, 120))
    later_differs = False
    for row in actions:
        same = envs[0]._t <= m
        np.testing.assert_array_equal(obs[0][same], obs[1][same])
        later_differs |= not np.array_equal(obs[0][~same], obs[1][~same])
        obs = [env.step(row)[0] for env in envs]
    assert later_differs  # the check above would have seen a leak
