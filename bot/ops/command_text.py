"""Plain-text renderings of command answers, for chat (Telegram) where tables do not fit.

`render(name, result)` is a pure function of the command layer's dict: the test of "the CLI
and Telegram answer the same" renders the CLI's `--json` answer with it and compares with
the message the bot sent. Figures that change every second (uptime to the second, message
rates) are left out so a chat message is a stable summary. Messages stay under Telegram's
4096-character limit by cutting long lists with a "... N more" line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bot import formatting as fmt
from bot.app.live_status import live_lines
from bot.app.policy_choice import choice_line

MAX_CHARS = 4000  # Telegram allows 4096; keep room for the cut line
MAX_ROWS = 25


NO_TRADES = "no trades yet"


def _when(ms: int | None, pattern: str = "%m-%d %H:%M", clock: str | None = None) -> str:
    return fmt.when(ms, clock, pattern)


def _pct(rate: float | None, digits: int = 2) -> str:
    return fmt.pct(rate, digits)


def _rate(rate: float | None) -> str:
    return fmt.share(rate)


def _money(r: dict[str, Any], value: Any, unit: bool = False) -> str:
    return fmt.money(value, r.get("quote_asset"), unit=unit)


def _rows(lines: Sequence[str], limit: int = MAX_ROWS) -> list[str]:
    shown = list(lines[:limit])
    if len(lines) > limit:
        shown.append(f"... {len(lines) - limit} more")
    return shown


def _status(r: dict[str, Any]) -> list[str]:
    feed = r.get("feed") or {}
    state = "STALE" if feed.get("stale") else ("live" if feed.get("connected") else "connecting")
    lines = [f"Entasis {r['mode']} on {r['source']}, up {int(r['uptime_s'] // 60)} min, "
             f"{r['symbols']} symbols, feed {state}",
             f"decision steps: {r['decisions']['steps']}"]
    trading = r.get("trading")
    if trading:
        lines.append(f"equity {_money(trading, trading['equity'], True)} (cash "
                     f"{_money(trading, trading['cash'])}), state {trading['trading_state']}, "
                     f"today {_money(trading, trading['today_pnl'])}")
        lines.append(f"{fmt.count(len(trading['positions']), 'position')}, "
                     f"{fmt.count(len(trading['open_orders']), 'open order')}, "
                     + (fmt.count(trading["fills"], "fill") if trading["fills"] else NO_TRADES))
    else:
        lines.append("trading: not started yet (fetching instruments and history)")
    minute = (r.get("decisions") or {}).get("last_minute_open_ms")
    if minute is not None:
        lines.append(f"market time {_when(minute, '%Y-%m-%d %H:%M', r.get('clock'))}")
    choice = choice_line(r)  # policy = "auto": the pick and its evidence, or staying flat
    if choice:
        lines.append(choice)
    lines += live_lines(r)  # reconciliation, stream, broker, refused orders
    lines += _market_data_lines(r.get("market_data") or {})
    if r["ranking"]:
        lines.append("top: " + ", ".join(f"{c['symbol']} {fmt.ratio(c['score'])}"
                                         for c in r["ranking"][:5]))
    else:
        lines.append("no ranking yet")
    return lines


def _market_data_lines(m: dict[str, Any]) -> list[str]:
    """One line when market data was dropped, held back or isolated; nothing otherwise."""
    prints = m.get("bad_prints") or {}
    held, rejected = prints.get("quarantined_bars", 0), prints.get("rejected_bars", 0)
    parts = []
    if m.get("invalid"):
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(m["invalid_by_reason"].items()))
        parts.append(f"{m['invalid']} invalid dropped ({reasons})")
    if held or prints.get("quarantined_ticks"):
        parts.append(f"bad prints: {held} bars held ({rejected} rejected, "
                     f"{prints.get('held_now', 0)} held now), "
                     f"{prints.get('quarantined_ticks', 0)} ticks")
    if m.get("isolated_symbols"):
        parts.append("isolated: " + ", ".join(sorted(m["isolated_symbols"])))
    if m.get("decision_errors"):
        parts.append(f"{m['decision_errors']} failed decision steps")
    return ["market data: " + "; ".join(parts)] if parts else []


def _balance(r: dict[str, Any]) -> list[str]:
    start = "not opened yet" if r["start_equity"] is None else _money(r, r["start_equity"])
    lines = [f"equity {_money(r, r['equity'], True)} (start {start}), cash {_money(r, r['cash'])}"]
    lines += _rows([f"{a['asset']}: {_asset(r, a, 'total')} (free {_asset(r, a, 'free')}, "
                    f"locked {_asset(r, a, 'locked')})"
                    + (f" = {_money(r, a['value'], True)}" if a["asset"] != r["quote_asset"]
                       and a["value"] is not None else "") for a in r["assets"]])
    if not r["assets"]:
        lines.append("no assets yet")
    return lines


def _asset(r: dict[str, Any], row: dict[str, Any], key: str) -> str:
    """A balance: money when it is the quote asset, else an amount."""
    if row["asset"] == r["quote_asset"]:
        return _money(r, row[key])
    return fmt.quantity(row[key])


def _positions(r: dict[str, Any]) -> list[str]:
    def tick(row: dict[str, Any], key: str) -> str:
        return fmt.stepped(row[key], r.get("steps"), row["symbol"], "tick")

    def lot(row: dict[str, Any], key: str) -> str:
        return fmt.stepped(row[key], r.get("steps"), row["symbol"], "lot")

    lines = [fmt.count(len(r["positions"]), "position") if r["positions"] else "no open positions"]
    lines += _rows([f"{p['symbol']}: {lot(p, 'amount')} @ {tick(p, 'avg_price')}, last "
                    f"{tick(p, 'last')}, uPnL {_money(r, p['unrealized_pnl'])}"
                    for p in r["positions"]])
    lines.append(fmt.count(len(r["open_orders"]), "open order") if r["open_orders"]
                 else "no open orders")
    lines += _rows([f"{o['symbol']} {o['side']} {lot(o, 'remaining')} @ {tick(o, 'price')} "
                    f"({o['client_order_id']})" for o in r["open_orders"]])
    if r["force_exits_pending"]:
        lines.append("forced exits pending: " + ", ".join(r["force_exits_pending"]))
    return lines


def _trades(r: dict[str, Any]) -> list[str]:
    fills, q = r["fills"], fmt.quantity
    if not fills:
        return [NO_TRADES]
    return [f"{len(fills)} newest fills"] + _rows(
        [f"{_when(f['ts'], clock=r.get('clock'))} {f['side']} "
         f"{fmt.stepped(f['amount'], r.get('steps'), f['symbol'], 'lot')} {f['symbol']} @ "
         f"{fmt.stepped(f['price'], r.get('steps'), f['symbol'], 'tick')} fee {q(f['fee'])}"
         for f in fills])


def _profit(r: dict[str, Any]) -> list[str]:
    if r["equity"] is None:
        lines = ["no equity recorded yet (the account opens at the first decision step)"]
    else:
        lines = [f"equity {_money(r, r['equity'], True)} from {_money(r, r['start_equity'])} "
                 f"({_pct(r['total_return'])})"]
    if r["round_trips"] or r["buys"] or r["sells"]:
        lines.append(f"round trips {r['round_trips']} ({r['wins']} won, {r['losses']} lost, win "
                     f"rate {_rate(r['win_rate'])}), buys {r['buys']}, sells {r['sells']}, fees "
                     f"{_money(r, r['fees'])}")
    else:
        lines.append(NO_TRADES)
    for period, pattern in (("hourly", "%m-%d %H:00"), ("daily", "%Y-%m-%d"), ("weekly", "%Y-%m-%d")):
        if r.get(period):
            lines.append(f"{period} returns:")
            lines += _rows([f"{_when(row['start_ms'], pattern, r.get('clock'))}  "
                            f"{_pct(row['return'])}  {_money(r, row['equity'])}"
                            for row in r[period]])
    return lines


def _winrate(r: dict[str, Any]) -> list[str]:
    if not r["round_trips"] and not r["daily"]:
        return [f"{NO_TRADES} (no round trips to count)"]
    lines = [f"win rate {_rate(r['win_rate'])}: {r['wins']} won, {r['losses']} lost of "
             f"{r['round_trips']} round trips; PnL {_money(r, r['pnl'])}",
             f"avg win {_money(r, r['avg_win'])}, avg loss {_money(r, r['avg_loss'])}, "
             f"profit factor {fmt.ratio(r['profit_factor'])}"]
    lines += _rows([f"{_when(d['start_ms'], '%Y-%m-%d', r.get('clock'))}: {d['wins']}/"
                    f"{d['round_trips']} won ({_rate(d['win_rate'])}), buys {d['buys']}, "
                    f"sells {d['sells']}" for d in r["daily"]])
    return lines


def _performance(r: dict[str, Any]) -> list[str]:
    if not r["coins"]:
        return [f"performance per coin ({r['quote_asset']}): {NO_TRADES}"]
    return [f"performance per coin ({r['quote_asset']})"] + _rows(
        [f"{c['symbol']}: PnL {_money(r, c['realized_pnl'])}, {c['wins']}/{c['round_trips']} won, "
         f"fees {_money(r, c['fees'])}"
         + (f", uPnL {_money(r, c['unrealized_pnl'])}" if c["unrealized_pnl"] else "")
         for c in r["coins"]])


def _regime(r: dict[str, Any]) -> list[str]:
    lines = ["market: " + ", ".join(f"{w} {r['market'][w]}" for w in r["windows"])]
    for window in r["windows"]:
        counts = r["summary"][window]
        lines.append(f"{window}: {counts['bull']} bull, {counts['bear']} bear, "
                     f"{counts['sideways']} sideways")
    lines += _rows([f"{s['symbol']}: " + " ".join(s[w] for w in r["windows"]) for s in r["symbols"]],
                   15)
    return lines


def _models(r: dict[str, Any]) -> list[str]:
    trading = r["trading"]
    lines = [f"trading: {trading['policy']}" + (f" {trading['version']}" if trading["version"] else "")]
    if r.get("note"):
        lines.append(r["note"])
    elif not r["models"]:
        lines.append("no models yet — run `entasis selfplay`")
    lines += _rows([f"{m['version']} {m['status']}" + (f" (parent {m['parent']})" if m["parent"] else "")
                    + (f", failed: {', '.join(m['failed_checks'])}" if m["failed_checks"] else "")
                    for m in r["models"]])
    return lines


def _health(r: dict[str, Any]) -> list[str]:
    return [f"health: {'OK' if r['ok'] else 'PROBLEM'}"] + [
        f"{'ok ' if c['ok'] else 'BAD'} {c['name']}: {c['detail']}" for c in r["checks"]]


def _state_change(r: dict[str, Any]) -> list[str]:
    verdict = "refused" if r["refused"] else ("done" if r["changed"] else "no change")
    return [f"{verdict}: {r['detail']}", f"trading state {r['trading_state']}"
            + (" (paused)" if r["paused"] else "")]


def _forceexit(r: dict[str, Any]) -> list[str]:
    return [f"forceexit {', '.join(r['symbols']) or 'nothing'}: {r['detail']}",
            f"canceled orders: {', '.join(r['canceled_orders']) or 'none'}"]


def _help(r: dict[str, Any]) -> list[str]:
    return [f"/{c['name']}" + "".join(f" [{p}]" for p in c["params"]) + f" - {c['summary']}"
            + (" (asks to confirm)" if c["destructive"] else "") for c in r["commands"]]


RENDERERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "status": _status, "balance": _balance, "positions": _positions, "trades": _trades,
    "profit": _profit, "winrate": _winrate, "performance": _performance, "regime": _regime,
    "models": _models, "health": _health, "pause": _state_change, "resume": _state_change,
    "forceexit": _forceexit, "help": _help,
    "stop": lambda r: [r["detail"]],
    "reload-config": lambda r: [f"config {r['path']}: changed {', '.join(r['changed']) or 'nothing'}; "
                                f"applied {', '.join(r['applied']) or 'nothing'}; needs restart "
                                f"{', '.join(r['needs_restart']) or 'nothing'}"],
}


def render(name: str, result: dict[str, Any]) -> str:
    """The chat text of command `name`'s answer (at most MAX_CHARS characters)."""
    text = "\n".join(RENDERERS[name](result))
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS].rsplit("\n", 1)[0] + "\n... (cut)"
    return text
