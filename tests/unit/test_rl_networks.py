"""Policy-value network and Player: shapes, determinism, save/load with a layout check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rl.networks import (
    ModelMismatchError,
    NetSpec,
    Player,
    PolicyValueNet,
    feature_names_hash,
)

NAMES = tuple(f"f{i}" for i in range(12))


def observations(batch: int = 32, width: int = 12, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, width)).astype(np.float32)


def test_net_gives_logits_and_values_per_observation():
    net = PolicyValueNet(12, 7, hidden=(32, 16))
    logits, values = net(torch.zeros(5, 12))
    assert logits.shape == (5, 7) and values.shape == (5,)


def test_fresh_policy_is_near_uniform_so_exploration_starts_unbiased():
    player = Player.create(12, 7, feature_names=NAMES)
    probs = player.probabilities(observations())
    assert np.allclose(probs, 1 / 7, atol=0.02)


def test_act_returns_batched_float32_outputs_and_valid_actions():
    player = Player.create(12, 7)
    actions, log_probs, values = player.act(observations(), greedy=False,
                                            generator=torch.Generator().manual_seed(1))
    assert actions.shape == log_probs.shape == values.shape == (32,)
    assert actions.dtype == np.int64
    assert log_probs.dtype == values.dtype == np.float32
    assert ((actions >= 0) & (actions < 7)).all() and (log_probs <= 0).all()


def test_same_seed_same_init_and_same_sampled_actions():
    first, second = Player.create(12, 7, seed=3), Player.create(12, 7, seed=3)
    obs = observations()
    a = first.act(obs, greedy=False, generator=torch.Generator().manual_seed(9))
    b = second.act(obs, greedy=False, generator=torch.Generator().manual_seed(9))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_creating_a_player_leaves_the_global_torch_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Player.create(12, 7, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_greedy_takes_the_most_probable_action():
    player = Player.create(12, 7, seed=2)
    with torch.no_grad():
        player.net.policy_head.weight.mul_(100)      # make preferences distinct
    obs = observations()
    actions, log_probs, _ = player.act(obs, greedy=True)
    probs = player.probabilities(obs)
    np.testing.assert_array_equal(actions, probs.argmax(axis=1))
    np.testing.assert_allclose(np.exp(log_probs), probs.max(axis=1), rtol=1e-5)


def test_save_and_load_round_trip_acts_identically(tmp_path):
    player = Player.create(12, 7, hidden=(64, 32), feature_names=NAMES, seed=4)
    path = player.save(tmp_path / "best.pt")
    loaded = Player.load(path, expected=NetSpec(12, 7, (64, 32), feature_names_hash(NAMES)))
    assert loaded.spec == player.spec
    obs = observations()
    np.testing.assert_array_equal(loaded.act(obs, greedy=True)[2], player.act(obs, greedy=True)[2])


@pytest.mark.parametrize(("expected", "reason"), [
    (NetSpec(13, 7, (128, 128), feature_names_hash(NAMES)), "obs_size"),
    (NetSpec(12, 5, (128, 128), feature_names_hash(NAMES)), "n_actions"),
    (NetSpec(12, 7, (64,), feature_names_hash(NAMES)), "hidden"),
    (NetSpec(12, 7, (128, 128), feature_names_hash(NAMES[::-1])), "feature hash"),
])
def test_load_refuses_a_model_that_does_not_fit_and_says_why(tmp_path, expected, reason):
    path = Player.create(12, 7, feature_names=NAMES).save(tmp_path / "m.pt")
    with pytest.raises(ModelMismatchError, match=reason):
        Player.load(path, expected=expected)


def test_act_refuses_observations_of_the_wrong_width():
    with pytest.raises(ModelMismatchError, match="expected"):
        Player.create(12, 7).act(observations(width=11), greedy=True)


def test_clone_is_independent_of_the_original():
    best = Player.create(12, 7)
    current = best.clone()
    with torch.no_grad():
        current.net.value_head.bias.add_(1.0)
    assert not torch.equal(best.net.value_head.bias, current.net.value_head.bias)
