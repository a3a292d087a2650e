"""Prometheus metrics on loopback: ticks, decision latency, orders, fills, denials, equity,
VaR, feed staleness and the model version.

Served by aiohttp on the daemon's own loop (not prometheus-client's threaded server), so a
scrape reads the engine, trader and feed from the thread that owns them, with no locks. The
registry is our own, not the library's global one: tests and a second daemon in one process
never collide, and only what we export is exported.

Counts the daemon already keeps (ticks, orders, fills, denials) are read at scrape time by
a custom collector; decision latency is a histogram fed by a sampler that looks at the
engine's newest step every `SAMPLE_EVERY_S` (steps come once per closed minute, one per
second at the sim's default 60x, so none is missed unless steps are faster than 4 Hz).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from bot.data_dir import DataDir

log = logging.getLogger(__name__)

SAMPLE_EVERY_S = 0.25
LATENCY_BUCKETS_MS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the daemon looks like at one scrape (None = not known yet)."""

    ticks: int = 0
    decision_steps: int = 0
    orders: int = 0
    fills: int = 0
    denials: dict[str, int] = field(default_factory=dict)
    equity: float | None = None
    var_frac: float | None = None  # 1-day historical VaR as a fraction of equity
    feed_age_s: float | None = None
    feed_stale: bool | None = None
    feed_market_messages: int = 0  # frames that carried market data
    feed_control_messages: int = 0  # subscription replies, pongs, status frames (ADR-042)
    model_version: str = ""
    trading_state: str = ""
    # impossible data dropped at the feed edge, per reason; bad prints held back
    feed_invalid: dict[str, int] = field(default_factory=dict)
    bad_prints: dict[str, int] = field(default_factory=dict)
    isolated_symbols: int = 0
    decision_errors: int = 0
    # realized vs modeled execution over the last completed orders (trading/execution_monitor)
    slippage_bps: dict[str, float] = field(default_factory=dict)  # "modeled"/"realized"
    fill_rate: dict[str, float] = field(default_factory=dict)
    execution_drifts: int | None = None  # (symbol, side, metric) in drift; None = not watched


def snapshot_of(daemon: Any, var_confidence: float = 0.95) -> Snapshot:
    """Read a `bot.app.daemon.Daemon`'s engine, trader and feed into a Snapshot."""
    engine, trader, feed = daemon.engine, daemon.trader, daemon.feed
    health = feed.health() if feed is not None else None
    equity = float(trader.equity()) if trader is not None else None
    policy = trader.policy if trader is not None else None
    version = (policy.version or f"{policy.name} (rule-based)") if policy is not None else ""
    return Snapshot(
        ticks=engine.ticks_seen if engine is not None else 0,
        decision_steps=engine.steps if engine is not None else 0,
        orders=int(trader.broker.counters()[0]) if trader is not None else 0,
        fills=trader.fills if trader is not None else 0,
        denials=dict(trader.denials) if trader is not None else {},
        equity=equity,
        var_frac=_var(engine, trader, equity, var_confidence),
        feed_age_s=health.last_message_age_s if health is not None else None,
        feed_stale=health.stale if health is not None else None,
        feed_market_messages=health.messages if health is not None else 0,
        feed_control_messages=health.control_messages if health is not None else 0,
        model_version=str(version),
        trading_state=trader.state.mode.value if trader is not None and trader.state else "",
        feed_invalid=dict(getattr(health, "invalid_by_reason", ())),
        bad_prints=_bad_prints(engine),
        isolated_symbols=len(getattr(engine, "isolated", ())),
        decision_errors=getattr(engine, "decision_errors", 0),
        **_execution(trader),
    )


def _execution(trader: Any) -> dict[str, Any]:
    """Realized vs modeled slippage and fill rate, and the drifts, when the trader watches
    its execution (the daemon's does, unless `[execution] enabled = false`)."""
    monitor = getattr(trader, "execution", None)
    if monitor is None:
        return {}
    summary = monitor.summary()
    return {"slippage_bps": {"modeled": summary.modeled_slippage_bps,
                             "realized": summary.realized_slippage_bps},
            "fill_rate": {"modeled": summary.modeled_fill_rate,
                          "realized": summary.realized_fill_rate},
            "execution_drifts": len(monitor.detector.drifting())}


def _bad_prints(engine: Any) -> dict[str, int]:
    """The engine's bad-print counters by outcome (strategies/bad_prints.py)."""
    prints = getattr(engine, "prints", None)
    if prints is None:
        return {}
    c = prints.counts()
    return {"bar_quarantined": c.quarantined_bars, "bar_released": c.released_bars,
            "bar_rejected": c.rejected_bars, "tick_quarantined": c.quarantined_ticks}


def _var(engine: Any, trader: Any, equity: float | None, confidence: float) -> float | None:
    """The portfolio's 1-day historical VaR from the book's last day of 1m returns."""
    if engine is None or trader is None or not equity or equity <= 0:
        return None
    from risk.var import ReturnHistory, portfolio_risk

    values = {s: float(p.amount * trader.last_price.get(s, p.avg_price))
              for s, p in trader.positions.items() if p.amount > 0}
    if not values:
        return 0.0
    try:
        book = engine.book
        history = ReturnHistory.of_bars(book.symbols, book.recent_returns(1440), book.bar_ms)
        return portfolio_risk(values, equity, history, confidence).var_hist_frac
    except (KeyError, ValueError):
        return None  # too little history yet: say "unknown", not 0


class DaemonCollector(Collector):
    """Turns a `Snapshot` into Prometheus metric families at every scrape."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self._snapshot()
        yield CounterMetricFamily("entasis_ticks", "Tickers received by the engine.", s.ticks)
        yield CounterMetricFamily("entasis_decision_steps", "Decision steps run.",
                                  s.decision_steps)
        yield CounterMetricFamily("entasis_orders", "Orders submitted (client order ids).",
                                  s.orders)
        yield CounterMetricFamily("entasis_fills", "Fills (partial and full).", s.fills)
        denials = CounterMetricFamily("entasis_risk_denials", "Risk gate denials by reason.",
                                      labels=["reason"])
        for reason, count in sorted(s.denials.items()):
            denials.add_metric([reason], count)
        yield denials
        for name, doc, value in (
                ("entasis_equity", "Account equity in the quote asset.", s.equity),
                ("entasis_var_1d_fraction", "1-day 95% historical VaR / equity.", s.var_frac),
                ("entasis_feed_last_message_age_seconds", "Seconds since the feed's last "
                 "market-data message (feed staleness).", s.feed_age_s)):
            if value is not None and math.isfinite(value):
                yield GaugeMetricFamily(name, doc, value)
        if s.feed_stale is not None:
            yield GaugeMetricFamily("entasis_feed_stale", "1 when the feed is stale.",
                                    float(s.feed_stale))
        frames = CounterMetricFamily("entasis_feed_messages", "Feed frames by kind: market "
                                     "data, or control (replies, pongs, status).",
                                     labels=["kind"])
        frames.add_metric(["market"], s.feed_market_messages)
        frames.add_metric(["control"], s.feed_control_messages)
        yield frames
        invalid = CounterMetricFamily("entasis_feed_invalid", "Ticks, bars and rows dropped at "
                                      "the feed edge as impossible, by reason.",
                                      labels=["reason"])
        for reason, count in sorted(s.feed_invalid.items()):
            invalid.add_metric([reason], count)
        yield invalid
        prints = CounterMetricFamily("entasis_bad_prints", "Prints far outside the recent "
                                     "range, by outcome: held back, released once confirmed, "
                                     "rejected.", labels=["outcome"])
        for outcome, count in sorted(s.bad_prints.items()):
            prints.add_metric([outcome], count)
        yield prints
        yield GaugeMetricFamily("entasis_isolated_symbols", "Symbols whose market data is "
                                "ignored after applying it raised.", s.isolated_symbols)
        yield CounterMetricFamily("entasis_decision_errors", "Decision steps that raised.",
                                  s.decision_errors)
        yield from _execution_metrics(s)
        info = GaugeMetricFamily("entasis_model_info", "The trading policy's model version.",
                                 labels=["version"])
        info.add_metric([s.model_version or "none"], 1)
        yield info
        if s.trading_state:
            state = GaugeMetricFamily("entasis_trading_state", "1 for the current state.",
                                      labels=["state"])
            state.add_metric([s.trading_state], 1)
            yield state


def _execution_metrics(s: Snapshot) -> Iterator[Metric]:
    """The execution feedback loop's figures (none before an order completed)."""
    for name, doc, values in (
            ("entasis_execution_slippage_bps", "Mean slippage vs the decision mid over the "
             "last completed orders with a fill, bps: realized and as the fill model expected.",
             s.slippage_bps),
            ("entasis_execution_fill_rate", "Mean filled share within the horizon over the "
             "last completed orders: realized and as the fill model expected.", s.fill_rate)):
        finite = {kind: v for kind, v in values.items() if math.isfinite(v)}
        if finite:
            family = GaugeMetricFamily(name, doc, labels=["kind"])
            for kind, value in sorted(finite.items()):
                family.add_metric([kind], value)
            yield family
    if s.execution_drifts is not None:
        yield GaugeMetricFamily("entasis_execution_drifts", "Symbol, side and metric pairs "
                                "whose realized execution drifts from the fill model.",
                                s.execution_drifts)


class MetricsServer:
    """`GET /metrics` on loopback from an own registry; writes its port to metrics.json."""

    def __init__(self, snapshot: Callable[[], Snapshot], host: str = "127.0.0.1",
                 port: int = 0, data_dir: Path | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(DaemonCollector(snapshot))
        self.latency = Histogram("entasis_decision_latency_ms", "Decision step latency (ms).",
                                 buckets=LATENCY_BUCKETS_MS, registry=self.registry)
        self._host, self._port, self._data_dir = host, port, data_dir
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        """Listen; the bound port (useful with port 0) goes to `port` and metrics.json."""
        app = web.Application()
        app.router.add_get("/metrics", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr,attr-defined]
        self.port = sockets[0].getsockname()[1]
        if self._data_dir is not None:
            DataDir(self._data_dir).metrics.write_text(
                json.dumps({"host": self._host, "port": self.port}))
        log.info("metrics on http://%s:%d/metrics", self._host, self.port)

    async def stop(self) -> None:
        """Stop listening and remove metrics.json."""
        if self._data_dir is not None:
            DataDir(self._data_dir).metrics.unlink(missing_ok=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def serve(daemon: Any, host: str = "127.0.0.1", port: int = 0) -> None:
    """The daemon's metrics task: serve until cancelled, sampling decision latency."""
    server = MetricsServer(lambda: snapshot_of(daemon, daemon.config.risk.var_confidence),
                           host, port, daemon.config.data_dir)
    await server.start()
    seen = -1
    try:
        while True:
            latest = daemon.engine.latest if daemon.engine is not None else None
            if latest is not None and latest.index != seen:
                server.latency.observe(latest.latency_ms)
                seen = latest.index
            await asyncio.sleep(SAMPLE_EVERY_S)
    finally:
        await server.stop()
