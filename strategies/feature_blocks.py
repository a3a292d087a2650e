"""Features of grids too big for one pass: computed over blocks of symbols, written into
one preallocated output, only the columns and rows a consumer needs.

`features_from_history(grid)` holds about 175 float64 temporaries per bar-coin cell at its
peak (2.1 GB on 1.5M cells of hourly bars); on 9.5M cells of 5m bars that would be 11 GB,
and its float64 output alone [T, n, 46] 3.5 GB. Every window statistic is per symbol (each
column of the grid is computed on its own, along time), so the same numbers come out when
the grid is cut into blocks of symbols: peak memory is then the output plus one block's
temporaries (`block_cells` bar-coin cells of look-back at a time).

Rows: a consumer that needs rows [start_row, stop_row) only gets them, computed from the
grid's first row up to `stop_row` (the look-back of every window and forward-fill), never
from a row after: the window sums are chunked from row 0 and the forward-fill looks back
without limit, so starting later would change the last bits. Values are bit-identical to
`features_from_history(grid)[start_row:stop_row]` (tests/unit/test_feature_blocks.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from strategies.feature_columns import FEATURE_INDEX, FEATURE_NAMES
from strategies.features_batch import MinuteGrid, features_from_history
from strategies.ranking import (
    MIN_WARM_MINUTES,
    RankingSettings,
    barrier_probability,
    score_features,
)
from strategies.windows import RETURN_LABELS

#: Bar-coin cells of look-back per block: about 1.3 KB of temporaries each, so ~520 MB.
#: Larger blocks are faster (numpy's loops over few columns are slow: the 5m set's ranking
#: features took 73 s in blocks of 200,000 cells, ~45 s in blocks of 600,000).
BLOCK_CELLS = 400_000

#: The feature columns `score_features` reads (ranking.py), in one order.
RANKING_FEATURES: tuple[str, ...] = (
    *(f"ret_{label}" for label in RETURN_LABELS),
    *(f"trend_z_{label}" for label in RETURN_LABELS),
    "sigma_1h", "sigma_1d", "warm_minutes", "spread_bps", "tick_turnover_24h", "turnover_1d",
)


def row_span(grid: MinuteGrid, start_row: int, stop_row: int | None) -> tuple[int, int]:
    """(start, stop) of a row range of `grid`, checked; ValueError naming the bounds."""
    length = grid.close.shape[0]
    stop = length if stop_row is None else stop_row
    if not 0 <= start_row <= stop <= length:
        raise ValueError(f"rows {start_row}..{stop} are not within the grid's 0..{length}: "
                         "pass 0 <= start_row <= stop_row <= rows")
    return start_row, stop


def symbol_blocks(n_rows: int, n_symbols: int, block_cells: int = BLOCK_CELLS
                  ) -> Iterator[slice]:
    """Consecutive column slices of at least one symbol and at most `block_cells` cells
    of `n_rows` rows each."""
    if block_cells < 1:
        raise ValueError(f"block_cells must be >= 1, got {block_cells}")
    width = max(1, block_cells // max(n_rows, 1))
    for first in range(0, n_symbols, width):
        yield slice(first, min(first + width, n_symbols))


def grid_block(grid: MinuteGrid, columns: slice, stop_row: int) -> MinuteGrid:
    """The grid's symbols `columns` over rows [0, stop_row), same type and bar length."""
    return dataclasses.replace(
        grid, symbols=grid.symbols[columns],
        **{name: getattr(grid, name)[:stop_row, columns]
           for name in ("open", "high", "low", "close", "quote_volume")})


def feature_columns_from_history(grid: MinuteGrid, names: Sequence[str] = FEATURE_NAMES, *,
                                 start_row: int = 0, stop_row: int | None = None,
                                 dtype: type[np.floating] | np.dtype = np.float64,
                                 block_cells: int = BLOCK_CELLS) -> np.ndarray:
    """Features `names` [stop - start, n_symbols, len(names)] of rows [start_row,
    stop_row) of `grid`, in `dtype`: `features_from_history(grid)[start:stop][..., names]`
    bit for bit (before the cast), computed a block of symbols at a time."""
    unknown = [name for name in names if name not in FEATURE_INDEX]
    if unknown:
        raise KeyError(f"no features {unknown}; the names are strategies.feature_columns."
                       "FEATURE_NAMES")
    start, stop = row_span(grid, start_row, stop_row)
    index = [FEATURE_INDEX[name] for name in names]
    out = np.empty((stop - start, len(grid.symbols), len(index)), dtype=dtype)
    for columns in symbol_blocks(stop, len(grid.symbols), block_cells):
        block = features_from_history(grid_block(grid, columns, stop), at=slice(start, stop))
        out[:, columns] = block[..., index]
    return out


@dataclass(frozen=True, slots=True)
class GridScores:
    """What a ranking policy reads of `score_features` at every row of a grid, [T, n]:
    the probability (NaN where not eligible), the drift and sigma per minute, and the
    eligibility. The per-window contributions are left out (4 float64 per cell)."""

    probability: np.ndarray
    drift: np.ndarray
    sigma: np.ndarray
    eligible: np.ndarray


def ranking_scores_from_history(grid: MinuteGrid, config: RankingSettings, *,
                                start_row: int = 0, stop_row: int | None = None,
                                min_warm_minutes: int = MIN_WARM_MINUTES,
                                require_quotes: bool = False,
                                block_cells: int = BLOCK_CELLS) -> GridScores:
    """The ranking of every row in [start_row, stop_row) of `grid`, as `rank` computes it
    at that step from that row's features, without the full feature tensor.

    Drift, sigma and eligibility are `score_features` of the whole tensor bit for bit,
    computed from `RANKING_FEATURES` of one block of symbols at a time; the probability
    is then computed row by row (`barrier_probability(by_row=True)`): one series over the
    whole [T, n] array would hold T x n x images temporaries and give a row other last bits
    than the decision step computes. Bar-only grids have no quotes, so `require_quotes`
    defaults to False here."""
    start, stop = row_span(grid, start_row, stop_row)
    shape = (stop - start, len(grid.symbols))
    drift, sigma = np.empty(shape), np.empty(shape)
    eligible = np.empty(shape, dtype=bool)
    index = [FEATURE_INDEX[name] for name in RANKING_FEATURES]
    for columns in symbol_blocks(stop, len(grid.symbols), block_cells):
        features = features_from_history(grid_block(grid, columns, stop),
                                         at=slice(start, stop))[..., index]
        block = score_features(features, RANKING_FEATURES, config,
                               min_warm_minutes=min_warm_minutes,
                               require_quotes=require_quotes, bar_ms=grid.bar_ms,
                               with_probability=False)
        drift[:, columns], sigma[:, columns] = block.drift, block.sigma
        eligible[:, columns] = block.eligible
    probability = barrier_probability(drift, sigma, eligible, config, by_row=True)
    return GridScores(probability=probability, drift=drift, sigma=sigma, eligible=eligible)
