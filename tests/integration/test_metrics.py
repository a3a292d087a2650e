"""The Prometheus endpoint, scraped over HTTP on 127.0.0.1 like Prometheus would."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bot.ops.metrics import MetricsServer, Snapshot

METRICS_FILE = "metrics.json"  # bot.data_dir.DataDir.metrics: tools read this name


async def scrape(port: int) -> tuple[str, dict[str, list]]:
    async with (aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/metrics") as response):
            assert response.status == 200
            content_type = response.headers["Content-Type"]
            text = await response.text()
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return content_type, samples


def value(samples: dict[str, list], name: str, **labels: str) -> float:
    matching = [s.value for s in samples[name] if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matching) == 1, (name, labels, samples.get(name))
    return matching[0]


def test_scrape_exports_every_figure_from_the_snapshot(tmp_path: Path) -> None:
    snapshot = Snapshot(ticks=1234, decision_steps=7, orders=5, fills=3,
                        denials={"VAR_LIMIT": 2, "MAX_POSITIONS": 1}, equity=10_012.5,
                        var_frac=0.0123, feed_age_s=0.4, feed_stale=False,
                        feed_market_messages=900, feed_control_messages=4,
                        model_version="g0003", trading_state="ACTIVE",
                        slippage_bps={"modeled": 1.5, "realized": 4.25},
                        fill_rate={"modeled": 0.8, "realized": 0.5}, execution_drifts=2)

    async def scenario() -> tuple[str, dict[str, list], int]:
        server = MetricsServer(lambda: snapshot, "127.0.0.1", 0, tmp_path)
        await server.start()
        try:
            assert json.loads((tmp_path / METRICS_FILE).read_text())["port"] == server.port
            for latency_ms in (0.7, 3.0, 40.0):
                server.latency.observe(latency_ms)
            content_type, samples = await scrape(server.port)
            return content_type, samples, server.port
        finally:
            await server.stop()

    content_type, samples, _ = asyncio.run(scenario())
    assert content_type.startswith("text/plain")
    assert value(samples, "entasis_ticks_total") == 1234
    assert value(samples, "entasis_decision_steps_total") == 7
    assert value(samples, "entasis_orders_total") == 5
    assert value(samples, "entasis_fills_total") == 3
    assert value(samples, "entasis_risk_denials_total", reason="VAR_LIMIT") == 2
    assert value(samples, "entasis_risk_denials_total", reason="MAX_POSITIONS") == 1
    assert value(samples, "entasis_equity") == 10_012.5
    assert value(samples, "entasis_var_1d_fraction") == 0.0123
    assert value(samples, "entasis_feed_last_message_age_seconds") == 0.4
    assert value(samples, "entasis_feed_stale") == 0
    assert value(samples, "entasis_feed_messages_total", kind="market") == 900
    assert value(samples, "entasis_feed_messages_total", kind="control") == 4
    assert value(samples, "entasis_model_info", version="g0003") == 1
    assert value(samples, "entasis_trading_state", state="ACTIVE") == 1
    assert value(samples, "entasis_execution_slippage_bps", kind="modeled") == 1.5
    assert value(samples, "entasis_execution_slippage_bps", kind="realized") == 4.25
    assert value(samples, "entasis_execution_fill_rate", kind="modeled") == 0.8
    assert value(samples, "entasis_execution_fill_rate", kind="realized") == 0.5
    assert value(samples, "entasis_execution_drifts") == 2
    assert value(samples, "entasis_decision_latency_ms_count") == 3
    assert value(samples, "entasis_decision_latency_ms_bucket", le="5.0") == 2
    assert not (tmp_path / METRICS_FILE).exists(), "metrics.json is removed at stop"


def test_unknown_figures_are_left_out_and_the_global_registry_stays_clean(tmp_path: Path) -> None:
    async def scenario() -> dict[str, list]:
        server = MetricsServer(lambda: Snapshot(), "127.0.0.1", 0)
        await server.start()
        try:
            return (await scrape(server.port))[1]
        finally:
            await server.stop()

    samples = asyncio.run(scenario())
    assert "entasis_equity" not in samples and "entasis_var_1d_fraction" not in samples
    assert "entasis_execution_fill_rate" not in samples  # no execution watched (a backtest)
    assert "entasis_execution_drifts" not in samples
    assert value(samples, "entasis_model_info", version="none") == 1
    assert REGISTRY.get_sample_value("entasis_ticks_total") is None  # our own registry only
