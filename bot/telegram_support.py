"""Pieces of the Telegram bot that talk to the library and the charts, kept apart from the
command handling in bot/telegram_bot.py: a getUpdates that survives malformed updates, and
the equity chart as PNG bytes."""

from __future__ import annotations

import io
import logging
from typing import Any

from telegram import Update
from telegram.ext import ExtBot

log = logging.getLogger("bot.telegram_bot")  # one logger name for everything Telegram


class SafeBot(ExtBot[None]):
    """An ExtBot whose getUpdates survives updates it cannot parse (see module docstring)."""

    async def _post(self, endpoint: str, data: Any = None, **kwargs: Any) -> Any:
        result = await super()._post(endpoint, data, **kwargs)
        if endpoint != "getUpdates":
            return result
        if not isinstance(result, list):
            log.warning("telegram: getUpdates answered %s, not a list; ignored",
                        type(result).__name__)
            return []
        clean = []
        for item in result:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if not isinstance(update_id, int) or isinstance(update_id, bool):
                log.warning("telegram: update without an integer update_id dropped")
                continue
            try:
                Update.de_json(item, self)
                clean.append(item)
            except Exception as exc:  # what a malformed update raises is not specified
                log.warning("telegram: malformed update %d skipped (%s)", update_id,
                            exc.__class__.__name__)
                clean.append({"update_id": update_id})
        return clean


def equity_png(ledger_path: Any) -> bytes:
    """The report's equity chart (bot/charts.py) of a ledger file, as PNG bytes. Reads the
    ledger through its own read-only connection, so it runs in a worker thread."""
    from bot.charts import equity_chart
    from bot.report import load_ledger

    figure = equity_chart(load_ledger(ledger_path))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
