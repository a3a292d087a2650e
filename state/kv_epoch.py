"""The ledger's kv memo (state/kv_memo.py) with a count of the changes to what it knows,
so a writer that saves the same values every step can tell, with one comparison, that
each of its keys still holds the text it last saved.

Why: the trader saves its cursor (id counters, position open times, trading state) at the
end of every decision step; on a quiet step each of the three saves looks its key up in the
memo to find the text already there (~1 us each in a replay's minute). The memo's `epoch`
moves at every event after which a text it vouched for may no longer be vouched for, or
may be another: a transaction begun (`pending` starts empty), a rollback (`abort`), a key
forgotten (`forget`) and a key written (`wrote`). While it stands still inside the
ledger's own transaction, every key the memo knew at that epoch still holds the same
text, and saving it again would write nothing (`Ledger.kv_epoch`).
"""

from __future__ import annotations

from state.kv_memo import KvMemo


class KvEpochMemo(KvMemo):
    """`KvMemo` whose `epoch` moves whenever what it knows may change."""

    def __init__(self) -> None:
        """Empty, at epoch 0."""
        super().__init__()
        self.epoch = 0

    def begin(self) -> None:
        self.epoch += 1
        super().begin()

    def abort(self) -> None:
        self.epoch += 1
        super().abort()

    def forget(self, key: str) -> None:
        self.epoch += 1
        super().forget(key)

    def wrote(self, key: str, text: str, in_transaction: bool) -> None:
        self.epoch += 1
        super().wrote(key, text, in_transaction)
