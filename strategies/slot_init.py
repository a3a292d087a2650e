"""Building a frozen slotted dataclass without its generated `__init__`, for the few that a
decision step makes by the dozen (a ranked coin, a HOLD action: ten of each a minute).

A frozen dataclass's `__init__` writes each field through `object.__setattr__` (frozen
classes refuse their own); with `slots=True` each field is a slot whose member descriptor
writes it directly, about half the cost. The object is the same: every slot set, equal to
and hashing as the one `__init__` makes (tests/unit/test_slot_init.py). `slot_setters`
checks that the slots are the dataclass's fields in order, so a maker written against them
cannot silently skip a field added later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

Setter = Callable[[Any, Any], None]


def slot_setters(cls: type) -> tuple[Setter, ...]:
    """The `__set__` of each field's slot of the frozen, slotted dataclass `cls`, in field
    order. Raises TypeError when `cls` has a `__post_init__` (the maker would skip it) or
    its slots are not exactly its fields in order."""
    names = tuple(field.name for field in dataclasses.fields(cls))
    if getattr(cls, "__slots__", None) != names or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: slots {getattr(cls, '__slots__', None)} are not its "
                        f"fields {names} in order, or it has a __post_init__")
    return tuple(getattr(cls, name).__set__ for name in names)
