"""The live RL policy sees what the env showed in training and maps actions faithfully."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bot.data_dir import DataDir
from rl.env import ACTIONS, BatchedEnv, EnvConfig
from rl.episodes import MarketData
from rl.live_policy import OBSERVATION_NAMES, REGISTRY_FILE, RLPolicy
from rl.networks import ModelMismatchError, Player
from rl.registry import ModelRegistry
from strategies.feature_columns import FEATURE_NAMES
from strategies.policy import Action, DecisionView, Holding, PolicyAction, Quote, RestingOrder

SYMBOL_INDEX = 1


@pytest.fixture(scope="module")
def data() -> MarketData:
    return MarketData.from_generator(seed=3, coins=3, minutes=600, warmup_minutes=200)


def make_player(seed: int = 0, names: tuple[str, ...] = OBSERVATION_NAMES) -> Player:
    return Player.create(len(names), len(ACTIONS), hidden=(16,), feature_names=names, seed=seed)


def env_after(data: MarketData, actions: list[str], max_volume_share: float = 0.1,
              through_volume_share: float = 1.0) -> tuple[BatchedEnv, np.ndarray, dict]:
    """One env on SYMBOL_INDEX, stepped through the named actions; its last observation."""
    env = BatchedEnv(data, 1, EnvConfig(horizon_minutes=60, warmup_minutes=100,
                                        max_volume_share=max_volume_share,
                                        through_volume_share=through_volume_share,
                                        auto_reset=False), seed=0)
    start = max(int(env._first_start[SYMBOL_INDEX]), data.warmup_minutes)
    obs = env.reset(np.array([start]), np.array([SYMBOL_INDEX]))
    totals = {"notional": 0.0, "bought": 0.0}
    for name in actions:
        obs, _, _, info = env.step(np.array([ACTIONS.index(name)]))
        if info["fills"][0] > 0:
            totals["notional"] += float(info["fill_notional"][0])
            totals["bought"] += float(info["fills"][0])
    return env, obs[0], totals


def live_view(data: MarketData, env: BatchedEnv, totals: dict) -> DecisionView:
    """The DecisionView the trader would build in the env's state at minute env._t."""
    t, symbol = int(env._t[0]), data.symbols[SYMBOL_INDEX]
    holdings = {}
    if env._pos[0] > 0:
        holdings[symbol] = Holding(float(env._pos[0]), totals["notional"] / totals["bought"], 0)
    orders = ()
    if env._has_order[0]:
        side = "BUY" if env._side[0] == 1 else "SELL"
        orders = (RestingOrder("c1", symbol, side, float(env._price[0]),
                               float(env._remaining[0]), 0, amount=float(env._amount[0])),)
    quotes = {s: Quote(float(data.close[t, i]), math.nan, math.nan)
              for i, s in enumerate(data.symbols)}
    return DecisionView(ts_ms=int(data.open_ms[t]) + 60_000, symbols=data.symbols,
                        features=data.features[t], feature_names=FEATURE_NAMES, ranking=(),
                        quotes=quotes, holdings=holdings, open_orders=orders,
                        equity=float(env._equity[0]))


def live_obs(data: MarketData, env: BatchedEnv, totals: dict) -> np.ndarray:
    policy = RLPolicy(make_player(), "v0000", capital=float(env.capital[0]),
                      time_left=float((env._t_end[0] - env._t[0]) / env.config.horizon_minutes),
                      buy_fee_bps=env.config.maker_fee_bps)
    view = live_view(data, env, totals)
    return policy.observe(view, [data.symbols[SYMBOL_INDEX]])[0]


def test_flat_account_observation_equals_the_env(data: MarketData) -> None:
    env, expected, totals = env_after(data, ["HOLD", "HOLD", "HOLD"])
    assert env._pos[0] == 0
    np.testing.assert_allclose(live_obs(data, env, totals), expected, rtol=1e-5, atol=1e-6)


def test_holding_observation_equals_the_env(data: MarketData) -> None:
    env, expected, totals = env_after(data, ["HOLD", "BUY+1", "HOLD", "HOLD", "HOLD"])
    assert env._pos[0] > 0 and not env._has_order[0], "the scripted buy must fill"
    got = live_obs(data, env, totals)
    assert got[-9] > 0 and got[-6] != 0  # position share and unrealized return are live
    # Percent columns to 1e-4: the env books fees rounded up to 1e-8 quote (as the ledger
    # does), the live side adds the fee rate back to the fee-less average price.
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=2e-4)


def test_partly_filled_resting_order_observation_equals_the_env(data: MarketData) -> None:
    # Thin volume shares (at the price and through it: a trade through the price fills an
    # order whole by default, ADR-087), so the generated market's deep bars fill it in part.
    env, expected, totals = env_after(data, ["HOLD", "HOLD", "BUY-1"], max_volume_share=0.0005,
                                      through_volume_share=0.0005)
    assert env._has_order[0] and 0 < env._remaining[0] < env._amount[0], "partial fill wanted"
    assert expected[-5] == 1.0 and 0 < expected[-2] < 1  # has_buy, order_filled_share
    np.testing.assert_allclose(live_obs(data, env, totals), expected, rtol=1e-5, atol=2e-4)


# -- action mapping ------------------------------------------------------------------------
SYM = "AAAUSDT"
QUOTE = Quote(last=100.0, bid=100.0, ask=100.2)  # two-tick spread at tick 0.1
HELD = Holding(2.0, 99.0, 0)


def view_with(holdings: dict | None = None, orders: tuple = ()) -> DecisionView:
    return DecisionView(0, (SYM,), np.zeros((1, len(FEATURE_NAMES))), FEATURE_NAMES, (),
                        {SYM: QUOTE}, holdings or {}, orders, 10_000.0)


def mapped(name: str, view: DecisionView) -> list[tuple]:
    policy = RLPolicy(make_player(), "v0007")
    policy._tick = lambda *_: 0.1  # type: ignore[method-assign]
    return [(a.action, None if a.limit_price is None else round(a.limit_price, 6),
             None if a.stop_price is None else round(a.stop_price, 6), a.client_order_id, a.exit)
            for a in policy.to_actions(view, SYM, name, 0.5, "r")]


BUY_ORDER = RestingOrder("b1", SYM, "BUY", 99.5, 1.0, 0)
SELL_ORDER = RestingOrder("s1", SYM, "SELL", 101.0, 1.0, 0)


@pytest.mark.parametrize("name, holdings, orders, expected", [
    ("HOLD", None, (), [(Action.HOLD, None, None, None, False)]),
    ("BUY-1", None, (), [(Action.BUY, 99.9, 98.901, None, False)]),
    ("BUY+0", None, (), [(Action.BUY, 100.0, 99.0, None, False)]),
    ("BUY+1", None, (), [(Action.BUY, 100.2, 99.198, None, False)]),
    ("SELL-1", {SYM: HELD}, (), [(Action.SELL, 100.3, None, None, True)]),
    ("SELL+0", {SYM: HELD}, (), [(Action.SELL, 100.2, None, None, True)]),
    ("SELL+1", {SYM: HELD}, (), [(Action.SELL, 100.0, None, None, True)]),
    ("SELL+0", None, (), [(Action.HOLD, None, None, None, False)]),
    ("CANCEL_BUY", None, (BUY_ORDER,), [(Action.CANCEL_BUY, None, None, "b1", False)]),
    ("CANCEL_BUY", None, (), [(Action.HOLD, None, None, None, False)]),
    ("CANCEL_SELL", {SYM: HELD}, (SELL_ORDER,), [(Action.CANCEL_SELL, None, None, "s1", False)]),
    ("BUY+0", None, (BUY_ORDER,), [(Action.CANCEL_BUY, None, None, "b1", False),
                                   (Action.BUY, 100.0, 99.0, None, False)]),
])
def test_action_mapping(name: str, holdings: dict | None, orders: tuple,
                        expected: list[tuple]) -> None:
    assert mapped(name, view_with(holdings, orders)) == expected


def test_every_action_name_maps() -> None:
    view = view_with({SYM: HELD}, (BUY_ORDER,))
    for name in ACTIONS:
        assert mapped(name, view)


def test_decide_records_version_probability_and_value() -> None:
    actions = RLPolicy(make_player(), "v0003").decide(view_with())
    assert actions and all(isinstance(a, PolicyAction) for a in actions)
    assert actions[-1].reason.startswith("rl v0003: ")
    assert " p=" in actions[-1].reason and " v=" in actions[-1].reason
    if actions[-1].action is Action.BUY:
        assert 0 < actions[-1].confidence <= 1


def test_a_model_of_another_observation_size_is_refused() -> None:
    other = Player.create(len(OBSERVATION_NAMES) + 2, len(ACTIONS), hidden=(16,))
    with pytest.raises(ModelMismatchError, match="obs_size"):
        RLPolicy(other, "v0001")
    wrong_layout = make_player(names=tuple(reversed(OBSERVATION_NAMES)))
    with pytest.raises(ModelMismatchError, match="feature hash"):
        RLPolicy(wrong_layout, "v0002")


def test_hot_swap_refuses_a_misfit_and_takes_a_fit(tmp_path: Path, caplog) -> None:
    assert DataDir(tmp_path).models == tmp_path / REGISTRY_FILE  # the file the daemon reads
    registry = ModelRegistry.open(tmp_path / REGISTRY_FILE)
    make_player(0).save(tmp_path / "v0000.pt")
    registry.register("v0000", tmp_path / "v0000.pt")
    registry.promote("v0000")
    policy = RLPolicy.from_registry(registry, reload_every_steps=2)
    assert policy is not None and policy.version == "v0000"
    Player.create(5, len(ACTIONS), hidden=(16,)).save(tmp_path / "v0001.pt")
    registry.register("v0001", tmp_path / "v0001.pt", parent="v0000")
    registry.promote("v0001")
    assert not policy.maybe_reload(force=True) and policy.version == "v0000"
    make_player(1).save(tmp_path / "v0002.pt")
    registry.register("v0002", tmp_path / "v0002.pt", parent="v0000")
    registry.promote("v0002")
    assert not policy.maybe_reload()  # first call of the two-step period: not due yet
    with caplog.at_level("INFO"):
        assert policy.maybe_reload()
    assert policy.version == "v0002"
    assert "policy rl: now v0002 (was v0000)" in caplog.text
    registry.close()


def test_one_forward_pass_agrees_with_player_act() -> None:
    player = make_player(4)
    obs = np.random.default_rng(0).standard_normal((50, len(OBSERVATION_NAMES))).astype(np.float32)
    probs, actions, values = RLPolicy(player, "v0000").infer(obs)
    want_actions, _, want_values = player.act(obs, greedy=True)
    np.testing.assert_array_equal(actions, want_actions)
    np.testing.assert_allclose(values, want_values, rtol=1e-6)
    np.testing.assert_allclose(probs, player.probabilities(obs), rtol=1e-6)
