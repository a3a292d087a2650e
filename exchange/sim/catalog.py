"""The simulated market's coins: names, price levels and trading rules.

A hand-written catalog gives a realistic mix (Binance-style USDT and BTC pairs, and KRW pairs
whose ticks follow Upbit's price bands); markets with more coins than the catalog get
procedurally named extras. Cross-listed coins (AUR on USDT, BTC and KRW) are independent
series: the simulator does not model arbitrage between quotes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from model import instruments, libm
from model.instruments import Instrument

# Upbit KRW tick size per price band (band min <= price < next band min), valid until
# 2024-01-28; see ../shared/data/protocol/upbit/krw_tick_size_table.json.
UPBIT_KRW_BANDS: tuple[tuple[float, Decimal], ...] = (
    (2_000_000, Decimal(1000)),
    (1_000_000, Decimal(500)),
    (500_000, Decimal(100)),
    (100_000, Decimal(50)),
    (10_000, Decimal(10)),
    (1_000, Decimal(5)),
    (100, Decimal(1)),
    (10, Decimal("0.1")),
    (1, Decimal("0.01")),
    (0.1, Decimal("0.001")),
    (0, Decimal("0.0001")),
)


def upbit_krw_tick(price: float) -> Decimal:
    """The Upbit KRW tick size for a price (pre-2024 table)."""
    for band_min, tick in UPBIT_KRW_BANDS:
        if price >= band_min:
            return tick
    return UPBIT_KRW_BANDS[-1][1]


@dataclass(frozen=True, slots=True)
class CoinSpec:
    """One simulated symbol: its rules plus the parameters of its price and volume model."""

    instrument: Instrument
    price: float  # initial price level, quote units
    beta: float  # loading on the market factor
    vol_per_min: float  # idiosyncratic volatility of one-minute log returns
    quote_volume_per_min: float  # average traded quote amount per minute
    spread_bps: float  # typical quoted spread


def _dec(text: str) -> Decimal:
    return Decimal(text)


def _instrument(
    base: str, quote: str, tick: str, lot: str, min_notional: str, price: float
) -> Instrument:
    tick_d, lot_d = _dec(tick), _dec(lot)
    # maxPrice well above anything a month of simulation can reach, as a power of ten.
    max_price = Decimal(10) ** max(3, math.ceil(math.log10(price * 1000)))
    return Instrument(
        symbol=f"{base}{quote}",
        base=base,
        quote=quote,
        tick=tick_d,
        lot=lot_d,
        min_notional=_dec(min_notional),
        min_qty=lot_d,
        max_qty=Decimal(9000000) if lot_d < 1 else Decimal(90000000000),
        min_price=tick_d,
        max_price=max_price,
    )


# base, quote, price, tick, lot, min_notional, beta, idio vol/min, quote volume/min, spread bps
_CATALOG: tuple[tuple[str, str, float, str, str, str, float, float, float, float], ...] = (
    ("BTC", "USDT", 30_000.0, "0.01", "0.00001", "5", 1.0, 0.0003, 1_500_000, 0.3),
    ("ETH", "USDT", 2_000.0, "0.01", "0.0001", "5", 1.1, 0.0005, 700_000, 0.6),
    ("AUR", "USDT", 150.0, "0.01", "0.001", "5", 1.2, 0.0009, 120_000, 2.0),
    ("KEL", "USDT", 25.0, "0.001", "0.01", "5", 1.2, 0.0010, 80_000, 3.0),
    ("VEX", "USDT", 42.0, "0.01", "0.01", "5", 0.9, 0.0011, 40_000, 4.0),
    ("ORB", "USDT", 7.5, "0.001", "0.1", "5", 1.1, 0.0012, 30_000, 5.0),
    ("NOVA", "USDT", 3.2, "0.0001", "0.1", "5", 1.3, 0.0013, 50_000, 4.0),
    ("LUMA", "USDT", 0.9, "0.0001", "0.1", "5", 1.0, 0.0014, 25_000, 6.0),
    ("QRX", "USDT", 0.5, "0.0001", "0.1", "5", 1.2, 0.0015, 60_000, 5.0),
    ("ZPH", "USDT", 0.08, "0.00001", "1", "5", 1.3, 0.0017, 20_000, 8.0),
    ("MIRA", "USDT", 0.012, "0.000001", "1", "5", 1.4, 0.0019, 15_000, 10.0),
    ("TESS", "USDT", 0.0021, "0.0000001", "1", "5", 1.5, 0.0021, 10_000, 12.0),
    ("ETH", "BTC", 0.066, "0.000001", "0.0001", "0.0001", 0.4, 0.0004, 20.0, 1.5),
    ("AUR", "BTC", 0.005, "0.000001", "0.001", "0.0001", 0.5, 0.0008, 2.0, 12.0),
    ("KEL", "BTC", 0.00083, "0.0000001", "0.01", "0.0001", 0.5, 0.0009, 1.5, 12.0),
    ("ORB", "BTC", 0.00025, "0.00000001", "0.1", "0.0001", 0.5, 0.0011, 1.0, 10.0),
    ("NOVA", "BTC", 0.000107, "0.00000001", "0.1", "0.0001", 0.6, 0.0012, 1.2, 10.0),
    ("LUMA", "BTC", 0.00003, "0.00000001", "1", "0.0001", 0.6, 0.0013, 0.8, 30.0),
    ("QRX", "BTC", 0.0000167, "0.00000001", "1", "0.0001", 0.6, 0.0014, 0.8, 60.0),
    ("BTC", "KRW", 50_000_000.0, "1000", "0.00000001", "5000", 1.0, 0.0003, 900_000_000, 1.0),
    ("ETH", "KRW", 3_000_000.0, "1000", "0.00000001", "5000", 1.1, 0.0005, 400_000_000, 3.5),
    ("HAN", "KRW", 1_500_000.0, "500", "0.00000001", "5000", 1.2, 0.0009, 60_000_000, 4.0),
    ("SEO", "KRW", 700_000.0, "100", "0.00000001", "5000", 1.2, 0.0010, 40_000_000, 2.5),
    ("AUR", "KRW", 300_000.0, "50", "0.00000001", "5000", 1.2, 0.0009, 80_000_000, 2.0),
    ("KEL", "KRW", 33_000.0, "10", "0.00000001", "5000", 1.2, 0.0010, 50_000_000, 4.0),
    ("NOVA", "KRW", 5_000.0, "5", "0.00000001", "5000", 1.3, 0.0013, 70_000_000, 10.0),
    ("XRP", "KRW", 500.0, "1", "0.00000001", "5000", 1.1, 0.0012, 300_000_000, 20.0),
    ("DAL", "KRW", 50.0, "0.1", "0.00000001", "5000", 1.4, 0.0016, 30_000_000, 20.0),
    ("BIT", "KRW", 4.5, "0.01", "0.00000001", "5000", 1.5, 0.0018, 20_000_000, 22.0),
    ("ZPH", "KRW", 0.55, "0.001", "0.00000001", "5000", 1.4, 0.0018, 15_000_000, 18.0),
)

_SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ra",
    "to",
    "ven",
    "zu",
    "qa",
    "ri",
    "sol",
    "dex",
    "nu",
    "pha",
    "tri",
)


def _krw_tick(price: float, base: str, at_ms: int | None) -> Decimal:
    """Upbit's KRW tick for `price`: the table in force at `at_ms` (the simulated clock's
    start, so the simulated exchange and the daemon's instruments agree on the grid), or the
    pre-2024 table when no date is given."""
    if at_ms is None:
        return upbit_krw_tick(price)
    return instruments.upbit_krw_tick(price, at_ms, base)


def _extra_coin(rng: np.random.Generator, taken: set[str], at_ms: int | None = None) -> CoinSpec:
    """A procedurally named USDT, BTC or KRW coin for markets larger than the catalog."""
    while True:
        parts = rng.choice(len(_SYLLABLES), size=int(rng.integers(2, 4)))
        base = "".join(_SYLLABLES[p] for p in parts).upper()[:6]
        quote = ("USDT", "BTC", "KRW")[int(rng.integers(0, 3))]
        if f"{base}{quote}" not in taken and base not in ("BTC", "ETH"):
            break
    beta = float(rng.uniform(0.6, 1.5))
    vol = float(rng.uniform(0.0008, 0.002))
    if quote == "KRW":
        price = _mid_band(float(10 ** rng.uniform(0.5, 6.5)))
        return _spec(
            base,
            quote,
            price,
            str(_krw_tick(price, base, at_ms)),
            "0.00000001",
            "5000",
            beta,
            vol,
            float(10 ** rng.uniform(7, 8.5)),
            10.0,
        )
    if quote == "BTC":
        price = float(10 ** rng.uniform(-6, -2))
        tick = Decimal(1).scaleb(max(-8, math.floor(math.log10(price)) - 3))
        lot = Decimal(1).scaleb(min(0, max(-8, -math.floor(math.log10(price * 30_000)) - 1)))
        return _spec(
            base,
            quote,
            price,
            str(tick),
            str(lot),
            "0.0001",
            beta * 0.5,
            vol,
            float(10 ** rng.uniform(-0.5, 1)),
            15.0,
        )
    price = float(10 ** rng.uniform(-3, 3))
    tick = Decimal(1).scaleb(min(-2, max(-8, math.floor(math.log10(price)) - 3)))
    lot = Decimal(1).scaleb(min(0, max(-8, -math.floor(math.log10(price)) - 1)))
    return _spec(
        base,
        quote,
        price,
        str(tick),
        str(lot),
        "5",
        beta,
        vol,
        float(10 ** rng.uniform(4, 5.5)),
        8.0,
    )


def _mid_band(price: float) -> float:
    """Move a KRW price to the geometric middle of its Upbit band, so a month of random walk
    rarely leaves the band whose tick the instrument carries."""
    bands = [b for b, _ in UPBIT_KRW_BANDS]
    for upper, lower in zip([bands[0] * 10] + bands, bands):
        if price >= lower:
            return math.sqrt(max(lower, 0.01) * upper)
    return price


def _spec(
    base: str,
    quote: str,
    price: float,
    tick: str,
    lot: str,
    min_notional: str,
    beta: float,
    vol: float,
    quote_volume: float,
    spread_bps: float,
) -> CoinSpec:
    return CoinSpec(
        instrument=_instrument(base, quote, tick, lot, min_notional, price),
        price=price,
        beta=beta,
        vol_per_min=vol,
        quote_volume_per_min=quote_volume,
        spread_bps=spread_bps,
    )


def build_catalog(coins: int, rng: np.random.Generator, at_ms: int | None = None
                  ) -> list[CoinSpec]:
    """The first `coins` symbols: the hand-written catalog, then procedural extras.

    Catalog coins are interleaved by quote so that a small market (say 6 coins) still mixes
    USDT, BTC and KRW pairs. Initial price levels get a seeded +-20% jitter; catalog KRW
    levels sit mid-band, so the jitter never moves them into another Upbit band. KRW ticks
    follow Upbit's table in force at `at_ms` (see `_krw_tick`).
    """
    by_quote: dict[str, list[tuple]] = {}
    for row in _CATALOG:
        by_quote.setdefault(row[1], []).append(row)
    ordered: list[tuple] = []
    queues = [list(v) for v in by_quote.values()]
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    specs: list[CoinSpec] = []
    for base, quote, price, tick, lot, notional, beta, vol, qvol, spread in ordered[:coins]:
        level = price * float(libm.exp(rng.uniform(-0.2, 0.2)))
        if quote == "KRW":  # catalog levels sit mid-band, so the jitter keeps the band
            tick = str(_krw_tick(level, base, at_ms))
        specs.append(_spec(base, quote, level, tick, lot, notional, beta, vol, qvol, spread))
    taken = {s.instrument.symbol for s in specs}
    while len(specs) < coins:
        spec = _extra_coin(rng, taken, at_ms)
        taken.add(spec.instrument.symbol)
        specs.append(spec)
    return specs
