"""The four learners behind one interface: fit on scaled windows, predict scaled returns.

Every model sees the same design: windows [N, L, F] of scaled inputs, oldest first, whose
last step is the current minute. The LSTM reads the whole window; the tree models read the
current step (their strength is interactions of today's features, and a flattened window
would multiply their cost by L for little gain on 1m data). Targets are in units of the
training target's spread (see training.py), so one set of hyperparameters suits every
horizon. Each model saves its weights in its library's native format:

| model | file | format |
|---|---|---|
| lstm | lstm.pt | torch `state_dict` (tensors only, loaded with `weights_only=True`) |
| xgboost | xgboost.json | XGBoost JSON model |
| lightgbm | lightgbm.txt | LightGBM text model |
| random_forest | random_forest.joblib | joblib pickle of the sklearn estimator: **only load
  bundles you made** (a pickle can run code); the manifest's sha256 guards against edits |
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

MODEL_NAMES: tuple[str, ...] = ("lstm", "random_forest", "xgboost", "lightgbm")


@dataclass(frozen=True, slots=True)
class LstmParams:
    """2 layers, dropout 0.2 between them, last hidden state -> linear (the design)."""

    hidden: int = 24
    layers: int = 2
    dropout: float = 0.2
    epochs: int = 4
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5


@dataclass(frozen=True, slots=True)
class ForestParams:
    n_estimators: int = 32
    max_depth: int = 8
    min_samples_leaf: int = 100
    max_features: float = 0.33
    max_samples: float = 0.5


@dataclass(frozen=True, slots=True)
class XgbParams:
    rounds: int = 200
    max_depth: int = 4
    eta: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 50.0


@dataclass(frozen=True, slots=True)
class LgbmParams:
    rounds: int = 150
    num_leaves: int = 15
    learning_rate: float = 0.05
    min_data_in_leaf: int = 200
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8


@dataclass(frozen=True, slots=True)
class ModelParams:
    """Hyperparameters of all four models (recorded in the bundle's manifest)."""

    lstm: LstmParams = field(default_factory=LstmParams)
    random_forest: ForestParams = field(default_factory=ForestParams)
    xgboost: XgbParams = field(default_factory=XgbParams)
    lightgbm: LgbmParams = field(default_factory=LgbmParams)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelParams:
        return cls(LstmParams(**data["lstm"]), ForestParams(**data["random_forest"]),
                   XgbParams(**data["xgboost"]), LgbmParams(**data["lightgbm"]))

    @classmethod
    def tiny(cls) -> ModelParams:
        """Seconds-to-train settings for tests."""
        return cls(LstmParams(hidden=8, epochs=1, batch_size=128), ForestParams(n_estimators=8),
                   XgbParams(rounds=20), LgbmParams(rounds=20, min_data_in_leaf=20))


class Model(Protocol):
    name: str

    def fit(self, windows: np.ndarray, target: np.ndarray, seed: int) -> None:
        """Learn from windows [N, L, F] (float32) and scaled targets [N]."""

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Scaled forecasts [N] (float64) for windows [N, L, F]."""

    def save(self, folder: Path) -> str:
        """Write the native weight file into `folder`; return its name."""


class LstmModel:
    """torch LSTM (2 layers, dropout 0.2) whose last hidden state feeds a linear head."""

    name = "lstm"
    file = "lstm.pt"

    def __init__(self, params: LstmParams, n_inputs: int) -> None:
        import torch

        self.params = params
        self.n_inputs = n_inputs
        self.net = _lstm_net(n_inputs, params)
        self.net.eval()
        self._torch = torch

    def fit(self, windows: np.ndarray, target: np.ndarray, seed: int) -> None:
        torch = self._torch
        torch.manual_seed(seed)
        generator = np.random.default_rng(seed)
        self.net = _lstm_net(self.n_inputs, self.params)
        optimizer = torch.optim.Adam(self.net.parameters(), lr=self.params.learning_rate,
                                     weight_decay=self.params.weight_decay)
        x_all = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        y_all = torch.from_numpy(np.asarray(target, dtype=np.float32))
        self.net.train()
        for _ in range(self.params.epochs):
            order = torch.from_numpy(generator.permutation(len(target)))
            for start in range(0, len(target), self.params.batch_size):
                batch = order[start:start + self.params.batch_size]
                optimizer.zero_grad()
                loss = torch.nn.functional.mse_loss(self.net(x_all[batch]), y_all[batch])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
                optimizer.step()
        self.net.eval()

    def predict(self, windows: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
            return self.net(x).numpy().astype(np.float64)

    def save(self, folder: Path) -> str:
        self._torch.save(self.net.state_dict(), folder / self.file)
        return self.file

    @classmethod
    def load(cls, folder: Path, params: LstmParams, n_inputs: int) -> LstmModel:
        import torch

        model = cls(params, n_inputs)
        model.net.load_state_dict(torch.load(folder / cls.file, weights_only=True))
        model.net.eval()
        return model


def _lstm_net(n_inputs: int, params: LstmParams) -> Any:
    import torch

    class LstmNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(n_inputs, params.hidden, num_layers=params.layers,
                                      dropout=params.dropout if params.layers > 1 else 0.0,
                                      batch_first=True)
            self.head = torch.nn.Linear(params.hidden, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _, (hidden, _) = self.lstm(x)
            return self.head(hidden[-1]).squeeze(-1)

    return LstmNet()


class ForestModel:
    """scikit-learn RandomForestRegressor on the current step's inputs."""

    name = "random_forest"
    file = "random_forest.joblib"

    def __init__(self, params: ForestParams, estimator: Any = None) -> None:
        self.params = params
        self.estimator = estimator

    def fit(self, windows: np.ndarray, target: np.ndarray, seed: int) -> None:
        from sklearn.ensemble import RandomForestRegressor

        p = self.params
        self.estimator = RandomForestRegressor(
            n_estimators=p.n_estimators, max_depth=p.max_depth,
            min_samples_leaf=p.min_samples_leaf, max_features=p.max_features,
            max_samples=p.max_samples, n_jobs=1, random_state=seed)
        self.estimator.fit(windows[:, -1, :], target)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """The forest's mean, summed tree by tree in sklearn's order (so it equals
        `estimator.predict` exactly) without its per-tree joblib dispatch and input checks,
        which cost more than the trees themselves for a batch of 500 rows."""
        rows = np.ascontiguousarray(windows[:, -1, :], dtype=np.float32)
        total = np.zeros(rows.shape[0], dtype=np.float64)
        for tree in self.estimator.estimators_:
            total += tree.tree_.predict(rows).reshape(-1)
        total /= len(self.estimator.estimators_)
        return total

    def save(self, folder: Path) -> str:
        import joblib

        joblib.dump(self.estimator, folder / self.file)
        return self.file

    @classmethod
    def load(cls, folder: Path, params: ForestParams) -> ForestModel:
        import joblib

        return cls(params, joblib.load(folder / cls.file))


class XgbModel:
    """XGBoost booster (hist trees) on the current step's inputs."""

    name = "xgboost"
    file = "xgboost.json"

    def __init__(self, params: XgbParams, booster: Any = None) -> None:
        self.params = params
        self.booster = booster

    def fit(self, windows: np.ndarray, target: np.ndarray, seed: int) -> None:
        import xgboost as xgb

        p = self.params
        train = xgb.DMatrix(windows[:, -1, :], label=target)
        self.booster = xgb.train(
            {"objective": "reg:squarederror", "tree_method": "hist", "max_depth": p.max_depth,
             "eta": p.eta, "subsample": p.subsample, "colsample_bytree": p.colsample_bytree,
             "min_child_weight": p.min_child_weight, "nthread": 1, "seed": seed},
            train, num_boost_round=p.rounds)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.inplace_predict(windows[:, -1, :]), dtype=np.float64)

    def save(self, folder: Path) -> str:
        self.booster.save_model(folder / self.file)
        return self.file

    @classmethod
    def load(cls, folder: Path, params: XgbParams) -> XgbModel:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(folder / cls.file)
        booster.set_param({"nthread": 1})
        return cls(params, booster)


class LgbmModel:
    """LightGBM booster on the current step's inputs."""

    name = "lightgbm"
    file = "lightgbm.txt"

    def __init__(self, params: LgbmParams, booster: Any = None) -> None:
        self.params = params
        self.booster = booster

    def fit(self, windows: np.ndarray, target: np.ndarray, seed: int) -> None:
        import lightgbm as lgb

        p = self.params
        train = lgb.Dataset(windows[:, -1, :], label=target, free_raw_data=True)
        self.booster = lgb.train(
            {"objective": "regression", "num_leaves": p.num_leaves,
             "learning_rate": p.learning_rate, "min_data_in_leaf": p.min_data_in_leaf,
             "feature_fraction": p.feature_fraction, "bagging_fraction": p.bagging_fraction,
             "bagging_freq": 1, "num_threads": 1, "seed": seed, "deterministic": True,
             "verbose": -1},
            train, num_boost_round=p.rounds)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(windows[:, -1, :], num_threads=1),
                          dtype=np.float64)

    def save(self, folder: Path) -> str:
        self.booster.save_model(str(folder / self.file))
        return self.file

    @classmethod
    def load(cls, folder: Path, params: LgbmParams) -> LgbmModel:
        import lightgbm as lgb

        return cls(params, lgb.Booster(model_file=str(folder / cls.file)))


def new_models(params: ModelParams, n_inputs: int,
               names: Sequence[str] = MODEL_NAMES) -> dict[str, Model]:
    """Untrained instances of the models `names` (default all four), in `MODEL_NAMES` order.

    Only the named ones are built: the LSTM imports torch (seconds, hundreds of MB), which a
    tree-only forecast never needs."""
    unknown = sorted(set(names) - set(MODEL_NAMES))
    if unknown or not names:
        raise ValueError(f"models must be a non-empty subset of {', '.join(MODEL_NAMES)}; "
                         f"got {', '.join(names) or 'none'}")
    makers: dict[str, Callable[[], Model]] = {
        "lstm": lambda: LstmModel(params.lstm, n_inputs),
        "random_forest": lambda: ForestModel(params.random_forest),
        "xgboost": lambda: XgbModel(params.xgboost),
        "lightgbm": lambda: LgbmModel(params.lightgbm)}
    return {name: makers[name]() for name in MODEL_NAMES if name in names}


def load_models(folder: Path, params: ModelParams, n_inputs: int) -> dict[str, Model]:
    """The four models from their native files in `folder`."""
    return {"lstm": LstmModel.load(folder, params.lstm, n_inputs),
            "random_forest": ForestModel.load(folder, params.random_forest),
            "xgboost": XgbModel.load(folder, params.xgboost),
            "lightgbm": LgbmModel.load(folder, params.lightgbm)}
