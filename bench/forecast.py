"""Ensemble forecast: batched inference latency for 500 symbols, and training time per fold.

Measured in one run:
- **inference**: `Forecaster.predict` on windows [500, seq_len, F] — all four models
  (LSTM, RandomForest, XGBoost, LightGBM) once each over the whole batch, the ensemble and
  the confidence — p50/p99 over 200 steps, with each model's share; beside the **baseline**
  the same models called once per symbol (a batch of one, 500 times), the way a per-coin
  loop would serve them. Target: p99 <= 20 ms on CPU.
- **live inputs**: `LiveInputs.from_book` for 500 symbols (book features + indicators over
  the last 300 minutes of closes + the LSTM ring), the other half of a forecast step.
- **training**: seconds per walk-forward fold and for the final refit, per model, on a
  seeded synthetic market shaped like the Bittrex training set (20 coins, every 5th
  minute), default hyperparameters, torch on one thread.
All on one thread per library (torch, xgboost, lightgbm, sklearn n_jobs=1): the daemon
shares its CPU with the loop, and the machine has 2 cores.
"""

from __future__ import annotations

import gc
import time
from functools import partial

import numpy as np

from bench.common import console, percentiles_ms, show, time_each
from model.market import MINUTE_MS, BarHistory
from strategies.features import FeatureBook
from strategies.forecast.bundle import Bundle
from strategies.forecast.dataset import build_panel, sequences
from strategies.forecast.models import MODEL_NAMES
from strategies.forecast.serving import Forecaster, LiveInputs
from strategies.forecast.synthetic import synthetic_grid
from strategies.forecast.training import TrainConfig, train_horizon

N_SYMBOLS = 500
TARGET_P99_MS = 20.0
HORIZON = 60
TRAIN_COINS, TRAIN_MINUTES = 20, 9000
STEPS = 200
BASELINE_STEPS = 3


def _windows(panel, config: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    """500 realistic input windows drawn from the synthetic panel's usable rows."""
    rows, cols = np.nonzero(panel.usable())
    pick = rng.choice(rows.size, N_SYMBOLS, replace=False)
    return sequences(panel.inputs, rows[pick], cols[pick], config.seq_len, config.seq_stride)


def _book(rng: np.random.Generator, minutes: int = 400) -> tuple[FeatureBook, np.ndarray]:
    grid = synthetic_grid(7, N_SYMBOLS, minutes, gap_share=0.0)
    symbols = grid.symbols
    book = FeatureBook(symbols)
    open_ms = grid.start_ms + MINUTE_MS * np.arange(minutes, dtype=np.int64)
    for i, symbol in enumerate(symbols):
        qv = grid.quote_volume[:, i]
        book.load_history(BarHistory(symbol, open_ms, grid.open[:, i], grid.high[:, i],
                                     grid.low[:, i], grid.close[:, i], qv / grid.close[:, i], qv))
    book.advance_to(int(open_ms[-1]))
    return book, open_ms


def run() -> dict:
    """Train on a synthetic market, then time inference; print tables, return figures."""
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(5)
    config = TrainConfig(horizons=(HORIZON,))
    console.print(f"training h={HORIZON}m on {TRAIN_COINS} synthetic coins x {TRAIN_MINUTES} "
                  f"minutes ({config.folds} folds + final refit)...")
    panel = build_panel(synthetic_grid(1, TRAIN_COINS, TRAIN_MINUTES))
    started = time.perf_counter()
    model, folds = train_horizon(panel, HORIZON, config)
    train_s = time.perf_counter() - started
    forecaster = Forecaster(Bundle({HORIZON: model}, config, {}), HORIZON, "designed")
    windows = _windows(panel, config, rng)

    gc.disable()
    try:
        for _ in range(5):  # warm caches and lazy initialisation
            forecaster.predict(windows)
        batched = time_each(lambda: forecaster.predict(windows), STEPS)
        scaled = model.scaler.transform(windows)
        per_model = {name: time_each(partial(model.models[name].predict, scaled), 50)
                     for name in MODEL_NAMES}
        one_by_one = time_each(lambda: [forecaster.predict(windows[i:i + 1])
                                        for i in range(N_SYMBOLS)], BASELINE_STEPS)
        book, open_ms = _book(rng)
        features = book.matrix()
        live = LiveInputs(N_SYMBOLS, config.seq_len, config.seq_stride)
        minute = int(open_ms[-1]) // MINUTE_MS
        inputs = time_each(lambda: live.from_book(book, features, minute), STEPS)
    finally:
        gc.enable()

    b, o, i = percentiles_ms(batched), percentiles_ms(one_by_one), percentiles_ms(inputs)
    met = "met" if b["p99_ms"] <= TARGET_P99_MS else "NOT met"
    show(f"Forecast inference, {N_SYMBOLS} symbols, 4 models + ensemble + confidence",
         ["path", "p50 ms", "p99 ms", "vs batched"],
         [["batched (one call per model)", f"{b['p50_ms']:.2f}", f"{b['p99_ms']:.2f}", "1.0x"],
          *[[f"  of which {name}", f"{float(np.median(s)):.2f}",
             f"{float(np.percentile(s, 99)):.2f}", ""] for name, s in per_model.items()],
          ["baseline: one symbol at a time", f"{o['p50_ms']:.1f}", f"{o['p99_ms']:.1f}",
           f"{o['p50_ms'] / b['p50_ms']:.0f}x slower"],
          ["live inputs from the book (indicators + ring)", f"{i['p50_ms']:.2f}",
           f"{i['p99_ms']:.2f}", ""]])
    console.print(f"target p99 <= {TARGET_P99_MS} ms: [bold]{met}[/bold]")
    rows = []
    for (fold, scaler), seconds in zip(folds, model.fold_seconds):
        rows.append([f"fold {fold.index + 1}", str(scaler.rows_seen),
                     *[f"{seconds[n]:.1f}" for n in MODEL_NAMES],
                     f"{sum(seconds.values()):.1f}"])
    rows.append(["final refit", str(model.scaler.rows_seen),
                 *[f"{model.final_seconds[n]:.1f}" for n in MODEL_NAMES],
                 f"{sum(model.final_seconds.values()):.1f}"])
    show(f"Training seconds per walk-forward fold (h={HORIZON}m, {model.train_rows} rows in "
         "the final refit)", ["fold", "train rows", *MODEL_NAMES, "total"], rows)
    return {
        "symbols": N_SYMBOLS,
        "batched": b, "one_by_one": o, "live_inputs": i,
        "per_model_p50_ms": {n: round(float(np.median(s)), 4) for n, s in per_model.items()},
        "speedup_vs_one_by_one": round(o["p50_ms"] / b["p50_ms"], 1),
        "target_p99_ms": TARGET_P99_MS, "target_met": b["p99_ms"] <= TARGET_P99_MS,
        "train_s_total": round(train_s, 1), "fold_seconds": model.fold_seconds,
        "final_seconds": model.final_seconds, "final_train_rows": model.train_rows,
    }
