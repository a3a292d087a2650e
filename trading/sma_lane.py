"""The compiled lane of the fast backtester, for the SMA cross policy: when it applies, what
it is given, and the run it gives back.

Why: the Python loop (trading/fast_backtest.py `_Loop`) pays ~80 us of interpreter per
acting step (the gate in exact Decimal, the booking of each fill), where a vectorized
yardstick (vectorbt's `from_signals`) pays nothing per trade; on an SMA that trades every
few minutes that was two thirds of the run. The lane (trading/sma_lane_kernel.py) trades
the whole run in one compiled call on integer ticks, lots and quote units, and gives up
(`LaneSkipped`) on anything it cannot settle exactly: then the Python loop runs instead.

What it gives back are the run's numbers (fills, cash, holdings, hence the equity marks and
the round trips); the ledger's words (order events, decision rows with their reasons) are
the Python loop's, made when first asked for (`FastRun.events`, `.decisions`), and that
loop's fills are then checked against the lane's, so a ledger never holds fills the lane
did not make. tests/unit/test_sma_lane.py holds the lane to the Python loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction

import numpy as np

from model import fill_kernel, fills
from model.errors import DataError, InternalError
from model.instruments import Instrument, Side
from model.settlement import FEE_QUANTUM
from risk.gate import _LIMIT_TOLERANCE
from risk.var import _tail_index, horizon_scale
from strategies.features_batch import MinuteGrid
from trading import lane_book
from trading.fast_market import DAY_MS, FastMarket, FastSettings
from trading.fast_policies import SmaBatch, StepQuotes
from trading.fast_run import FastRun, LedgerMaterial, LedgerRows
from trading.lane_gate import BAIL_UNSURE
from trading.performance import RoundTrip
from trading.positions import Position
from trading.sma_lane_kernel import BAIL_BREAKER, BAIL_HISTORY, BAIL_MARK, run_sma_lane

#: The finest quote unit the lane counts in (10^-14 of the quote: a notional of 10,000
#: quote units is then 10^18 units, near int64's end; the kernels check every product).
_MAX_QUOTE_DECIMALS = 14
#: Why the lane gave up, by its code (lane_book's, lane_gate's and the loop's own).
_WHY = {lane_book.BAIL_BIG: "a figure past int64/2^53",
        lane_book.BAIL_SHORT_CASH: "a buy fill the cash could not pay in full",
        lane_book.BAIL_FILTER: "an order the exchange filters refuse",
        lane_book.BAIL_REJECTED: "an order without the funds",
        BAIL_UNSURE: "a gate figure within its margin of a limit",
        BAIL_BREAKER: "a breaker figure within its margin of a level",
        BAIL_HISTORY: "a return history with gaps", BAIL_MARK: "a mark off the tick grid"}


class LaneSkipped(DataError):
    """The lane does not apply to this run's data, or gave up on it: the message says why
    (caught by `run_fast`, which runs the Python loop instead)."""


class LaneDisagreement(InternalError, RuntimeError):
    """The lane's fills are not the Python loop's: a bug in the lane."""


@dataclass(frozen=True, slots=True)
class LaneRun:
    """What the lane traded: fills (int64 [F, 8], lane_book's F_* columns, in booking
    order), the quote cash and the equity marked at every step (float64 [S]), the steps
    with a holding."""

    fills: np.ndarray
    cash: np.ndarray
    equity: np.ndarray
    exposed_steps: int
    fees: Decimal
    traded_notional: Decimal
    fill_price: np.ndarray  # float64 [F]: float of each fill's Decimal price
    fill_amount: np.ndarray
    fill_fee: np.ndarray
    prices: tuple[Decimal, ...]  # each fill's exact price, amount and fee
    amounts_exact: tuple[Decimal, ...]
    fees_exact: tuple[Decimal, ...]


def run_sma(grid: MinuteGrid, market: FastMarket, settings: FastSettings, quote: str,
            deposit: Decimal, close_ff: np.ndarray, has_bar: np.ndarray, quotes: StepQuotes,
            policy: SmaBatch, python_loop: Callable[[], FastRun]) -> FastRun:
    """The prepared SMA `policy`'s run through the lane, or `python_loop()`'s where the lane
    does not apply (its `lane` then says why). A lane's run makes its ledger rows with the
    Python loop when first asked, and checks that loop's fills against its own."""
    try:
        lane = run_lane(grid, market, settings, quote, deposit, close_ff, has_bar, quotes,
                        policy)
    except LaneSkipped as skipped:
        return replace(python_loop(), lane=f"python ({skipped})")

    def ledger_rows() -> LedgerMaterial:
        policy.prepare(grid, quotes)  # afresh: the lane read the policy as prepared
        reference = python_loop()
        check_same_fills(lane, reference)
        return reference.ledger_rows.get()

    return lane_result(lane, grid.symbols, quote, deposit, quotes, market.instruments,
                       LedgerRows(make=ledger_rows))


def run_lane(grid: MinuteGrid, market: FastMarket, settings: FastSettings, quote: str,
             balance: Decimal, close_ff: np.ndarray, has_bar: np.ndarray, quotes: StepQuotes,
             policy: SmaBatch) -> LaneRun:
    """Trade `quotes`' steps with the prepared SMA `policy` in the compiled lane; raises
    `LaneSkipped` (why) where the lane does not apply or gives up."""
    limits, params = settings.limits, settings.fill_params
    if limits.var_method != "historical":
        raise LaneSkipped("the lane weighs a historical VaR limit only")
    n = len(grid.symbols)
    instruments = market.instruments
    tradable = np.array([i.quote == quote for i in instruments])
    k_exp = _quote_decimals(instruments, tradable, balance)
    grids, tick_f, lot_f, rules = _instrument_arrays(instruments, tradable, k_exp)
    maker, taker = (Fraction(Decimal(str(bps))) / 10_000
                    for bps in (params.maker_fee_bps, params.taker_fee_bps))
    rate_exp = max(_power_of_ten(maker.denominator), _power_of_ten(taker.denominator))
    rate_pow = 10 ** rate_exp
    reserve = Fraction(limits.fee_reserve_pct) / 100
    cap = Fraction(limits.max_position_pct) / 100
    rows = settings.return_history_bars
    tail = _tail_index(rows, limits.var_confidence)
    boundary = max(0.0, tail - rows * limits.var_confidence)
    first_bar = np.where(has_bar.any(axis=0), has_bar.argmax(axis=0), len(has_bar))
    money = np.array([
        k_exp, 10 ** (k_exp - _decimals(FEE_QUANTUM)), int(maker * rate_pow), int(taker * rate_pow), rate_exp,
        int(max(maker, taker) * rate_pow), _units(balance, k_exp), cap.numerator,
        cap.denominator, limits.max_open_positions, reserve.numerator, reserve.denominator,
        rows, int(first_bar.max()), tail, settings.bar_ms, grid.start_ms,
        limits.min_return_observations, fills.NO_CANCEL_MS], np.int64)
    steps, columns, now, before, above, factors = policy.lane_signals()
    figures = np.array([
        float(limits.risk_per_trade_pct) / 100,
        float(limits.var_limit_pct) / 100 + _LIMIT_TOLERANCE,
        float(limits.es_limit_pct) / 100 + _LIMIT_TOLERANCE,
        boundary if boundary >= 1e-9 else 0.0, rows * (1.0 - limits.var_confidence),
        horizon_scale(settings.bar_ms / DAY_MS, limits.var_horizon_days),
        float(limits.daily_loss_reduce_pct), float(limits.daily_loss_halt_pct),
        float(limits.drawdown_reduce_pct), float(limits.drawdown_halt_pct), *factors])
    count = len(quotes.rows)
    cross_start = np.searchsorted(steps, np.arange(count + 1)).astype(np.int64)
    spread = (np.zeros(0) if market.spread is None
              else np.ascontiguousarray(market.spread, np.float64))
    fill_f = np.array([params.bar_spread_ticks, params.bar_book_share,
                       params.max_volume_share, params.through_volume_share,
                       params.maker_fee_bps, params.taker_fee_bps, params.book_level_growth],
                      np.float64)
    fill_i = np.array([params.book_levels, params.book_level_spacing_ticks], np.int64)
    powers = fill_kernel.level_growth(params.book_level_growth, params.book_levels)
    capacity = 4 * len(steps) + 64
    returns = np.empty((n, len(close_ff)))  # made by the kernel, the rows it reads
    cash, equity = np.empty(count), np.empty(count)
    while True:
        account = np.zeros(lane_book.ACCOUNT_FIELDS, np.int64)
        fills_out = np.zeros((capacity * params.book_levels, lane_book.FILL_FIELDS), np.int64)
        status = np.zeros(3, np.int64)
        run_sma_lane(quotes.rows, quotes.ts_ms, has_bar, grid.open, grid.high, grid.low,
                     grid.close, market.volume, close_ff, quotes.bid, quotes.ask, returns,
                     cross_start, columns, now, before, above, tradable, grids, tick_f, lot_f,
                     rules, money, figures, spread, market.spread is not None, fill_f, fill_i,
                     powers, account, fills_out, cash, equity, status)
        if status[0] != lane_book.BAIL_CAPACITY or capacity > 64 * count:
            break
        capacity *= 4
    if status[0] != lane_book.BAIL_NONE:
        why = _WHY.get(int(status[0]), f"code {int(status[0])}")
        raise LaneSkipped(f"the lane gave up at step {int(status[1])}: {why}")
    return _lane_run(fills_out[:account[lane_book.FILL_COUNT]], cash, equity, int(status[2]),
                     grids, instruments, k_exp, account)


def _lane_run(made: np.ndarray, cash: np.ndarray, equity: np.ndarray, exposed: int,
              grids: np.ndarray, instruments: tuple[Instrument, ...], k_exp: int,
              account: np.ndarray) -> LaneRun:
    """The lane's integers as the Python account's floats and Decimals: each a conversion
    of the same exact number (an integer over a power of ten, rounded once)."""
    column = made[:, lane_book.F_COLUMN]
    pow10 = lane_book.POW10
    ticks = made[:, lane_book.F_TICKS] * grids[column, 0]
    lots = made[:, lane_book.F_LOTS] * grids[column, 2]
    if len(made) and (ticks.max() >= lane_book.EXACT_FLOAT or lots.max() >= lane_book.EXACT_FLOAT
                      or made[:, lane_book.F_FEE].max() >= lane_book.EXACT_FLOAT):
        raise LaneSkipped("a fill past 2^53 units")
    exact = [(Decimal(t) * i.tick, Decimal(a) * i.lot, Decimal(f).scaleb(-k_exp))
             for t, a, f, i in zip(made[:, lane_book.F_TICKS].tolist(),
                                   made[:, lane_book.F_LOTS].tolist(),
                                   made[:, lane_book.F_FEE].tolist(),
                                   (instruments[c] for c in column.tolist()))]
    return LaneRun(made, cash, equity, exposed,
                   Decimal(int(account[lane_book.FEES])).scaleb(-k_exp),
                   Decimal(int(account[lane_book.NOTIONAL])).scaleb(-k_exp),
                   ticks / pow10[grids[column, 1]], lots / pow10[grids[column, 3]],
                   made[:, lane_book.F_FEE] / pow10[k_exp], tuple(e[0] for e in exact),
                   tuple(e[1] for e in exact), tuple(e[2] for e in exact))


def _power_of_ten(denominator: int) -> int:
    """e where denominator divides 10^e (a decimal's denominator always does)."""
    e = 0
    while (10 ** e) % denominator:
        e += 1
        if e > 18:
            raise LaneSkipped(f"a fee rate of denominator {denominator} is not decimal")
    return e


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 99


def _grid(step: Decimal) -> tuple[int, int]:
    """A grid step as (mantissa, exponent): step = mantissa x 10^-exponent, exponent >= 0."""
    e = _decimals(step)
    return int(step.scaleb(e)), e


def _quote_decimals(instruments: tuple[Instrument, ...], tradable: np.ndarray,
                    balance: Decimal) -> int:
    """K: every notional, fee, filter and the balance a whole number of 10^-K quote units."""
    wanted = [_decimals(FEE_QUANTUM), _decimals(balance)]
    for instrument, trades in zip(instruments, tradable.tolist()):
        if not trades:
            continue
        if instrument.tick_bands:
            raise LaneSkipped(f"{instrument.symbol}'s tick depends on the price")
        wanted += [_decimals(instrument.tick) + _decimals(instrument.lot),
                   _decimals(instrument.min_notional), _decimals(instrument.max_notional)]
    k_exp = max(wanted)
    if k_exp > _MAX_QUOTE_DECIMALS:
        raise LaneSkipped(f"quote amounts need {k_exp} decimals")
    return k_exp


def _units(value: Decimal, k_exp: int) -> int:
    units = value.scaleb(k_exp)
    if units != units.to_integral_value():
        raise LaneSkipped(f"{value} is not a whole number of 10^-{k_exp}")
    return int(units)


def _instrument_arrays(instruments: tuple[Instrument, ...], tradable: np.ndarray,
                       k_exp: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per column: tick and lot as (mantissa, exponent), their floats, and the exchange
    rules in integers (lane_gate's `rules` columns)."""
    n = len(instruments)
    grids = np.zeros((n, 4), np.int64)
    grids[:, 0] = grids[:, 2] = 1
    tick_f, lot_f = np.ones(n), np.ones(n)
    rules = np.zeros((n, 7), np.int64)
    rules[:, 1] = rules[:, 3] = rules[:, 5] = -1
    for c, (instrument, trades) in enumerate(zip(instruments, tradable.tolist())):
        if not trades:
            continue
        tick, lot = instrument.tick, instrument.lot
        (t_m, t_e), (l_m, l_e) = _grid(tick), _grid(lot)
        if max(t_e, l_e) > 22 or tick <= 0 or lot <= 0:
            raise LaneSkipped(f"{instrument.symbol}'s grids are out of the lane's range")
        grids[c] = (t_m, t_e, l_m, l_e)
        tick_f[c], lot_f[c] = float(tick), float(lot)
        rules[c] = (
            _ceil(instrument.min_price / tick) if instrument.min_price > 0 else 0,
            int(instrument.max_price // tick) if instrument.max_price > 0 else -1,
            _ceil(instrument.min_qty / lot),
            int(instrument.max_qty // lot) if instrument.max_qty > 0 else -1,
            _ceil(instrument.min_notional.scaleb(k_exp)),
            int(instrument.max_notional.scaleb(k_exp)) if instrument.max_notional > 0 else -1,
            t_m * l_m * 10 ** (k_exp - t_e - l_e))
    return grids, tick_f, lot_f, rules


def _ceil(value: Decimal) -> int:
    whole = int(value)
    return whole + 1 if value > whole else whole


def lane_result(lane: LaneRun, symbols: tuple[str, ...], quote: str, deposit: Decimal,
                quotes: StepQuotes, instruments: tuple[Instrument, ...],
                rows: LedgerRows) -> FastRun:
    """The `FastRun` of a lane's run: its marks, the round trips booked from the fills by
    the trader's own `Position`, the ledger's rows on demand."""
    positions: dict[str, Position] = {}
    trips: list[RoundTrip] = []
    made = lane.fills
    for (ts, column, side), price, amount, fee in zip(
            made[:, [lane_book.F_TS, lane_book.F_COLUMN, lane_book.F_SIDE]].tolist(),
            lane.prices, lane.amounts_exact, lane.fees_exact):
        symbol = instruments[column].symbol
        position = positions.get(symbol)
        if position is None:
            position = positions[symbol] = Position()
        closed = position.book(symbol, Side.BUY if side == lane_book.BUY else Side.SELL,
                               price, amount, fee, ts)
        if closed is not None:
            trips.append(closed)
    return FastRun(
        symbols=symbols, quote_asset=quote, start_equity=float(deposit),
        equity_ms=quotes.ts_ms.copy(), equity=lane.equity,
        fill_ts_ms=made[:, lane_book.F_TS].copy(), fill_symbol=made[:, lane_book.F_COLUMN].copy(),
        fill_side=made[:, lane_book.F_SIDE].astype(np.int8), fill_price=lane.fill_price,
        fill_amount=lane.fill_amount, fill_fee=lane.fill_fee,
        fill_liquidity=made[:, lane_book.F_LIQUIDITY].astype(np.int8),
        fees=float(lane.fees), traded_notional=float(lane.traded_notional),
        exposed_steps=lane.exposed_steps, round_trips=tuple(trips),
        ledger_rows=rows, cash=lane.cash, lane="compiled")


def check_same_fills(lane: LaneRun, reference: FastRun) -> None:
    """Raise if the Python loop's fills are not the lane's, value for value."""
    made = lane.fills
    pairs = (("time", made[:, lane_book.F_TS], reference.fill_ts_ms),
             ("symbol", made[:, lane_book.F_COLUMN], reference.fill_symbol),
             ("side", made[:, lane_book.F_SIDE], reference.fill_side),
             ("price", lane.fill_price, reference.fill_price),
             ("amount", lane.fill_amount, reference.fill_amount),
             ("fee", lane.fill_fee, reference.fill_fee),
             ("liquidity", made[:, lane_book.F_LIQUIDITY], reference.fill_liquidity))
    for name, ours, theirs in pairs:
        if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
            raise LaneDisagreement(
                f"the compiled SMA lane and the Python loop disagree on the fills' {name} "
                f"({len(ours)} vs {len(theirs)} fills): a bug in trading/sma_lane*.py; "
                "run_fast(..., compiled=False) gives the reference run")


__all__ = ["LaneDisagreement", "LaneRun", "LaneSkipped", "check_same_fills", "lane_result",
           "run_lane", "run_sma"]
