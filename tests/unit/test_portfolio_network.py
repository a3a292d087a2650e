"""Portfolio network: one model for any universe, blind to coin order and to padding,
reproducible from its seed, and refusing inputs or checkpoints of another layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rl.errors import ModelMismatchError
from rl.networks import Player
from rl.portfolio_network import (
    PortfolioNetSpec,
    PortfolioPlayer,
    PortfolioPolicyNet,
    portfolio_feature_hash,
)
from rl.spaces import HOLD, action_names

COIN_FEATURES, PORTFOLIO_FEATURES = 10, 4
COIN_NAMES = tuple(f"c{i}" for i in range(COIN_FEATURES))
PORTFOLIO_NAMES = ("cash_share", "exposure", "drawdown", "time_left")


def inputs(batch: int = 3, coins: int = 7, seed: int = 0
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random coins [B, N, C], portfolio [B, P] and an all-live mask [B, N]."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, coins, COIN_FEATURES)).astype(np.float32),
            rng.standard_normal((batch, PORTFOLIO_FEATURES)).astype(np.float32),
            np.ones((batch, coins), bool))


def decisive_player(seed: int = 0) -> PortfolioPlayer:
    """A player whose per-coin preferences are distinct (no near-ties for arg-max)."""
    player = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES, hidden=(32, 32),
                                    seed=seed)
    with torch.no_grad():
        player.net.policy_head.weight.mul_(300)
    return player


def sampled(player: PortfolioPlayer, *args: np.ndarray, seed: int = 9
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return player.act(*args, greedy=False, generator=torch.Generator().manual_seed(seed))


def test_net_gives_logits_per_coin_and_one_value_per_env():
    net = PortfolioPolicyNet(COIN_FEATURES, PORTFOLIO_FEATURES, 9, hidden=(32, 16))
    logits, values = net(torch.zeros(2, 5, COIN_FEATURES), torch.zeros(2, PORTFOLIO_FEATURES),
                         torch.ones(2, 5, dtype=torch.bool))
    assert logits.shape == (2, 5, 9) and values.shape == (2,)


def test_actions_default_to_the_product_layout_and_can_be_chosen():
    assert PortfolioPlayer.create(3, 2).spec.n_actions == len(action_names())
    assert PortfolioPlayer.create(3, 2, n_actions=4).spec.n_actions == 4


def test_a_single_hidden_size_is_refused_with_what_to_pass():
    with pytest.raises(ValueError, match="at least two layer sizes"):
        PortfolioPolicyNet(3, 2, 9, hidden=(64,))


def test_fresh_policy_is_near_uniform_so_exploration_starts_unbiased():
    player = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES)
    probs = player.probabilities(*inputs())
    assert np.allclose(probs, 1 / len(action_names()), atol=0.02)


def test_act_returns_actions_per_coin_and_joint_log_prob_and_value_per_env():
    player = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES)
    actions, log_probs, values = sampled(player, *inputs(batch=3, coins=7))
    assert actions.shape == (3, 7) and actions.dtype == np.int64
    assert log_probs.shape == values.shape == (3,)
    assert log_probs.dtype == values.dtype == np.float32
    assert ((actions >= 0) & (actions < len(action_names()))).all() and (log_probs < 0).all()


def test_permuting_coins_permutes_actions_and_probabilities_and_keeps_value_and_log_prob():
    player = decisive_player()
    coins, portfolio, mask = inputs(batch=2, coins=9)
    order = np.random.default_rng(1).permutation(9)
    actions, log_prob, value = player.act(coins, portfolio, mask, greedy=True)
    p_actions, p_log_prob, p_value = player.act(coins[:, order], portfolio, mask, greedy=True)
    np.testing.assert_array_equal(p_actions, actions[:, order])
    np.testing.assert_allclose(p_log_prob, log_prob, atol=1e-5)
    np.testing.assert_allclose(p_value, value, atol=1e-5)
    np.testing.assert_allclose(player.probabilities(coins[:, order], portfolio, mask),
                               player.probabilities(coins, portfolio, mask)[:, order],
                               atol=1e-5)
    assert len(set(actions.ravel().tolist())) > 1     # the check is not about a constant policy


@pytest.mark.parametrize("n_coins", [1, 7, 120])
def test_one_model_serves_any_universe_size(n_coins):
    player = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES, seed=1)
    actions, log_probs, values = player.act(*inputs(batch=2, coins=n_coins), greedy=True)
    assert actions.shape == (2, n_coins)
    assert np.isfinite(log_probs).all() and np.isfinite(values).all()


def test_padding_coins_change_nothing_for_the_live_coins():
    player = decisive_player()
    coins, portfolio, mask = inputs(batch=2, coins=6)
    padded = np.concatenate([coins, np.full((2, 4, COIN_FEATURES), np.nan, np.float32)], 1)
    padded[1, -1] = 1e6                                     # garbage, not only NaN
    padded_mask = np.concatenate([mask, np.zeros((2, 4), bool)], axis=1)
    actions, log_prob, value = player.act(coins, portfolio, mask, greedy=True)
    p_actions, p_log_prob, p_value = player.act(padded, portfolio, padded_mask, greedy=True)
    np.testing.assert_array_equal(p_actions[:, :6], actions)
    np.testing.assert_allclose(p_log_prob, log_prob, atol=1e-5)
    np.testing.assert_allclose(p_value, value, atol=1e-5)
    np.testing.assert_allclose(player.probabilities(padded, portfolio, padded_mask)[:, :6],
                               player.probabilities(coins, portfolio, mask), atol=1e-6)


def test_padding_coins_always_hold_even_when_sampled():
    player = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES)
    coins, portfolio, mask = inputs(batch=64, coins=8)
    mask[:, ::2] = False
    for seed in range(5):
        actions = sampled(player, coins, portfolio, mask, seed=seed)[0]
        assert (actions[~mask] == HOLD).all()
        assert len(set(actions[mask].tolist())) > 1           # live coins do trade
    probs = player.probabilities(coins, portfolio, mask)
    assert (probs[~mask][:, HOLD] == 1.0).all()


def test_an_env_without_any_live_coin_holds_everything_with_a_finite_value():
    player = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES)
    coins, portfolio, mask = inputs(batch=2, coins=5)
    mask[0] = False
    actions, log_probs, values = sampled(player, coins, portfolio, mask)
    assert (actions[0] == HOLD).all() and log_probs[0] == 0.0
    assert np.isfinite(values).all()


def test_same_seed_same_weights_and_same_sampled_actions():
    first = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES, seed=3)
    second = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES, seed=3)
    for name, tensor in first.net.state_dict().items():
        assert torch.equal(tensor, second.net.state_dict()[name]), name
    x = inputs(batch=4, coins=12)
    for a, b in zip(sampled(first, *x), sampled(second, *x)):
        np.testing.assert_array_equal(a, b)


def test_different_seed_different_weights_and_different_sampled_actions():
    first, other = decisive_player(seed=3), decisive_player(seed=4)
    assert not torch.equal(first.net.mix_coin.weight, other.net.mix_coin.weight)
    x = inputs(batch=4, coins=12)      # (fresh policies are near uniform: draws would agree)
    assert not np.array_equal(sampled(first, *x)[0], sampled(other, *x)[0])


def test_creating_a_player_leaves_the_global_torch_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_clone_is_an_independent_copy():
    player = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES, seed=2)
    copy = player.clone()
    x = inputs()
    np.testing.assert_array_equal(copy.act(*x, greedy=True)[2], player.act(*x, greedy=True)[2])
    with torch.no_grad():
        copy.net.value_head.bias.add_(1.0)
    assert not np.array_equal(copy.act(*x, greedy=True)[2], player.act(*x, greedy=True)[2])


def test_save_and_load_round_trip_acts_identically(tmp_path):
    player = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES, hidden=(32, 16),
                                    coin_feature_names=COIN_NAMES,
                                    portfolio_feature_names=PORTFOLIO_NAMES, seed=4)
    path = player.save(tmp_path / "best.pt")
    expected = PortfolioNetSpec(COIN_FEATURES, PORTFOLIO_FEATURES, len(action_names()),
                                (32, 16), portfolio_feature_hash(COIN_NAMES, PORTFOLIO_NAMES))
    loaded = PortfolioPlayer.load(path, expected=expected)
    assert loaded.spec == player.spec and not (tmp_path / "best.pt.tmp").exists()
    x = inputs()
    for a, b in zip(sampled(loaded, *x), sampled(player, *x)):
        np.testing.assert_array_equal(a, b)


def test_loading_into_another_layout_is_refused_naming_the_difference(tmp_path):
    path = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES, hidden=(32, 16),
                                  coin_feature_names=COIN_NAMES,
                                  portfolio_feature_names=PORTFOLIO_NAMES).save(tmp_path / "m.pt")
    other_names = portfolio_feature_hash(COIN_NAMES[::-1], PORTFOLIO_NAMES)
    with pytest.raises(ModelMismatchError, match=r"coin_features 10 != expected 11"):
        PortfolioPlayer.load(path, PortfolioNetSpec(11, PORTFOLIO_FEATURES, 9, (32, 16)))
    with pytest.raises(ModelMismatchError, match=r"hidden \(32, 16\) != expected \(128, 128\)"):
        PortfolioPlayer.load(path, PortfolioNetSpec(COIN_FEATURES, PORTFOLIO_FEATURES, 9))
    with pytest.raises(ModelMismatchError, match="feature hash"):
        PortfolioPlayer.load(path, PortfolioNetSpec(COIN_FEATURES, PORTFOLIO_FEATURES, 9,
                                                    (32, 16), other_names))


def test_flat_and_portfolio_checkpoints_are_never_confused(tmp_path):
    flat = Player.create(12, 9).save(tmp_path / "flat.pt")
    portfolio = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES).save(tmp_path / "p.pt")
    with pytest.raises(ModelMismatchError, match="not a portfolio network"):
        PortfolioPlayer.load(flat)
    with pytest.raises(ModelMismatchError, match="unknown checkpoint format"):
        Player.load(portfolio)


@pytest.mark.parametrize("shapes, expected", [
    (((2, 5, COIN_FEATURES + 1), (2, PORTFOLIO_FEATURES), (2, 5)), r"expected \[batch, coins, 10\]"),
    (((2, 5, COIN_FEATURES), (2, PORTFOLIO_FEATURES + 2), (2, 5)), r"expected \[2, 4\]"),
    (((2, 5, COIN_FEATURES), (2, PORTFOLIO_FEATURES), (2, 6)), r"expected \[2, 5\]"),
    (((5, COIN_FEATURES), (2, PORTFOLIO_FEATURES), (2, 5)), r"expected \[batch, coins, 10\]"),
    (((2, 0, COIN_FEATURES), (2, PORTFOLIO_FEATURES), (2, 0)), "at least one coin"),
])
def test_a_wrong_input_shape_is_refused_saying_the_expected_shape(shapes, expected):
    player = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES)
    coins, portfolio, mask = (np.zeros(shape, np.float32) for shape in shapes)
    with pytest.raises(ModelMismatchError, match=expected):
        player.act(coins, portfolio, mask.astype(bool), greedy=True)


def test_evaluate_gives_acts_log_prob_with_grad_and_the_live_coins_entropy():
    player = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES, seed=6)
    coins, portfolio, mask = inputs(batch=4, coins=7)
    mask[1, 3:] = False
    coins[1, 3:] = np.nan                                      # padding may be NaN
    actions, log_probs, values = sampled(player, coins, portfolio, mask)
    actions[~mask] = -1                                        # padding may carry any id
    player.net.train()
    new_log_probs, entropy, new_values = player.evaluate(
        torch.from_numpy(coins), torch.from_numpy(portfolio), torch.from_numpy(mask),
        torch.from_numpy(actions))
    np.testing.assert_allclose(new_log_probs.detach().numpy(), log_probs, atol=1e-5)
    np.testing.assert_allclose(new_values.detach().numpy(), values, atol=1e-5)
    probs = player.probabilities(coins, portfolio, mask)
    per_coin = -(probs * np.log(probs, where=probs > 0, out=np.zeros_like(probs))).sum(-1)
    np.testing.assert_allclose(entropy.detach().numpy(), (per_coin * mask).sum(-1), rtol=1e-4)
    (-(new_log_probs.sum() + entropy.sum()) + new_values.sum()).backward()
    grads = [p.grad for p in player.net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_evaluate_refuses_actions_of_another_shape():
    player = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES)
    coins, portfolio, mask = (torch.from_numpy(a) for a in inputs(batch=2, coins=5))
    with pytest.raises(ModelMismatchError, match=r"expected \(2, 5\)"):
        player.evaluate(coins, portfolio, mask, torch.zeros(2, 4, dtype=torch.int64))


def test_evaluate_trains_a_relative_rule_that_no_single_coin_could_tell():
    """Buy the coins above their env's cross-sectional mean: each env's market is shifted
    (sd 3 vs the coins' spread sd 1), so only the pooled context can tell "above the rest"."""
    buy = action_names().index("BUY+0")

    def market(rng: np.random.Generator, envs: int, n_coins: int = 12):
        coins = np.zeros((envs, n_coins, COIN_FEATURES), np.float32)
        coins[..., 0] = rng.normal(0, 3, (envs, 1)) + rng.normal(0, 1, (envs, n_coins))
        best = np.where(coins[..., 0] > coins[..., 0].mean(1, keepdims=True), buy, HOLD)
        return (coins, np.zeros((envs, PORTFOLIO_FEATURES), np.float32),
                np.ones((envs, n_coins), bool), best)

    player = PortfolioPlayer.create(COIN_FEATURES, PORTFOLIO_FEATURES, hidden=(32, 32))
    optimiser = torch.optim.Adam(player.net.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    player.net.train()
    for _ in range(300):
        log_probs, _, _ = player.evaluate(*(torch.from_numpy(a) for a in market(rng, 64)))
        optimiser.zero_grad()
        (-log_probs.mean()).backward()
        optimiser.step()
    coins, portfolio, mask, best = market(np.random.default_rng(1), 256)
    assert (player.act(coins, portfolio, mask, greedy=True)[0] == best).mean() > 0.9
