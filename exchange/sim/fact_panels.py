"""Where the stylized facts' panels come from: a folder of 1m bar files, or the generator.

The real side of `entasis sim report` is a folder in the shared CSV format, read by the
project's checked loader (`load_bar_grid`: its 1m files, else its 1h files); the simulated side is another
such folder or the embedded generator run with the real panel's shape: as many coins and
minutes, starting at the same UTC minute (so hour-of-day profiles line up).

A folder may be cut to a time window, `DIR@START..END` (UTC dates or ISO times, either end
optional, END exclusive): years of hourly bars hold regimes one wants to fit on and judge on
apart (binance_1h: 2018-19 vs 2020-22). A window keeps only the coins with at least
`MIN_BARS_PER_COIN` bars inside it (the calibration's own minimum; a coin listed late has too
few), and `window_note` says which were left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from exchange.sim.bar_files import BarFileError, bar_files, load_bar_grid
from exchange.sim.calibrate import MIN_BARS_PER_COIN, simulate_panel
from exchange.sim.generator import GeneratorSource
from exchange.sim.market_params import MarketParams
from exchange.sim.stylized_facts import Panel
from model.market import MINUTE_MS
from model.timeframes import Timeframe

_PANEL_FIELDS = ("open", "high", "low", "close", "quote_volume")
_WINDOW = re.compile(r"^(?P<folder>.+)@(?P<start>[^.]*)\.\.(?P<end>[^.]*)$")


@dataclass(frozen=True, slots=True)
class FolderWindow:
    """A bar folder and, optionally, the time window of it to use ([start_ms, end_ms))."""

    folder: Path
    start_ms: int | None = None
    end_ms: int | None = None

    @classmethod
    def parse(cls, spec: str | Path) -> FolderWindow:
        """`DIR` or `DIR@START..END`; `BarFileError` saying the format for a bad window."""
        text = str(spec)
        match = _WINDOW.match(text)
        if match is None:
            return cls(Path(text))
        start, end = (_utc_ms(match[name], text) for name in ("start", "end"))
        if start is not None and end is not None and end <= start:
            raise BarFileError(f"{text}: the window ends before it starts; write DIR@START..END "
                               "with START before END (END exclusive)")
        return cls(Path(match["folder"]), start, end)


def _utc_ms(value: str, spec: str) -> int | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BarFileError(f"{spec}: {value!r} is not a date; write DIR@START..END with UTC "
                           "dates like 2018-01-01 (or ISO times), either end optional") from None
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)


def panel_from_spec(spec: str | Path) -> tuple[Panel, str]:
    """The panel of `DIR` or `DIR@START..END` (see the module docstring), and a note saying
    what a window left out ("" for a whole folder)."""
    window = FolderWindow.parse(spec)
    panel = panel_from_folder(window.folder)
    if window.start_ms is None and window.end_ms is None:
        return panel, ""
    return windowed(panel, window, str(spec))


def windowed(panel: Panel, window: FolderWindow, label: str) -> tuple[Panel, str]:
    """`panel` cut to `window`'s bars, with the coins that have fewer than
    `MIN_BARS_PER_COIN` bars in it left out; `BarFileError` when none remains."""
    first = 0 if window.start_ms is None else _first_bar_at(panel, window.start_ms)
    stop = panel.minutes if window.end_ms is None else _first_bar_at(panel, window.end_ms)
    cut = panel.rows(max(first, 0), min(max(stop, 0), panel.minutes))
    enough = np.isfinite(cut.close).sum(axis=0) >= MIN_BARS_PER_COIN
    if not enough.any():
        raise BarFileError(f"{label}: no coin has {MIN_BARS_PER_COIN} bars in this window "
                           f"({cut.minutes} bars long); widen it")
    dropped = [symbol for symbol, kept in zip(cut.symbols, enough, strict=True) if not kept]
    kept = Panel(cut.start_ms, cut.open[:, enough], cut.high[:, enough], cut.low[:, enough],
                 cut.close[:, enough], cut.volume[:, enough],
                 tuple(symbol for symbol, kept in zip(cut.symbols, enough, strict=True) if kept),
                 cut.bar_ms)
    note = (f"{label}: {len(dropped)} coins with fewer than {MIN_BARS_PER_COIN} bars in the "
            f"window left out ({', '.join(dropped)})") if dropped else ""
    return kept, note


def _first_bar_at(panel: Panel, ms: int) -> int:
    """The row of the first bar that opens at or after `ms` (may be < 0 or past the end)."""
    return -(-(ms - panel.start_ms) // panel.bar_ms)


def panel_from_folder(folder: Path) -> Panel:
    """The folder's 1m bar files as a panel, or its 1h files where it has no 1m file (the
    binance_1h set); `BarFileError` naming the folder when it has neither (other
    timeframes in it are ignored)."""
    found = bar_files(Path(folder)) if Path(folder).is_dir() else {}
    timeframe = Timeframe.H1 if Timeframe.M1 not in found and Timeframe.H1 in found \
        else Timeframe.M1
    return Panel.from_grid(load_bar_grid(folder, timeframe))


def generated_panel(*, seed: int, coins: int, minutes: int, start_ms: int,
                    params: MarketParams | None = None) -> Panel:
    """`minutes` of the embedded generator's bars for `coins` coins, the first opening at
    `start_ms` (with `params`, of the calibrated market model); a minute the generator left
    without a trade is NaN, as in real data. Params fitted on 1h bars give `minutes` 1h bars
    of the model itself (the embedded exchange runs 1m bars), at price level 1.

    Fewer coins than the params calibrated: `coins` of them drawn at random with `seed`
    (`judged_coins`), so that panels over several seeds read the whole fitted market and
    not always its first coins by name (ADR-117). As many or more: the generator's own
    order, cycling through them."""
    if coins < 1 or minutes < 1:
        raise BarFileError(f"cannot generate {coins} coins x {minutes} minutes: both must be "
                           "at least 1")
    if params is not None and coins < params.coins:
        params = params.coin_subset(judged_coins(params.coins, coins, seed))
    if params is not None and params.bar_minutes != 1:
        return simulate_panel(params, minutes=minutes, start_ms=start_ms, seed=seed,
                              coins=coins)
    source = GeneratorSource(seed=seed, coins=coins, history_minutes=minutes,
                             start_ms=start_ms + minutes * MINUTE_MS, ram_minutes=None,
                             params=params)
    rows = slice(0, minutes)
    traded = np.asarray(source.store.column("traded", rows), dtype=bool)
    columns = {name: np.where(traded, source.store.column(name, rows), np.nan)
               for name in _PANEL_FIELDS}
    return Panel(start_ms=start_ms, open=columns["open"], high=columns["high"],
                 low=columns["low"], close=columns["close"], volume=columns["quote_volume"],
                 symbols=tuple(source.symbols))


def judged_coins(fitted: int, coins: int, seed: int) -> list[int]:
    """`coins` of `fitted` coin indices, drawn without replacement by `seed`, in index
    order: which of a fit's coins a smaller judged panel simulates."""
    rng = np.random.default_rng([seed, fitted, coins])
    return sorted(int(i) for i in rng.choice(fitted, size=coins, replace=False))
