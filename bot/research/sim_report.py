"""`entasis sim report`'s work: load the real and simulated panels, measure the gap, chart it.

Real = the first data folder. The yardstick is the distance between the two data folders
when two are given (two months of one exchange), else between the first and second half in
time of the one. Simulated = a folder in the same format, or the embedded generator shaped
like the real panel (coins, minutes, first minute) with a seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless even if an interactive backend is configured

import numpy as np
from matplotlib.figure import Figure

from exchange.sim.fact_gap import WITHIN, GapRow, gap
from exchange.sim.fact_panels import generated_panel, panel_from_folder, panel_from_spec
from exchange.sim.market_params import MarketParams
from exchange.sim.stylized_facts import (
    MAX_ABS_LAG,
    StylizedFacts,
    mean_facts,
    stylized_facts,
)
from model import errors

DEFAULT_SEED = 7
MIN_REAL_MINUTES = 1440  # a day: below it the hourly and 4h statistics have nothing to say


class SimReportError(errors.DataError, ValueError):
    """Inputs the report cannot measure; the message says which and what to pass instead."""


@dataclass(frozen=True, slots=True)
class SimGapReport:
    """The gap table and the facts behind it, with what each side is."""

    real_label: str
    sim_label: str
    yardstick_label: str
    other_label: str  # the yardstick's second set: the second folder, or the second half
    coins: int
    minutes: int
    rows: list[GapRow]
    sim: StylizedFacts
    real: StylizedFacts
    yardstick_a: StylizedFacts
    yardstick_b: StylizedFacts
    notes: list[str] = field(default_factory=list)  # what a time window left out

    @property
    def within(self) -> int:
        return sum(row.verdict == WITHIN for row in self.rows)

    def as_json(self) -> dict[str, Any]:
        """Everything as one JSON-able object, NaN as null."""
        series = {name: {side: _json_list(getattr(getattr(self, side), name))
                         for side in ("sim", "real", "yardstick_a", "yardstick_b")}
                  for name in ("abs_return_acf", "hour_volume_profile")}
        return {"ok": True, "real": self.real_label, "sim": self.sim_label,
                "yardstick": self.yardstick_label, "coins": self.coins,
                "minutes": self.minutes, "within": self.within, "rows_total": len(self.rows),
                "notes": self.notes,
                "rows": [row.as_json() for row in self.rows], "series": series}


def build_report(data: Sequence[str | Path], sim_dir: Path | None = None,
                 seed: int = DEFAULT_SEED, params: Path | None = None,
                 seeds: int = 1) -> SimGapReport:
    """Measure the gap; `SimReportError` or `BarFileError` (both name the folder) for input
    that cannot be measured. Each of `data` is a folder or `DIR@START..END`, a time window of
    it (exchange/sim/fact_panels.py). `params`: the generator draws from that calibrated
    model (`MarketParamsError` naming the file and field if it cannot). `seeds` > 1: the
    simulated side is the mean over that many panels of the real one's shape (seeds `seed`,
    `seed` + 1, ...; `mean_facts`: statistics averaged, standardized returns pooled), the
    model's expected reading instead of one draw's (ADR-117)."""
    if seeds < 1:
        raise SimReportError(f"--seeds {seeds}: give 1 (one simulated panel) or more")
    if seeds > 1 and sim_dir is not None:
        raise SimReportError("--seeds averages the generator's panels; a --sim folder is one "
                             "panel: leave --seeds out")
    if not 1 <= len(data) <= 2:
        raise SimReportError(f"give one or two --data folders (got {len(data)}): the real "
                             "data, and optionally a second real set as the yardstick")
    real, real_note = panel_from_spec(data[0])
    if real.minutes < MIN_REAL_MINUTES:
        raise SimReportError(f"{data[0]} holds {real.minutes} minutes of 1m bars; the report "
                             f"needs at least {MIN_REAL_MINUTES} (a day)")
    real_facts = stylized_facts(real)
    if len(data) == 2:
        other, other_note = panel_from_spec(data[1])
        yardstick_a, yardstick_b = real_facts, stylized_facts(other)
        yardstick_label, other_label = f"{data[0]} vs {data[1]}", str(data[1])
    else:
        first, second = real.halves()
        other_note = ""
        yardstick_a, yardstick_b = stylized_facts(first), stylized_facts(second)
        yardstick_label = f"{data[0]}: first half vs second half"
        other_label = f"{data[0]}, second half"
    if sim_dir is not None:
        sim_facts, sim_label = stylized_facts(panel_from_folder(sim_dir)), str(sim_dir)
    else:
        model = None if params is None else MarketParams.load(params)
        bar_minutes = 1 if model is None else int(model.bar_minutes)
        if bar_minutes * 60_000 != real.bar_ms:
            raise SimReportError(
                f"{data[0]} holds {real.bar_ms // 60_000}-minute bars, but the "
                f"{'embedded generator' if model is None else params} makes {bar_minutes}-"
                "minute bars; pass --params with a fit on bars of the data's length "
                "(`entasis sim calibrate --data DIR`) or --sim DIR")
        sim_facts = mean_facts([stylized_facts(generated_panel(
            seed=seed + offset, coins=real.coins, minutes=real.minutes,
            start_ms=real.start_ms, params=model)) for offset in range(seeds)])
        sim_label = (f"generator, seed {seed}" if seeds == 1 else
                     f"generator, mean of seeds {seed}-{seed + seeds - 1}") + (
            "" if params is None else f", {params}")
    return SimGapReport(real_label=str(data[0]), sim_label=sim_label,
                        yardstick_label=yardstick_label, other_label=other_label,
                        coins=real.coins,
                        minutes=real.minutes,
                        rows=gap(sim_facts, real_facts, yardstick_a, yardstick_b),
                        sim=sim_facts, real=real_facts, yardstick_a=yardstick_a,
                        yardstick_b=yardstick_b,
                        notes=[note for note in (real_note, other_note) if note])


def gap_chart(report: SimGapReport) -> Figure:
    """ACF of |r| by lag and the hour-of-day volume profiles: simulated, real and the
    yardstick's second set (dashed)."""
    figure = Figure(figsize=(11, 7), layout="constrained")
    acf_axes, profile_axes = figure.subplots(2, 1)
    lags, hours = np.arange(1, MAX_ABS_LAG + 1), np.arange(24)
    lines = (("simulated", report.sim, "#d73027", "-"), ("real", report.real, "#4575b4", "-"),
             (f"yardstick: {report.other_label}", report.yardstick_b, "#4575b4", "--"))
    for label, facts, color, style in lines:
        acf_axes.plot(lags, facts.abs_return_acf, color=color, linestyle=style, label=label)
        profile_axes.plot(hours, facts.hour_volume_profile * 100, color=color,
                          linestyle=style, marker="o", markersize=3, label=label)
    acf_axes.set_title(f"ACF of |1m return| by lag; simulated: {report.sim_label}, real: "
                       f"{report.real_label}")
    acf_axes.set_xlabel("lag (minutes)")
    acf_axes.set_ylabel("autocorrelation")
    profile_axes.set_title("Hour-of-day volume profile (share of a coin's volume, mean over coins)")
    profile_axes.set_xlabel("hour (UTC)")
    profile_axes.set_ylabel("% of volume")
    profile_axes.set_xticks(hours)
    for axes in (acf_axes, profile_axes):
        axes.grid(alpha=0.3)
        axes.legend(loc="best")
    return figure


def _json_list(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in np.asarray(values, dtype=float)]
