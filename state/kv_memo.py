"""What a ledger connection knows it has committed to the kv table, to skip rewriting it.

Why: the trader saves its cursor (id counters, position open times, trading state) at the
end of every decision step, in the step's transaction, and most steps save the very values
the previous one did: three UPSERTs a minute that change nothing.

The memo is only ever a subset of the truth on file, which is what makes skipping safe:
- a value enters `committed` only after the COMMIT of the transaction that wrote it
  returned (writes inside a transaction wait in `pending`);
- a rollback, and any error on the way to a commit, forgets everything (`abort`): the next
  save writes again;
- a plain `set_kv` of a key forgets that key, so a writer that does not use the memo is
  never shadowed by it.
It cannot see another connection's writes; `Ledger.set_kv_unless_same` is for keys that
only one ledger object writes (the trader's cursor keys are written nowhere else).
"""

from __future__ import annotations

from collections.abc import Callable


class KvMemo:
    """The kv texts one connection committed (`committed`) or wrote in its open transaction
    (`pending`), for the keys written through `Ledger.set_kv_unless_same`."""

    def __init__(self) -> None:
        """Empty: a freshly opened ledger writes every key once."""
        self.committed: dict[str, str] = {}
        self.pending: dict[str, str] = {}
        self.in_transaction = False  # a transaction the ledger itself began is open
        # key -> (the immutable object its last value was made from, that value's text)
        self.made: dict[str, tuple[object, str]] = {}

    def begin(self) -> None:
        """The ledger's BEGIN succeeded."""
        self.pending.clear()
        self.in_transaction = True

    def commit(self) -> None:
        """The ledger's COMMIT returned: what was written in it is on file."""
        self.in_transaction = False
        self.committed.update(self.pending)
        self.pending.clear()

    def abort(self) -> None:
        """Rolled back, or failed on the way: forget everything, also what was committed."""
        self.in_transaction = False
        self.pending.clear()
        self.committed.clear()

    def forget(self, key: str) -> None:
        """`key` was written without the memo: the next save of it writes."""
        self.pending.pop(key, None)
        self.committed.pop(key, None)

    def unchanged(self, key: str, text: str, in_transaction: bool) -> bool:
        """Whether `key` is known to hold `text` in the open transaction's view of the file
        (never outside a transaction the ledger began: that write commits alone)."""
        return (self.in_transaction and in_transaction
                and self.pending.get(key, self.committed.get(key)) == text)

    def wrote(self, key: str, text: str, in_transaction: bool) -> None:
        """`key` was set to `text` (by a statement that returned): pending inside the
        ledger's transaction, forgotten outside one (nothing to vouch for)."""
        if self.in_transaction and in_transaction:
            self.pending[key] = text
        else:
            self.forget(key)

    def text_made_from(self, key: str, source: object, encode: Callable[[], str]) -> str:
        """The text of `key`'s value made from `source`, an immutable object: `encode()`
        the first time, then kept with the object while the key is saved from that very
        object. A pure cache (same object, same text), so commits and rollbacks leave it."""
        made = self.made.get(key)
        if made is not None and made[0] is source:
            return made[1]
        text = encode()
        self.made[key] = (source, text)
        return text
