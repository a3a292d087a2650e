"""The forecast in the decision step: engine -> forecast service -> ranking -> policy -> risk
sizing -> decisions table, with a real (tiny) bundle, feature book, paper broker and ledger."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from bot.app.assembly import make_trader
from bot.app.forecast_service import forecast_service
from bot.config import load_config
from model.instruments import Instrument
from model.market import MINUTE_MS, Bar, BarHistory, Tick
from state.ledger import Ledger
from strategies.forecast.bundle import load_bundle, save_bundle
from strategies.forecast.dataset import build_panel, sequences
from strategies.forecast.models import ModelParams
from strategies.forecast.serving import Forecaster
from strategies.forecast.synthetic import synthetic_grid
from strategies.forecast.training import TrainConfig, train
from trading.engine import Engine

CONFIG = TrainConfig(horizons=(15,), folds=2, embargo_minutes=30, row_stride=15,
                     params=ModelParams.tiny())
HISTORY = 1500  # minutes loaded as backfill; the rest is played bar by bar
MINUTES = 1560


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    panel = build_panel(synthetic_grid(seed=11, n_symbols=4, minutes=2400))
    folder = save_bundle(tmp_path_factory.mktemp("fc") / "bundle", train(panel, CONFIG), CONFIG)
    torch.set_num_threads(previous)
    return folder


def _config(tmp_path: Path, bundle: Path, enabled: bool = True):
    toml = tmp_path / "config.toml"
    toml.write_text(f'[forecast]\nenabled = {str(enabled).lower()}\nbundle = "{bundle}"\n'
                    'horizons = [15]\nhorizon = 15\nweights_mode = "stacking"\n'
                    '[trading]\nquote_asset = "BTC"\n[strategy]\nmax_spread_bps = 500.0\n')
    return load_config(toml, environ={})


def _instrument(symbol: str) -> Instrument:
    return Instrument(symbol=symbol, base=symbol.removesuffix("BTC"), quote="BTC",
                      tick=Decimal("1e-8"), lot=Decimal("0.01"), min_notional=Decimal("1e-4"),
                      min_qty=Decimal("0.01"), max_qty=Decimal(10**9),
                      max_price=Decimal(1000))


def test_decision_step_serves_the_forecast_to_ranking_sizing_and_the_decisions_table(
        bundle_dir: Path, tmp_path: Path, one_torch_thread) -> None:
    grid = synthetic_grid(seed=12, n_symbols=5, minutes=MINUTES, gap_share=0.0)
    config = _config(tmp_path, bundle_dir)
    instruments = [_instrument(s) for s in grid.symbols]
    ledger = Ledger.open(tmp_path / "ledger.sqlite", instruments={i.symbol: i for i in instruments})
    trader = make_trader(config, instruments, ledger, policy="baseline", quote_asset="BTC",
                         balance=Decimal(1))
    trader.open_account(Decimal(1), grid.start_ms)
    service = forecast_service(config, len(grid.symbols))
    assert service is not None
    engine = Engine(list(grid.symbols), config.strategy, trader=trader, forecast=service)
    open_ms = grid.start_ms + np.arange(MINUTES) * MINUTE_MS
    for i, symbol in enumerate(grid.symbols):
        engine.on_history(BarHistory(symbol, open_ms[:HISTORY], grid.open[:HISTORY, i],
                                     grid.high[:HISTORY, i], grid.low[:HISTORY, i],
                                     grid.close[:HISTORY, i],
                                     grid.quote_volume[:HISTORY, i] / grid.close[:HISTORY, i],
                                     grid.quote_volume[:HISTORY, i]))
    for t in range(HISTORY, MINUTES):
        for i, symbol in enumerate(grid.symbols):
            engine.on_bar(Bar(symbol, int(open_ms[t]), float(grid.open[t, i]),
                              float(grid.high[t, i]), float(grid.low[t, i]),
                              float(grid.close[t, i]),
                              float(grid.quote_volume[t, i] / grid.close[t, i]),
                              float(grid.quote_volume[t, i])))
            # A quote inside the minute: ranking needs a spread; "last" stays the bar close
            # because the tick is older than the bar's close.
            close = float(grid.close[t, i])
            engine.on_tick(Tick(symbol, int(open_ms[t]) + 30_000, int(open_ms[t]) + 30_000,
                                close, close * 0.9995, close * 1.0005, 5.0, 5.0, 1e3, 50.0))
        engine.decide()
    ranking = engine.latest.ranking
    assert ranking, "eligible coins expected after a day of history"
    # The served forecast equals the offline path's at the same minute (no ticks were applied).
    panel = build_panel(grid)
    forecaster = Forecaster(load_bundle(bundle_dir), 15, "stacking")
    offline = forecaster.predict(sequences(panel.inputs, np.full(5, MINUTES - 1), np.arange(5),
                                           CONFIG.seq_len, CONFIG.seq_stride))
    for coin in ranking:
        i = grid.symbols.index(coin.symbol)
        assert coin.forecast_return == pytest.approx(offline.expected_return[i], rel=1e-3, abs=1e-7)
        assert 0 < coin.forecast_confidence <= 1
        assert coin.reasons[0][0].startswith("forecast ")
        assert coin.drift == pytest.approx(coin.forecast_return / 15)
    rows = ledger.decisions(limit=1000)
    with_forecast = [r for r in rows if r.forecast_return is not None]
    assert with_forecast and all(0 < r.forecast_confidence <= 1 for r in with_forecast)
    for row in with_forecast:
        if row.action == "BUY" and row.verdict == "APPROVED":  # sized by the confidence
            assert f"× {row.forecast_confidence:.4f}".rstrip("0") in row.sizing
    status = service.status()
    assert status["enabled"] and status["steps"] == MINUTES - HISTORY
    assert status["monitor"]["resolved"] == (MINUTES - HISTORY - 15) * 5
    ledger.close()


def test_baseline_entry_takes_the_forecast_confidence_for_risk_sizing() -> None:
    """Given a ranked coin with a forecast, the BUY the risk gate sizes carries the
    forecast's confidence (the "confidence" of the 2% rule), not the ranking score."""
    from strategies.baselines import BaselinePolicy
    from strategies.policy import Action, DecisionView, Quote
    from strategies.ranking import RankedCoin

    coin = RankedCoin("AAABTC", 0.4, 1e-5, 1e-3, (("forecast +0.1%", 1e-3),), 1e-3, 0.57)
    plain = RankedCoin("BBBBTC", 0.4, 1e-5, 1e-3, ())
    view = DecisionView(ts_ms=0, symbols=("AAABTC", "BBBBTC"), features=np.zeros((2, 1)),
                        feature_names=("x",), ranking=(coin, plain),
                        quotes={s: Quote(1.0, 0.99, 1.01) for s in ("AAABTC", "BBBBTC")},
                        holdings={}, open_orders=(), equity=1.0)
    # weighing no cost (strategies/edge.py): the quotes are 2 % wide, the edges a few bps
    buys = {a.symbol: a for a in BaselinePolicy(edge_cost_margin=-1).decide(view)
            if a.action is Action.BUY}
    assert buys["AAABTC"].confidence == 0.57
    assert buys["BBBBTC"].confidence == 0.4  # no forecast: the score, as before


def test_daemon_runs_without_a_bundle_and_says_why(tmp_path: Path, caplog) -> None:
    config = _config(tmp_path, tmp_path / "missing")
    with caplog.at_level(logging.WARNING):
        assert forecast_service(config, 3) is None
    assert "forecast disabled" in caplog.text and "forecast train" in caplog.text
    assert forecast_service(_config(tmp_path, tmp_path / "missing", enabled=False), 3) is None
