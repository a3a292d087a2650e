"""The paper broker's ids: client order ids and trade ids, numbered by two counters.

Apart from the broker (exchange/brokers/sim.py) because numbering is its own job, with its
own contract to the trader (trading/broker.py): ids are the prefix and a counter, the
counters are persisted and restored after a restart so no id is issued twice. The broker
derives from this class and owns the state: `_prefix` set once, both counters reset by
each new account, `_trade_seq` advanced for each fill it books.
"""

from __future__ import annotations


class PaperIdCounters:
    """`next_client_order_id`, `id_stems` and the counters' persistence of `PaperBroker`."""

    _prefix: str
    _order_seq: int  # the last client order number issued
    _trade_seq: int  # the last trade number issued

    def next_client_order_id(self) -> str:
        """A fresh client order id: prefix + counter, e.g. `E-00000001` (Binance allows
        36 characters of [A-Za-z0-9-_])."""
        self._order_seq += 1
        return f"{self.id_stems()[0]}{self._order_seq:08d}"

    def id_stems(self) -> tuple[str, str]:
        """What client order ids and trade ids start with before their number (`E-`, `E-T`):
        a restart reads the highest numbers in the ledger after them, so a counter saved
        behind its fills cannot issue an id twice."""
        return f"{self._prefix}-", f"{self._prefix}-T"

    def counters(self) -> tuple[int, int]:
        """(last client order number, last trade number): persist them to resume ids."""
        return self._order_seq, self._trade_seq

    def restore_counters(self, order_seq: int, trade_seq: int) -> None:
        """Resume numbering after a restart, so no id is issued twice. Never moves back."""
        self._order_seq = max(self._order_seq, order_seq)
        self._trade_seq = max(self._trade_seq, trade_seq)

    def resumable_id_stems(self) -> tuple[str, str]:
        """`id_stems`: every id is this broker's own, so the ledger's highest is a floor."""
        return self.id_stems()
