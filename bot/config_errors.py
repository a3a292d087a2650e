"""Configuration errors in words: which key, which value, where it came from (the file or an
`ENTASIS__SECTION__KEY` variable) and what is allowed (bot/config.py's `load_config`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError


def _origin(key: str, env_names: Mapping[str, str]) -> str:
    """" (from environment variable X)" when `key` (or the setting it belongs to) came from
    the environment; "" when it came from the file."""
    parts = key.split(".")
    name = env_names.get(".".join(parts[:2]))
    return f" (from environment variable {name})" if name else ""


def format_errors(error: ValidationError, source: str, model: type[BaseModel],
                  env_names: Mapping[str, str] | None = None) -> str:
    """A pydantic validation error of `model` read from `source` (and the environment, whose
    variables `env_names` maps from "section.key"), as one line per bad key: its value
    (secrets masked), where it came from and what is allowed."""
    env_names = env_names or {}
    where = f"{source} and the environment" if env_names else source
    lines = [f"invalid configuration in {where}:"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        if not key:  # a whole-config rule names its key itself; the input holds secrets
            named = next((k for k in env_names if item["msg"].startswith(f"{k} ")), "")
            lines.append(f"  {item['msg']}{_origin(named, env_names) if named else ''}")
            continue
        origin = _origin(key, env_names)
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}{origin}: unknown key; remove it or check its spelling")
            continue
        shown = "***" if key.endswith(("_key", "_secret", "token")) else repr(item.get("input"))
        rule = item["msg"]
        if item["type"] == "finite_number":  # inf/nan: pydantic's message omits the range
            rule += f"; allowed: {_allowed_range(model, item['loc'])}"
        lines.append(f"  {key} = {shown}{origin}: {rule}")
    return "\n".join(lines)


_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def _allowed_range(config_model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """The bounds of the setting at `loc` in words: "a finite number > 0 and <= 100"."""
    model: Any = config_model
    field = None
    for part in loc:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            break
        field = fields[part]
        model = field.annotation
    bounds = [f"{sign} {_number(getattr(rule, name))}" for rule in (field.metadata if field else [])
              for name, sign in _BOUNDS if hasattr(rule, name)]
    return " and ".join(["a finite number"] + bounds).replace("number and", "number", 1)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else repr(value)
