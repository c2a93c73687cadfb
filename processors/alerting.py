"""Alert rules → alert lifecycle events (pending, firing, resolved) for supervisors (USERS.md §2).

Pure and clock-free like :mod:`processors.live`: every call takes an aware ``now``, so live
operation passes the wall clock and a replay the tenant's watermark. Only alerts that are pending
or firing hold state; a scope that is fine costs a dict lookup and a comparison per rule.
Flapping is damped three ways: a breach must hold ``for`` seconds before it fires, the figure must
come back past ``clear_threshold`` (hysteresis) and stay there ``clear_for`` seconds before it
resolves, and each state is emitted once.

>>> from datetime import UTC, datetime, timedelta
>>> from schemas.alerts import Rule
>>> rule = Rule(name="sl", figure="service_level_pct", op="below", threshold="target",
...             clear_threshold=85, **{"for": 60, "clear_for": 120})
>>> acme = TenantSettings(tenant_id="acme", rules=[rule])
>>> def billing(sl):
...     return ScopeFigures(Level.queue, "acme", "voice", "billing",
...                         {"service_level_pct": sl, "in_queue_now": 14}, {"sl_den": 30})
>>> engine, t0 = AlertEngine(), datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
>>> [e.state.value for e in engine.evaluate(acme, [billing(62.0)], t0)]
['pending']
>>> (fired,) = engine.evaluate(acme, [billing(62.0)], t0 + timedelta(seconds=60))
>>> fired.message
'Billing voice: service level 62% (target 80%) for the last 15 min · 14 waiting'
>>> engine.evaluate(acme, [billing(82.0)], t0 + timedelta(minutes=5))  # not yet past 85
[]
>>> _ = engine.evaluate(acme, [billing(90.0)], t0 + timedelta(minutes=6))
>>> [e.message for e in engine.evaluate(acme, [billing(90.0)], t0 + timedelta(minutes=8))]
['Resolved: Billing voice service level back to 90% (target 80%) after 8 min']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from schemas.alerts import (
    FIGURE_SAMPLES,
    TARGET_SETTINGS,
    WEEKDAYS,
    AlertEvent,
    AlertState,
    Level,
    Rule,
    Threshold,
    parse_span,
)
from schemas.events import Channel
from schemas.tenants import ResolvedSettings, TenantSettings

__all__ = [
    "AlertEngine",
    "ScopeFigures",
    "format_value",
    "quiet_reasons",
    "render_message",
    "resolve_threshold",
    "scope_label",
]

LINK_LEAD = timedelta(minutes=15)  # the dashboard opens on the quarter hour before the breach
# in_queue_now, longest_waiting_now_seconds, agents_available_now, agents_staffed_now
CONTEXT_FIGURES = tuple(name for name in FIGURE_SAMPLES if "_now" in name)
# How a figure reads in a sentence, and its unit; "{}" places the value inside the words.
_WORDS: dict[str, tuple[str, str]] = {
    "service_level_pct": ("service level", "pct"), "abandon_rate_pct": ("abandon rate", "pct"),
    "asa_seconds": ("ASA", "s"), "max_wait_seconds": ("max wait", "s"), "aht_seconds": ("AHT", "s"),
    "fcr_pct": ("first-contact resolution", "pct"), "csat_pct": ("CSAT", "pct"),
    "csat_avg": ("average CSAT", "avg"), "nps": ("NPS", "signed"),
    "ces_avg": ("average CES", "avg"),
    "offered": ("{} offered", "count"), "in_queue_now": ("{} waiting", "count"),
    "longest_waiting_now_seconds": ("longest wait", "s"),
    "agents_available_now": ("{} agents available", "count"),
    "agents_staffed_now": ("{} agents staffed", "count"),
    "waiting_with_no_agent_available": ("{} waiting with no agent available", "count"),
}  # fmt: skip
_STATE_ORDER = {AlertState.pending: 0, AlertState.firing: 1, AlertState.resolved: 2}


@dataclass(frozen=True, slots=True)
class ScopeFigures:
    """The live figures of one scope at one instant, as :class:`AlertEngine` reads them."""

    level: Level  # queue / channel / tenant / agent
    tenant_id: str
    channel: str  # "" at tenant and agent level
    queue_id: str  # "" at channel, tenant and agent level
    figures: Mapping[str, float | None]  # figure name -> value (None = no data)
    samples: Mapping[str, int]  # sample-size name (a value of FIGURE_SAMPLES) -> count
    agent_id: str = ""  # at agent level only
    # why a figure has its value, for the alert's context (anomaly scores: what was expected)
    details: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)


def resolve_threshold(
    value: Threshold, rule_figure: str, tenant: TenantSettings, channel: str, queue_id: str
) -> float:
    """A rule threshold as a number for one scope: a number, ``"target"`` or ``"<k>*T"``.

    A channel-less (tenant-level) scope reads the tenant's own settings through the voice
    defaults: targets are not channel-specific, but T (hence ``2*T`` and the ASA target) is 20 s
    there unless the tenant sets ``sl_threshold_seconds``; give a number to watch other channels.

    >>> t = TenantSettings(tenant_id="acme", queues={"vip": {"sl_target_pct": 95}})
    >>> resolve_threshold("target", "service_level_pct", t, "voice", "vip")
    95.0
    >>> resolve_threshold("2*T", "longest_waiting_now_seconds", t, "chat", "")
    120.0
    """
    return _threshold(value, rule_figure, _resolve(tenant, channel, queue_id))


def _resolve(tenant: TenantSettings, channel: str, queue_id: str) -> ResolvedSettings:
    return tenant.resolve(Channel(channel) if channel else Channel.voice, queue_id or None)


def _threshold(value: Threshold, figure: str, settings: ResolvedSettings) -> float:
    if not isinstance(value, str):
        return float(value)
    if value == "target":
        return float(getattr(settings, TARGET_SETTINGS[figure]))
    return float(value[:-2]) * settings.sl_threshold_seconds  # "<factor>*T"


def scope_label(
    level: Level, tenant_id: str, channel: str, queue_id: str, agent_id: str = ""
) -> str:
    """ "Billing voice" for a queue, "Voice" for a channel, the tenant id for the tenant,
    "Agent a-7" for an agent."""
    if level is Level.queue:
        return f"{queue_id[:1].upper()}{queue_id[1:]} {channel}"
    if level is Level.agent:
        return f"Agent {agent_id}"
    return channel.capitalize() if level is Level.channel else tenant_id


def format_value(value: float, unit: str, precise: bool = False) -> str:
    """ "62%", "3m20s", "+12", "4.2"; ``precise`` adds a decimal where rounding would mislead.

    >>> format_value(200, "s"), format_value(45, "s"), format_value(-5, "signed")
    ('3m20s', '45s', '-5')
    """
    if unit == "s":
        if precise and value < 60:
            return f"{value:.1f}s"
        minutes, seconds = divmod(round(value), 60)
        parts = zip((*divmod(minutes, 60), seconds), "hms", strict=True)
        return "".join(f"{n}{u}" for n, u in parts if n) or "0s"
    digits = (1 if unit == "avg" else 0) + int(precise)
    sign = "+" if unit == "signed" else ""
    return f"{value:{sign}.{digits}f}" + ("%" if unit == "pct" else "")


def _shown(value: float, threshold: float, unit: str) -> str:
    # 79.6% next to "target 80%" must not read "80%": add a decimal when rounding hides the gap
    text = format_value(value, unit)
    if value != threshold and text == format_value(threshold, unit):
        return format_value(value, unit, precise=True)
    return text


def _span(seconds: float) -> str:
    minutes = round(seconds) // 60
    if minutes < 120:
        return f"{minutes} min" if minutes else f"{round(seconds)}s"
    return f"{minutes // 60} h {minutes % 60} min"


def _context_text(figure: str, context: Mapping[str, Any]) -> str:
    # the figure the alert is about is not repeated in its context
    waiting, longest = context.get("in_queue_now"), context.get("longest_waiting_now_seconds")
    available, staffed = context.get("agents_available_now"), context.get("agents_staffed_now")
    parts = []
    if waiting is not None and figure not in ("in_queue_now", "waiting_with_no_agent_available"):
        parts.append(f"{waiting:.0f} waiting")
    if longest is not None and figure != "longest_waiting_now_seconds":
        parts.append(f"longest {format_value(longest, 's')}")
    if available is not None:
        of = "" if staffed is None else f" of {staffed:.0f}"
        parts.append(f"{available:.0f}{of} agents available")
    elif staffed is not None:
        parts.append(f"{staffed:.0f} agents staffed")
    return "".join(f" · {part}" for part in parts)


def render_message(
    event: AlertEvent, *, is_target: bool, min_sample: int = 0, muted: str | None = None
) -> str:
    """The one line a supervisor reads on a phone, from the event's own fields.

    ``is_target`` says "target" rather than "threshold"; ``muted`` names why a pending alert
    was dropped; ``min_sample`` explains a resolution on too little data.
    """
    words, unit = _WORDS.get(event.figure, (event.figure.replace("_", " "), "avg"))
    label = scope_label(event.scope, event.tenant_id, event.channel, event.queue_id, event.agent_id)
    limit = f"({'target' if is_target else 'threshold'} {format_value(event.threshold, unit)})"
    value = event.value
    shown = "no data" if value is None else _shown(value, event.threshold, unit)
    named = words.format(shown) if "{}" in words else f"{words} {shown}"
    if event.figure.startswith("anomaly_"):
        text = _anomaly_message(event, label)
        return text if muted is None else f"Muted: {text.removeprefix('Pending: ')}: {muted}"
    if muted is not None:
        return f"Muted: {label} {named} {limit}: {muted}"
    if event.state is AlertState.resolved:
        after = _span((event.at - event.started_at).total_seconds())
        clear = event.clear_threshold
        if value is not None and (value >= clear if event.op == "below" else value <= clear):
            outcome = f"back to {shown} {limit}"
        elif FIGURE_SAMPLES.get(event.figure) == "in_queue_now" and event.sample == 0:
            outcome = "cleared: nobody waiting"
        elif value is None:
            outcome = "no longer measured"
        else:  # still on the bad side, on too small a sample to claim a breach
            outcome = f"too few to judge ({event.sample} of {min_sample} needed)"
        return f"Resolved: {label} {words.replace('{} ', '')} {outcome} after {after}"
    live_now = FIGURE_SAMPLES.get(event.figure) in ("in_queue_now", "agents_staffed_now")
    window = "" if live_now else f" for the last {_span(event.window_seconds)}"
    prefix = "Pending: " if event.state is AlertState.pending else ""
    return f"{prefix}{label}: {named} {limit}{window}{_context_text(event.figure, event.context)}"


def _anomaly_message(event: AlertEvent, label: str) -> str:
    """ "Billing voice: unusual: 312 offered in 10:00–10:15 (expected 100, normal 70–130)
    since 09:45 · also ASA 1m35s (expected 20s)"; on resolution, what the figure came back to."""
    found = event.context.get("anomalies") or []
    if event.state is AlertState.resolved:
        after = _span((event.at - event.started_at).total_seconds())
        if not found:
            return f"Resolved: {label} figures no longer unusual after {after}"
        first = found[0]
        words, unit = _WORDS.get(first["figure"], (first["figure"].replace("_", " "), "avg"))
        observed = format_value(first["observed"], unit)
        expected = format_value(first["expected"], unit)
        what = f"{words.replace('{} ', '')} back to normal ({observed}, expected {expected})"
        return f"Resolved: {label} {what} after {after}"
    prefix = "Pending: " if event.state is AlertState.pending else ""
    if not found:
        score = "no data" if event.value is None else f"{event.value:.2f}"
        return f"{prefix}{label}: unusual figures (anomaly score {score})"
    parts = []
    for i, f in enumerate(found[:3]):
        words, unit = _WORDS.get(f["figure"], (f["figure"].replace("_", " "), "avg"))
        observed = format_value(f["observed"], unit)
        named = words.format(observed) if "{}" in words else f"{words} {observed}"
        expected = format_value(f["expected"], unit)
        if i:
            parts.append(f"also {named} (expected {expected})")
            continue
        start = datetime.fromisoformat(f["interval_start"])
        span = f"{start:%H:%M}–{start + timedelta(minutes=15):%H:%M}"
        band = f"normal {format_value(f['lower'], unit)}–{format_value(f['upper'], unit)}"
        since = f["since"] and datetime.fromisoformat(f["since"])
        text = f"unusual: {named} in {span} (expected {expected}, {band})"
        parts.append(text + (f" since {since:%H:%M}" if since and since < start else ""))
    return f"{prefix}{label}: " + " · ".join(parts)


def _within(clock: time, span: str) -> bool:
    start, end = parse_span(span)
    return start <= clock and (clock < end or end == time.max)  # "24:00" ends at time.max


def quiet_reasons(tenant: TenantSettings, now: datetime) -> tuple[str | None, str | None]:
    """Why no alert may start now, local time: (a mute window, outside business hours)."""
    local = now.astimezone(tenant.zone)
    day, clock = WEEKDAYS[local.weekday()], local.time()
    for window in tenant.mute:
        if window.start is not None and window.end is not None:
            active = window.start <= now < window.end
        else:
            active = (window.days is None or day in window.days) and _within(
                clock, window.hours or ""
            )
        if active:
            return f"mute window '{window.name}'", None
    hours = tenant.business_hours
    if hours is None or any(_within(clock, span) for span in hours.get(day, ())):
        return None, None
    return None, "outside business hours"


@dataclass(slots=True)
class _Alert:
    """One alert that is pending or firing (an alert that is ok has no state at all)."""

    last: AlertEvent
    rule: Rule | None  # None after restore() until its rule is evaluated again
    good_since: datetime | None = None  # start of the current run of "good" evaluations
    seen: int = 0  # the evaluation that last saw its rule and scope


@dataclass(frozen=True, slots=True)
class _Seen:
    """What one evaluation found for one alert (no scope: its scope or rule has gone)."""

    scope: ScopeFigures | None
    value: float | None
    sample: int
    threshold: float
    clear: float
    now: datetime
    breach: bool  # on the bad side of the threshold, on enough data
    good: bool  # on the good side of the clear threshold, or too little data to tell
    quiet: str | None  # why no alert may start now


_Key = tuple[str, Level, str, str, str]  # (rule, level, channel, queue_id, agent_id) in a tenant


class _Plan:
    """A tenant's rules and their (threshold, clear threshold) per (channel, queue), computed
    once per settings object: evaluation then costs a few lookups per rule and scope."""

    def __init__(self, tenant: TenantSettings) -> None:
        self.tenant, self.rules = tenant, tenant.active_rules
        self._limits: dict[tuple[str, str], list[tuple[float, float]]] = {}

    def limits(self, channel: str, queue_id: str) -> list[tuple[float, float]]:
        found = self._limits.get((channel, queue_id))
        if found is None:
            settings = _resolve(self.tenant, channel, queue_id)
            found = self._limits[channel, queue_id] = []
            for rule in self.rules:
                threshold = clear = _threshold(rule.threshold, rule.figure, settings)
                if rule.clear_threshold is not None:
                    clear = _threshold(rule.clear_threshold, rule.figure, settings)
                # a clear threshold on the breaching side (possible with "target") is the threshold
                below = rule.op == "below"
                found.append((threshold, max(clear, threshold) if below else min(clear, threshold)))
        return found


class AlertEngine:
    """Alert state for every tenant; :meth:`evaluate` once a second per tenant.

    ``scopes`` must be every scope of the tenant: an alert whose scope or rule is no longer
    evaluated is taken as having no data, so it resolves instead of firing forever.
    """

    def __init__(self, window_seconds: float = 900.0, link_template: str | None = None) -> None:
        if link_template is not None:  # fail at start-up, not at the first alert
            try:
                link_template.format(tenant="", channel="", queue="", from_ms=0, to_ms=0)
            except (KeyError, IndexError, ValueError) as error:
                raise ValueError(
                    f"link_template {link_template!r}: {error!r}; it may use {{tenant}}, "
                    "{channel}, {queue}, {from_ms} and {to_ms}"
                ) from None
        self.window_seconds = window_seconds
        self.link_template = link_template
        self._alerts: dict[str, dict[_Key, _Alert]] = {}
        self._plans: dict[str, _Plan] = {}
        self._round = 0

    def active(self) -> list[AlertEvent]:
        """The last event of every alert currently pending or firing."""
        return [a.last for alerts in self._alerts.values() for a in alerts.values()]

    def restore(self, events: Iterable[AlertEvent]) -> None:
        """Rebuild state after a restart from the latest event of each alert_key."""
        latest: dict[str, AlertEvent] = {}
        for event in events:  # at equal times, pending < firing < resolved (for = 0)
            seen = latest.get(event.alert_key)
            rank = (event.at, _STATE_ORDER[event.state])
            if seen is None or rank >= (seen.at, _STATE_ORDER[seen.state]):
                latest[event.alert_key] = event
        for event in latest.values():
            if event.state is AlertState.resolved:
                continue
            agent_id = event.agent_id
            if event.scope is Level.agent and not agent_id:  # a row stored without agent_id
                agent_id = event.alert_key.removeprefix(f"{event.tenant_id}/{event.rule}/agent/")
                event = event.model_copy(update={"agent_id": agent_id})
            key = (event.rule, event.scope, event.channel, event.queue_id, agent_id)
            self._alerts.setdefault(event.tenant_id, {})[key] = _Alert(event, rule=None)

    def evaluate(
        self, tenant: TenantSettings, scopes: Sequence[ScopeFigures], now: datetime
    ) -> list[AlertEvent]:
        """Judge every rule on every scope it applies to at ``now``; the transitions, in order."""
        if now.tzinfo is None:
            raise ValueError("evaluate(now=...) needs an aware datetime, e.g. datetime.now(UTC)")
        self._round += 1
        alerts = self._alerts.setdefault(tenant.tenant_id, {})
        plan = self._plans.get(tenant.tenant_id)
        if plan is None or plan.tenant is not tenant:  # new or reloaded settings
            plan = self._plans[tenant.tenant_id] = _Plan(tenant)
        muted, closed = quiet_reasons(tenant, now)
        events: list[AlertEvent] = []
        for scope in scopes:
            limits = None
            for i, rule in enumerate(plan.rules):
                if rule.level != scope.level or rule.channel not in (None, scope.channel):
                    continue
                if rule.queue_id not in (None, scope.queue_id):
                    continue
                if rule.agent_id not in (None, scope.agent_id):
                    continue
                key = (rule.name, scope.level, scope.channel, scope.queue_id, scope.agent_id)
                alert = alerts.get(key)
                value = scope.figures.get(rule.figure)
                sample = scope.samples.get(FIGURE_SAMPLES[rule.figure], 0)
                if alert is None and (value is None or sample < rule.min_sample):
                    continue  # the common case: too little data to breach, nothing to remember
                if limits is None:
                    limits = plan.limits(scope.channel, scope.queue_id)
                threshold, clear = limits[i]
                below, breach, good = rule.op == "below", False, True
                if value is not None and sample >= rule.min_sample:
                    breach = value < threshold if below else value > threshold
                    good = value >= clear if below else value <= clear
                if alert is None and not breach:
                    continue
                quiet = muted or (closed if rule.business_hours_only else None)
                seen = _Seen(scope, value, sample, threshold, clear, now, breach, good, quiet)
                if alert is None:
                    if quiet is None:
                        events += self._start(alerts, key, rule, seen)
                    continue
                alert.seen, alert.rule = self._round, rule
                events += self._step(alerts, key, alert, seen)
        for key, alert in list(alerts.items()):
            if alert.seen != self._round:  # its scope or rule has gone: no data any more
                last = alert.last
                seen = _Seen(
                    None, None, 0, last.threshold, last.clear_threshold, now, False, True, None
                )
                events += self._step(alerts, key, alert, seen)
        return events

    def _start(
        self, alerts: dict[_Key, _Alert], key: _Key, rule: Rule, seen: _Seen
    ) -> list[AlertEvent]:
        scope, now = seen.scope, seen.now
        assert scope is not None
        if scope.level is Level.agent:
            alert_key = f"{scope.tenant_id}/{rule.name}/agent/{scope.agent_id}"
        else:
            alert_key = "/".join(
                (scope.tenant_id, rule.name, scope.level, scope.channel, scope.queue_id)
            )
        first = AlertEvent(
            alert_key=alert_key, alert_id=f"{alert_key}@{now.isoformat()}", rule=rule.name,
            tenant_id=scope.tenant_id, scope=scope.level, channel=scope.channel,
            queue_id=scope.queue_id, agent_id=scope.agent_id, state=AlertState.pending,
            severity=rule.severity, figure=rule.figure, op=rule.op, value=seen.value,
            threshold=seen.threshold, clear_threshold=seen.clear,
            window_seconds=self.window_seconds, sample=seen.sample, started_at=now, at=now,
            message="",
        )  # fmt: skip
        alert = alerts[key] = _Alert(first, rule, seen=self._round)
        events = [self._emit(alert, AlertState.pending, seen)]
        if rule.for_seconds <= 0:
            events.append(self._emit(alert, AlertState.firing, seen))
        return events

    def _step(
        self, alerts: dict[_Key, _Alert], key: _Key, alert: _Alert, seen: _Seen
    ) -> list[AlertEvent]:
        rule, now = alert.rule, seen.now
        if alert.last.state is AlertState.pending:
            if seen.quiet is not None or not seen.breach:  # it never fired: drop it
                del alerts[key]
                return [self._emit(alert, AlertState.resolved, seen)]
            held = (now - alert.last.started_at).total_seconds()
            if rule is None or held >= rule.for_seconds:
                return [self._emit(alert, AlertState.firing, seen)]
            return []
        if not seen.good:  # still breaching, or between threshold and clear threshold
            alert.good_since = None
            return []
        alert.good_since = alert.good_since or now
        clear_for = (rule.clear_for_seconds if rule is not None else None) or 0.0
        if (now - alert.good_since).total_seconds() < clear_for:
            return []
        del alerts[key]  # good news goes out even when muted or after hours
        return [self._emit(alert, AlertState.resolved, seen)]

    def _emit(self, alert: _Alert, state: AlertState, seen: _Seen) -> AlertEvent:
        last, rule, now = alert.last, alert.rule, seen.now
        figures = seen.scope.figures if seen.scope is not None else {}
        context: dict[str, Any] = {}
        for name in CONTEXT_FIGURES:  # counts as int, so that JSON consumers see 14, not 14.0
            if (found := figures.get(name)) is not None:
                context[name] = found if name == "longest_waiting_now_seconds" else int(found)
        if seen.scope is not None and last.figure in seen.scope.details:
            context["anomalies"] = [dict(d) for d in seen.scope.details[last.figure]]
        link = None
        if self.link_template is not None:
            link = self.link_template.format(
                tenant=quote(last.tenant_id, safe=""),
                channel=quote(last.channel, safe=""),
                queue=quote(last.queue_id, safe=""),
                from_ms=int((last.started_at - LINK_LEAD).timestamp() * 1000),
                to_ms=int(now.timestamp() * 1000),
            )
        was_firing = state is not AlertState.resolved or last.state is AlertState.firing
        event = last.model_copy(
            update={"state": state, "value": seen.value, "threshold": seen.threshold,
                    "clear_threshold": seen.clear, "sample": seen.sample, "at": now,
                    "context": context, "link": link, "was_firing": was_firing}
        )  # fmt: skip
        message = render_message(
            event,
            is_target=rule is not None and rule.threshold == "target",
            min_sample=rule.min_sample if rule is not None else 0,
            muted=seen.quiet if not was_firing and seen.breach else None,
        )
        alert.last = event = event.model_copy(update={"message": message})
        return event
