"""Ensemble forecast of forward log returns: LSTM + RandomForest + XGBoost + LightGBM.

Modules, inward to outward: `indicators` (SMA/RSI/MACD on a close grid), `dataset` (model
inputs and targets from a minute grid, the same formulas live and offline), `splits`
(purged, embargoed walk-forward folds), `scaling` (fit on training rows only), `models`
(the four learners behind one interface), `ensemble` (designed / inverse-error / stacked
weights and the confidence calibration), `training`, `bundle` (save/load with a manifest),
`serving` (batched inference at a decision step), `monitor` (live realized-vs-forecast
error), `metrics` and `evaluation` (the offline report), `policy` (top-decile long for the
backtester). Pure: no sockets and no clocks; only `bundle` touches files.
"""
