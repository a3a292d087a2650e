"""A ranked coin's reasons: its three strongest momentum windows in words, with the JSON text
the decisions table stores them as.

Apart from strategies/ranking.py because the words of every ranked coin are written every
decision step (ten rows a minute): they are formatted in bulk, one `%` over a template per
window order, and the ledger's JSON text of them is that same formatted text, so a step
formats each number once (`_reasons_from`). `_reasons` is the definition, one coin at a time.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from strategies.windows import RETURN_LABELS

Reasons = tuple[tuple[str, float], ...]


def _reasons(contributions: list[float], moves: list[float]) -> Reasons:
    """The three momentum windows that move the drift most, in words (windows absent at
    the bar length, NaN, are left out); `moves` holds each window's simple return."""
    known = [k for k in range(len(RETURN_LABELS)) if math.isfinite(contributions[k])]
    order = sorted(known, key=lambda k: (-abs(contributions[k]), k))
    return tuple(
        (f"{RETURN_LABELS[k]} momentum {moves[k] * 100:+.2f}%", contributions[k])
        for k in order[:3]
    )


def _reasons_each(contributions: np.ndarray, moves: np.ndarray
                  ) -> list[Reasons]:
    """`_reasons` of every row of `contributions` and `moves` [n_coins, n_windows]: the
    same texts and numbers (`_reasons_with_json` without the JSON texts)."""
    return [reasons for reasons, _ in _reasons_with_json(contributions, moves)]


def _reasons_with_json(contributions: np.ndarray, moves: np.ndarray
                       ) -> list[tuple[Reasons, str]]:
    """(`_reasons` of the row, its words as canonical JSON) for every row of `contributions`
    and `moves` [n_coins, n_windows], the same texts and numbers as `_reasons`: the windows
    ordered by one stable argsort of -|contribution| (ties keep the window order, as
    `_reasons`' (-|c|, k) key; non-finite ones sort last and are left out), the
    percentages multiplied in one array call (the same products), then `_reasons_from`.
    The array form of strategies/rank_select_kernel.py's window order and percentages."""
    finite = np.isfinite(contributions)
    order = np.argsort(np.where(finite, -np.abs(contributions), np.inf), axis=-1,
                       kind="stable")[:, :3].tolist()
    shown = np.minimum(finite.sum(axis=-1), 3).tolist()
    return _reasons_from(order, shown, contributions.tolist(), (moves * 100).tolist())


def _reasons_from(order: list[list[int]], shown: list[int], values: list[list[float]],
                  percents: list[list[float]]) -> list[tuple[Reasons, str]]:
    """(reasons, their words as canonical JSON) of each coin from its windows strongest
    first (`order`, of which the first `shown` count), its contributions (`values`) and
    its windows' simple returns in percent (`percents`), in bulk: every coin's JSON
    formatted by one `%` over a template per window order (`%+.2f` is `{:+.2f}`: the same
    C formatting), the words cut back out of it (plain text between the quotes: the
    template says so), so each number is formatted once, for the decisions table too."""
    windows_each = [tuple(keys[:count]) for keys, count in zip(order, shown, strict=True)]
    if not windows_each:
        return []
    body = "\n".join([_json_template(windows) for windows in windows_each]) % tuple(
        [percent[k] for windows, percent in zip(windows_each, percents, strict=True)
         for k in windows])
    texts = body.split("\n")
    if sum(shown) == 3 * len(shown):  # every coin has three windows (at most three each)
        # All the words in one split: each text's '"]' + newline + '["' becomes a '","'.
        words = body[2:-2].replace('"]\n["', '","').split('","')
        return [(((first, value[a]), (second, value[b]), (third, value[c])), text)
                for (a, b, c), value, text, (first, second, third) in zip(
                    windows_each, values, texts, zip(*[iter(words)] * 3), strict=True)]
    out: list[tuple[Reasons, str]] = []
    for windows, value, text in zip(windows_each, values, texts, strict=True):
        out.append((tuple(zip(text[2:-2].split('","'), [value[k] for k in windows],
                              strict=True)) if windows else (), text))
    return out


def _reasons_of_three(codes: list[int], values: list[float], percents: list[float]
                      ) -> list[tuple[Reasons, str]]:
    """`_reasons_from` of coins that all show three windows, from each one's three windows
    as a code ((o0 x W + o1) x W + o2, W the number of windows) and the three windows'
    contributions (`values`) and percent moves (`percents`) in that order, flat, coin after
    coin (strategies/rank_select_kernel.py makes them): the same `%` over the same
    templates, the words cut out in one split and paired with the values in C (zips), no
    per-coin window gathers."""
    if not codes:
        return []
    words, texts = _words_of_three(codes, percents)
    pairs = zip(words, values, strict=True)
    return list(zip(zip(*[pairs] * 3, strict=True), texts, strict=True))


def _words_of_three(codes: list[int], percents: list[float]) -> tuple[list[str], list[str]]:
    """(every word, coin after coin, three each; each coin's JSON text) of coins that all
    show three windows (`_reasons_of_three`' arguments): one `%` over the coins' templates,
    the words cut out in one split."""
    if not codes:
        return [], []
    body = "\n".join([_code_template(code) for code in codes]) % tuple(percents)
    # All the words in one split: each text's '"]' + newline + '["' becomes a '","'.
    return body[2:-2].replace('"]\n["', '","').split('","'), body.split("\n")


@lru_cache(maxsize=128)
def _code_template(code: int) -> str:
    """`_json_template` of the three windows a code names ((o0 x W + o1) x W + o2)."""
    count = len(RETURN_LABELS)
    return _json_template((code // (count * count), code // count % count, code % count))


@lru_cache(maxsize=64)
def _json_template(windows: tuple[int, ...]) -> str:
    """The canonical JSON of the reasons' words of `windows` (state/codec.canonical_json of
    the list of words) as a `%` template of their percentages. A JSON string of a plain
    label (checked at import) is the label between quotes, and the numbers (`%+.2f`: sign,
    digits, point, or nan/inf) are plain too, so the words can be cut back out of it."""
    return "[" + ",".join(f'"{RETURN_LABELS[k]} momentum '.replace("%", "%%") + '%+.2f%%"'
                          for k in windows) + "]"


def _plain_json(text: str) -> bool:
    """Whether JSON writes `text` as it is between quotes (no quote, backslash or control
    character; canonical JSON keeps non-ASCII as it is), without the `","` at which
    `_reasons_with_json` cuts the words apart."""
    return not any(ch in '"\\' or ord(ch) < 0x20 for ch in text) and '","' not in text


# `_reasons_with_json` cuts the words out of their JSON text: the labels must be plain.
if not all(_plain_json(f"{label} momentum ") for label in RETURN_LABELS):
    raise ValueError(f"return window labels {RETURN_LABELS} need JSON escapes")
