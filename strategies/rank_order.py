"""The order of a ranking's coins: the top K by score, equal scores by symbol.

Apart from strategies/ranking.py, which uses them, to keep that module to a few screens:
`_top_candidates` is the array definition of the selection that the compiled ranking
(strategies/rank_select_kernel.py) is held to, and `_name_ranks` is the symbol order that
kernel takes (numpy's string order, as lexsort's).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np


def _top_candidates(probability: np.ndarray, eligible: np.ndarray, symbols: Sequence[str],
                    top_k: int) -> np.ndarray:
    """The rows of the at most `top_k` eligible coins with a finite probability, best
    first; equal scores by symbol, then by row (lexsort is stable)."""
    candidates = np.flatnonzero(eligible & np.isfinite(probability))
    names_of = _symbol_array(tuple(symbols))[candidates]
    # lexsort: the last key is primary (higher score first), then the symbol (ascending).
    return candidates[np.lexsort((names_of, -probability[candidates]))][:top_k]


@lru_cache(maxsize=8)
def _name_ranks(symbols: tuple[str, ...]) -> np.ndarray:
    """Each symbol's rank among the sorted names, in numpy's string order (lexsort's):
    equal names share a rank (read only; cached: the universe is fixed)."""
    ranks = np.unique(_symbol_array(symbols), return_inverse=True)[1].astype(np.int64)
    ranks.flags.writeable = False
    return ranks


@lru_cache(maxsize=8)
def _symbol_array(symbols: tuple[str, ...]) -> np.ndarray:
    """The symbols as a numpy string array (read only; cached: the universe is fixed)."""
    names = np.asarray(symbols, dtype=str)
    names.flags.writeable = False
    return names
