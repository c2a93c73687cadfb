"""Live figures → the alert engine, on the wall clock (live) or on event time (replay).

Live, a timer evaluates every tenant once a second and again right after each batch, so an
alert follows the event that causes it within a batch. On event time, every tenant is evaluated
at each ``step`` of its watermark, before the events past that instant are added, so a replay
raises and clears exactly the alerts live processing of the same events would have. Steps at
which nothing can change are skipped (see ``_idle``), so a replayed night costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, tzinfo

from processors.agents import AgentBoard
from processors.alerting import AlertEngine, ScopeFigures
from processors.anomaly_watch import AnomalyWatch
from processors.figures import FigureSums
from processors.live import LiveBoard, LiveFigures
from schemas.alerts import AlertEvent, Level
from schemas.tenants import TenantDirectory


class LiveAlerts:
    def __init__(
        self,
        tenants: TenantDirectory,
        live: LiveBoard,
        agents: AgentBoard,
        engine: AlertEngine,
        step_seconds: float = 1.0,
        agent_live: LiveBoard | None = None,
        anomalies: AnomalyWatch | None = None,
    ) -> None:
        self.tenants = tenants
        self.live = live
        self.agent_live = agent_live or LiveBoard(live.window_seconds)
        self.agents = agents
        self.anomalies = anomalies if anomalies is not None else AnomalyWatch()
        self.engine = engine
        self.step = step_seconds
        self._evaluated: dict[str, float] = {}  # tenant -> last instant evaluated
        self._changed: set[str] = set()  # tenants with live updates since their evaluation

    def changed(self, tenant_id: str) -> None:
        self._changed.add(tenant_id)

    def _idle(self, tenant_id: str, at: float, active: set[str]) -> bool:
        """True when evaluating at ``at`` cannot give anything new: nothing arrived, no alert
        is pending or firing, nobody is waiting, no window slot moves, no schedule applies."""
        if tenant_id in self._changed or tenant_id in active:
            return False
        tenant = self.tenants.get(tenant_id)
        if tenant.business_hours is not None or tenant.mute:
            return False
        return self._next_change(tenant_id) > at

    def _next_change(self, tenant_id: str) -> float:
        change = self.live.next_change(tenant_id)
        if self._has_agent_rules(tenant_id):
            change = min(change, self.agent_live.next_change(tenant_id))
        return change

    def scopes(self, tenant_id: str, now: float) -> list[ScopeFigures]:
        board = self.live.figures(tenant_id, now)
        channel_queues: dict[str, set[str]] = {}
        for f in board:
            _, channel, queue_id = f.scope
            if channel and queue_id:
                channel_queues.setdefault(channel, set()).add(queue_id)
        scopes = [self._scope(f, channel_queues) for f in board]
        on_board = {f.scope for f in board}
        zone = self.tenants.get(tenant_id).zone
        scopes = [self._with_anomalies(s, zone) for s in scopes]
        for scope in self.anomalies.scopes(tenant_id):  # a silent queue may be off the board
            if scope not in on_board:
                level = Level.queue if scope[2] else Level.channel if scope[1] else Level.tenant
                empty = ScopeFigures(level, tenant_id, scope[1], scope[2], {}, {})
                scopes.append(self._with_anomalies(empty, zone))
        if self._has_agent_rules(tenant_id):  # agents are many: only when a rule needs them
            scopes += [
                _agent_scope(f)
                for f in self.agent_live.figures(tenant_id, now)
                if f.scope[1] == AGENT and f.scope[2]
            ]
        return scopes

    def _with_anomalies(self, scope: ScopeFigures, zone: tzinfo) -> ScopeFigures:
        """The scope with its anomaly scores as figures, and why, from the last closed
        quarter hour (nothing while its detectors have not scored it)."""
        key = (scope.tenant_id, scope.channel, scope.queue_id)
        found = self.anomalies.findings(key)
        if not found:
            return scope
        figures, samples = self.anomalies.figures(key)
        unusual = [f.as_dict(zone) for f in found if f.score >= 0.5] or [found[0].as_dict(zone)]
        details = {"anomaly_score": unusual} | {
            f"anomaly_{f.figure}": [f.as_dict(zone)] for f in found
        }
        return replace(
            scope,
            figures={**scope.figures, **figures},
            samples={**scope.samples, **samples},
            details=details,
        )

    def _has_agent_rules(self, tenant_id: str) -> bool:
        return any(r.level is Level.agent for r in self.tenants.get(tenant_id).active_rules)

    def _scope(self, f: LiveFigures, channel_queues: dict[str, set[str]]) -> ScopeFigures:
        tenant_id, channel, queue_id = f.scope
        if queue_id:
            level, queues = Level.queue, {queue_id}
        elif channel:
            level, queues = Level.channel, channel_queues.get(channel, set())
        else:
            level, queues = Level.tenant, None
        available, staffed = self.agents.counts(tenant_id, queues)
        counts = f.sums.counts()
        figures: dict[str, float | None] = {
            **f.sums.figures(),
            "offered": counts["offered"],
            "in_queue_now": f.in_queue_now,
            "longest_waiting_now_seconds": f.longest_waiting_now_seconds,
            "agents_available_now": available,
            "agents_staffed_now": staffed,
            "waiting_with_no_agent_available": f.in_queue_now if available == 0 else 0,
        }
        samples = _samples(f.sums, f.in_queue_now, staffed)
        return ScopeFigures(level, tenant_id, channel, queue_id, figures, samples)

    def evaluate(self, tenant_id: str, now: float) -> list[AlertEvent]:
        """Evaluate one tenant at ``now`` (epoch seconds); never goes back in time."""
        if now <= self._evaluated.get(tenant_id, -math.inf):
            return []
        self._evaluated[tenant_id] = now
        self._changed.discard(tenant_id)
        at = datetime.fromtimestamp(now, UTC)
        return self.engine.evaluate(self.tenants.get(tenant_id), self.scopes(tenant_id, now), at)

    def evaluate_all(self, now: float, tenants: Iterable[str] | None = None) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        for tenant_id in tenants if tenants is not None else self.live.tenants():
            events += self.evaluate(tenant_id, now)
        return events

    def advance(self, tenant_id: str, until: float) -> list[AlertEvent]:
        """Event time: evaluate at every step after the last one, up to before ``until``."""
        last = self._evaluated.get(tenant_id)
        if last is None:
            self._evaluated[tenant_id] = math.floor(until / self.step) * self.step - self.step
            return []
        events: list[AlertEvent] = []
        active = {e.tenant_id for e in self.engine.active()}
        tick = (math.floor(last / self.step) + 1) * self.step
        while tick < until:
            if self._idle(tenant_id, tick, active):  # jump to where something can change
                change = min(self._next_change(tenant_id), until)
                tick = max(tick + self.step, math.ceil(change / self.step) * self.step)
                # the skipped instants count as evaluated: later calls must not revisit them
                self._evaluated[tenant_id] = (
                    min(tick, math.ceil(until / self.step) * self.step) - self.step
                )
                continue
            events += self.evaluate(tenant_id, tick)
            if events:
                active = {e.tenant_id for e in self.engine.active()}
            tick += self.step
        return events


AGENT = "agent"  # the middle part of agent scopes on the agent board: (tenant, "agent", agent_id)


def _agent_scope(f: LiveFigures) -> ScopeFigures:
    tenant_id, _, agent_id = f.scope
    figures: dict[str, float | None] = {**f.sums.figures(), "offered": f.sums.offered}
    return ScopeFigures(
        Level.agent, tenant_id, "", "", figures, _samples(f.sums, 0, 0), agent_id=agent_id
    )


def _samples(s: FigureSums, in_queue_now: int, staffed: int) -> dict[str, int]:
    """The sample sizes rules check against ``min_sample`` (FIGURE_SAMPLES names them)."""
    return {**s.samples(), "in_queue_now": in_queue_now, "agents_staffed_now": staffed}
