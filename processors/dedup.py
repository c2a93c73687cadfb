"""Recently seen event ids, for the live view: bounded in count, oldest forgotten first.

The store deduplicates exactly; the live view only needs to recognise duplicates of events
recent enough to be in its window, so a bounded memory of recent ids is enough.

>>> seen = RecentIds(capacity=2)
>>> [seen.add(k) for k in ("a", "b", "a", "c", "a")]
[True, True, False, True, True]
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class RecentIds:
    def __init__(self, capacity: int = 500_000) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, key: Hashable) -> bool:
        """Remember ``key``; False when it was already remembered (a duplicate)."""
        if key in self._ids:
            return False
        self._ids[key] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._ids)
