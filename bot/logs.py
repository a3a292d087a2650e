"""Structured logging: readable lines by default, one JSON object per line with `--log-json`.

Every handler carries a redaction filter built from the configured secrets, so an API key
that ends up in a message, an argument or a traceback is printed as '***'.

Both formatters escape control characters (CR, LF, ESC, the rest of C0 and C1, Unicode line
separators) in everything a record carries, so a value from outside (a URL path, a symbol, a
Telegram message) can neither forge a whole log line nor drive the terminal. Done here, once,
because a call site that forgets is one forged line; tracebacks keep their line breaks.
A flood of identical refusals is kept down by model/ratelimit.py's `RateLimitedLog`.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable

import orjson

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
# C0, DEL, C1, the Unicode line/paragraph separators and lone surrogates (undecodable bytes)
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
TRACEBACK_INDENT = "  "
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """`text` on one harmless line: control characters become visible escapes (\\n, \\x1b,
    \\u2028). Backslashes stay as they are: an escape cannot be mistaken for a line break."""
    return _CONTROLS.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def _escape_traceback(text: str, indent: str = "") -> str:
    """A traceback keeps its line breaks; anything else in it (an exception message quoting
    outside data) is escaped line by line. With `indent`, no line of it starts at column 0,
    where a forged record would have to start."""
    return "\n".join(indent + escape_controls(line) for line in text.split("\n"))


class RedactSecrets(logging.Filter):
    """Replace every known secret value in the formatted message (and exception text)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg = self._redact(record.getMessage())
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = self._redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, plus any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": escape_controls(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = escape_controls(value) if isinstance(value, str) else value
        if record.exc_info:
            payload["exc"] = _escape_traceback(self.formatException(record.exc_info))
        elif record.exc_text:
            payload["exc"] = _escape_traceback(record.exc_text)
        return orjson.dumps(payload, default=str).decode()


class HumanFormatter(logging.Formatter):
    """`12:00:01 WARNING bot.ops.control: message`, UTC, one line per record (plus traceback)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        # On a copy: other handlers (pytest's capture, say) see the record as it was logged.
        # The traceback is indented, so a line break inside an exception's message cannot
        # start a line that reads like a record of its own.
        shown = logging.makeLogRecord(vars(record))
        shown.msg, shown.args = escape_controls(record.getMessage()), None
        shown.name = escape_controls(record.name)
        if record.exc_info:  # else RedactSecrets already rendered (and redacted) exc_text
            shown.exc_text, shown.exc_info = self.formatException(record.exc_info), None
        if shown.exc_text:
            shown.exc_text = _escape_traceback(shown.exc_text, TRACEBACK_INDENT)
        if record.stack_info:
            shown.stack_info = _escape_traceback(record.stack_info, TRACEBACK_INDENT)
        return super().format(shown)


def setup_logging(fmt: str = "human", level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Configure the root logger once for the daemon's process (stderr only)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("websockets", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
