"""Who is staffed and who is available right now, per queue (from ``agent.state`` events).

A state lasts until the agent's next state event; out-of-order events never overwrite a newer
state. Pure: the caller passes each event's time.

>>> b = AgentBoard()
>>> b.update("acme", "a1", "available", ["billing"], 10.0)
>>> b.update("acme", "a2", "busy", ["billing", "sales"], 11.0)
>>> b.update("acme", "a1", "offline", ["billing"], 5.0)  # older than what we know: ignored
>>> b.counts("acme", {"billing"})
(1, 2)
>>> b.counts("acme", {"sales"}), b.counts("acme", None)
((0, 1), (1, 2))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(slots=True)
class AgentNow:
    state: str
    queue_ids: frozenset[str]
    since: float


class AgentBoard:
    def __init__(self) -> None:
        self._agents: dict[str, dict[str, AgentNow]] = {}

    def update(
        self, tenant_id: str, agent_id: str, state: str, queue_ids: Iterable[str] | None, at: float
    ) -> None:
        agents = self._agents.setdefault(tenant_id, {})
        known = agents.get(agent_id)
        if known is not None and known.since > at:
            return
        queues = frozenset(queue_ids) if queue_ids is not None else None
        if queues is None:  # the event did not say: the agent keeps its queues
            queues = known.queue_ids if known is not None else frozenset()
        agents[agent_id] = AgentNow(state, queues, at)

    def counts(self, tenant_id: str, queue_ids: set[str] | None) -> tuple[int, int]:
        """(agents_available_now, agents_staffed_now) for these queues (None: the tenant)."""
        available = staffed = 0
        for agent in self._agents.get(tenant_id, {}).values():
            if agent.state == "offline":
                continue
            if queue_ids is not None and not (agent.queue_ids & queue_ids):
                continue
            staffed += 1
            available += agent.state == "available"
        return available, staffed

    def queues(self, tenant_id: str) -> set[str]:
        return {q for a in self._agents.get(tenant_id, {}).values() for q in a.queue_ids}
