"""Synthetic contact-center events for several tenants: a pure, seeded simulation (no I/O).

Each queue is a discrete-event M/G/N system with impatient customers (Erlang-A-like): Poisson
arrivals whose rate follows an intraday curve in the tenant's local time zone, a pool of agents
working shifts with breaks (``aux``), first-come first-served by the longest-idle agent, and
exponential patience. Waits, abandons and occupancy therefore come from load, not from dice.
Surveys follow a share of ended contacts a few minutes later, and satisfaction falls with the
wait; a few contacts are evaluated for quality later the same day.

The output covers ``[start, start + duration)``: the system starts empty at ``start`` (agents on
shift log in then) and contacts still waiting or in progress at the end are cut off, as a live
feed would be at that moment. Every event passes ``schemas.decode.validate_event``.

Measured (``default_config``, 3 tenants, scale 1, one day; CPython 3.11 on one core): about
25,000 events (≈4,100 contacts, ≈1,100 surveys, ≈11,800 agent state changes) in about 0.5 s;
scale 10 or 30 tenants give about 250,000 events in about 4.5 s. There is no weekend dip.
Chat agents handle one contact at a time here (no concurrency), a simplification.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

CHANNELS = ("voice", "chat", "messaging", "email", "social")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Delay between an agent taking a contact and the customer noticing (voice rings, chat's first
# reply is typed), counted in the wait as the contract defines "answered".
_CONNECT_SECONDS = {
    "voice": (1.0, 4.0),
    "chat": (3.0, 20.0),
    "messaging": (10.0, 60.0),
    "email": (0.0, 0.0),
    "social": (10.0, 60.0),
}
_HOLD_CHANCE = {"voice": 0.25, "chat": 0.05, "messaging": 0.03, "email": 0.0, "social": 0.03}
# Shift groups (share of the pool, local start hour, length in hours), ordered so that a small
# pool staffs the day first; together they roughly follow the intraday curve.
_SHIFTS = ((0.3, 7.0, 8.5), (0.35, 9.0, 8.5), (0.27, 12.5, 8.5), (0.08, 20.5, 10.5))
_DISPOSITIONS = ("complaint", "sales", "cancellation", "technical", "billing_question", "callback")
_SOURCES = ("internal", "self", "mystery_shopper", "external")
_SOURCE_WEIGHTS = (0.8, 0.08, 0.07, 0.05)
_SERVQUAL = ("reliability", "responsiveness", "assurance", "empathy", "tangibles")
_CRITERIA = ("greeting", "accuracy", "empathy", "compliance", "closing")
_COMMENTS = ("Quick and friendly.", "Waited far too long.", "Problem solved, thanks!", "Meh.")

# Sim event kinds; a heap entry is (time ms, seq, kind, index, extra).
_ARRIVE, _ABANDON, _FREE, _SHIFT_START, _SHIFT_END, _BREAK_DUE, _BREAK_END = range(7)
_WAITING, _TAKEN, _ABANDONED = range(3)

_Out = tuple[int, int, int, int, str, dict[str, Any]]  # (ms, tenant, queue, seq, type, fields)


@dataclass(frozen=True)
class Surge:
    """``factor`` × the usual arrivals between ``start`` and ``end`` (an outage elsewhere, a
    TV spot): the same agents must serve them, so waits and abandons rise too."""

    start: datetime
    end: datetime
    factor: float


@dataclass(frozen=True)
class SimQueue:
    queue_id: str
    channel: str
    agents: int
    peak_arrivals_per_hour: float
    mean_handle_seconds: float
    mean_patience_seconds: float
    surges: tuple[Surge, ...] = ()

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"queue {self.queue_id!r}: channel must be one of {CHANNELS}")
        if not 1 <= len(self.queue_id) <= 60:
            raise ValueError(f"queue_id {self.queue_id!r} must be 1-60 characters")
        if self.agents < 0 or self.peak_arrivals_per_hour < 0:
            raise ValueError(f"queue {self.queue_id!r}: agents and arrivals must be >= 0")
        if self.mean_handle_seconds <= 0 or self.mean_patience_seconds <= 0:
            raise ValueError(f"queue {self.queue_id!r}: handle and patience means must be > 0")
        if any(s.factor < 1 or s.end <= s.start for s in self.surges):
            raise ValueError(f"queue {self.queue_id!r}: a surge needs factor >= 1 and end > start")


@dataclass(frozen=True)
class SimTenant:
    tenant_id: str
    timezone: str
    queues: tuple[SimQueue, ...]


@dataclass(frozen=True)
class SimConfig:
    tenants: tuple[SimTenant, ...]
    start: datetime
    duration: timedelta
    seed: int = 0
    survey_share: float = 0.3
    evaluation_share: float = 0.02

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None:
            raise ValueError("SimConfig.start must be timezone-aware, e.g. tzinfo=UTC")
        if self.duration <= timedelta(0):
            raise ValueError("SimConfig.duration must be positive")


def intraday_curve(local_hour: float) -> float:
    """Relative arrival rate (peak 1.0) at a local hour: quiet night, 10:30 and 15:00 peaks.

    >>> round(intraday_curve(10.5), 2), round(intraday_curve(3.0), 2)
    (1.0, 0.03)
    """
    return _raw_curve(local_hour) / _CURVE_MAX


def _raw_curve(h: float) -> float:
    def bump(mid: float, width: float) -> float:
        return math.exp(-0.5 * ((h - mid) / width) ** 2)

    return 0.03 + bump(10.5, 1.6) + 0.85 * bump(15.0, 1.8) + 0.25 * bump(19.5, 1.5)


_CURVE_MAX = max(_raw_curve(m / 60) for m in range(24 * 60))

# Time zones and queue layouts cycle for tenants past the third. A layout lists queues as
# "queue_id channel peak_arrivals_per_hour mean_handle_seconds mean_patience_seconds".
_ZONES = ("Europe/Paris", "Asia/Kathmandu", "America/New_York", "Australia/Sydney", "Asia/Tokyo")
_NAMES = ("acme", "globex", "initech")
_LAYOUTS = (
    "billing voice 90 300 120, support chat 50 540 240, orders email 15 420 172800",
    "sales voice 70 240 100, care chat 40 480 180, whatsapp messaging 25 600 3600",
    "helpdesk voice 110 360 150, webchat chat 45 600 240, social social 8 300 14400, "
    "claims email 10 600 172800",
)


def default_config(
    start: datetime, duration: timedelta, seed: int = 0, tenants: int = 3, scale: float = 1.0
) -> SimConfig:
    """Several tenants in different time zones, each with voice and chat, some with more.

    Agents are sized to about twice the peak traffic in Erlangs: shifts and breaks leave
    roughly 60% of the pool on the phones at the morning peak.

    >>> from datetime import UTC, datetime, timedelta
    >>> config = default_config(datetime(2026, 11, 23, 9, tzinfo=UTC), timedelta(minutes=30))
    >>> [(t.tenant_id, t.timezone) for t in config.tenants]
    [('acme', 'Europe/Paris'), ('globex', 'Asia/Kathmandu'), ('initech', 'America/New_York')]
    >>> events = list(simulate(config))
    >>> events[0]["occurred_at"], events[0]["event_type"]
    ('2026-11-23T09:00:00.000Z', 'agent.state')
    >>> sorted({e["event_type"] for e in events})[:4]
    ['agent.state', 'contact.abandoned', 'contact.answered', 'contact.ended']
    """
    built = []
    for i in range(tenants):
        queues = []
        for spec in _LAYOUTS[i % len(_LAYOUTS)].split(", "):
            qid, channel, *numbers = spec.split()
            rate, handle, patience = (float(x) for x in numbers)
            agents = max(1, math.ceil(1.9 * rate * scale * handle / 3600))
            queues.append(SimQueue(qid, channel, agents, rate * scale, handle, patience))
        name = _NAMES[i] if i < len(_NAMES) else f"tenant{i + 1}"
        built.append(SimTenant(name, _ZONES[i % len(_ZONES)], tuple(queues)))
    return SimConfig(tuple(built), start, duration, seed)


def simulate(config: SimConfig) -> Iterator[dict[str, Any]]:
    """Every event of every tenant in ``occurred_at`` order, as JSON-ready dicts.

    Each queue has its own random stream, seeded from the window start, the seed, the tenant
    and the queue: adding a queue leaves the others' events unchanged, and consecutive days
    differ. Event ids (``acme-20261123T000000Z-s0-1``) embed the window start and the seed, so
    separate runs never collide in a store that deduplicates on (tenant_id, event_id).
    """
    start = config.start.astimezone(UTC)
    tag = f"{start:%Y%m%dT%H%M%SZ}-s{config.seed}"
    streams = [
        _queue_events(config, ti, tenant, qi, queue, tag)
        for ti, tenant in enumerate(config.tenants)
        for qi, queue in enumerate(tenant.queues)
    ]
    counters = [0] * len(config.tenants)
    last_second, last_text = -1, ""
    for ms, ti, _qi, _seq, event_type, fields in heapq.merge(*streams):
        second = ms // 1000
        if second != last_second:  # one strftime per second, not per event
            last_second = second
            last_text = f"{_EPOCH + timedelta(seconds=second):%Y-%m-%dT%H:%M:%S}"
        counters[ti] += 1
        tenant_id = config.tenants[ti].tenant_id
        yield {
            "event_id": f"{tenant_id}-{tag}-{counters[ti]}",
            "event_type": event_type,
            "tenant_id": tenant_id,
            "occurred_at": f"{last_text}.{ms % 1000:03d}Z",
            **fields,
        }


@dataclass(slots=True)
class _Agent:
    agent_id: str
    speed: float  # handle-time multiplier: some agents are quicker than others
    skill: float  # mean QA score
    state: str = "offline"  # the last state emitted
    shift_end: int = 0
    pending_break: int = 0  # ms of break owed, taken once the current contact is done
    token: int = 0  # identifies the current break, so that a stale break end is ignored


def _queue_events(
    config: SimConfig, ti: int, tenant: SimTenant, qi: int, queue: SimQueue, tag: str
) -> Iterator[_Out]:
    rng = random.Random(f"{tag}:{tenant.tenant_id}:{queue.queue_id}")
    zone = ZoneInfo(tenant.timezone)
    start = round(config.start.timestamp() * 1000)
    end = start + round(config.duration.total_seconds() * 1000)
    channel, qid = queue.channel, queue.queue_id
    sim: list[tuple[int, int, int, int, int]] = []
    out: list[_Out] = []
    seq = itertools.count()
    agents = [
        _Agent(f"{qid}-a{k + 1:02d}", _lognormal(rng, 1.0, 0.15), rng.gauss(82, 6))
        for k in range(queue.agents)
    ]
    idle: deque[int] = deque()  # available agents, longest idle first
    waiting: deque[int] = deque()  # FIFO; abandoned contacts are skipped lazily
    arrived: list[int] = []
    status = bytearray()

    def push(t: int, kind: int, index: int, extra: int = 0) -> None:
        heapq.heappush(sim, (t, next(seq), kind, index, extra))

    def emit(t: int, event_type: str, fields: dict[str, Any]) -> None:
        if t < end:
            heapq.heappush(out, (t, ti, qi, next(seq), event_type, fields))

    def set_state(t: int, a: int, state: str) -> None:
        if agents[a].state != state:
            agents[a].state = state
            fields = {"agent_id": agents[a].agent_id, "state": state, "queue_ids": [qid]}
            emit(t, "agent.state", fields)

    def contact(n: int) -> dict[str, Any]:
        return {"contact_id": f"{qid}-{tag}-{n + 1}", "channel": channel, "queue_id": qid}

    def serve(t: int, n: int, a: int) -> None:
        agent, status[n] = agents[a], _TAKEN
        set_state(t, a, "busy")
        answer = t + _ms(rng.uniform(*_CONNECT_SECONDS[channel]))
        mean = queue.mean_handle_seconds * agent.speed
        talk = _ms(_lognormal(rng, 0.75 * mean, 0.6))
        hold = _ms(_lognormal(rng, 60, 0.8)) if rng.random() < _HOLD_CHANCE[channel] else 0
        acw = _ms(_lognormal(rng, 0.17 * mean, 0.5))
        done = answer + talk + hold + acw
        wait = (answer - arrived[n]) / 1000
        base = {**contact(n), "agent_id": agent.agent_id}
        emit(answer, "contact.answered", {**base, "wait_seconds": wait})
        if acw:  # nothing interrupts a contact, so its acw state can be emitted ahead
            set_state(answer + talk + hold, a, "acw")
        transferred = rng.random() < 0.06
        resolved = rng.random() < (0.5 if transferred else 0.82)
        ended = {**base, "talk_seconds": talk / 1000, "hold_seconds": hold / 1000}
        ended |= {"acw_seconds": acw / 1000, "resolved": resolved, "transferred": transferred}
        if rng.random() < 0.12:
            ended["disposition"] = rng.choice(_DISPOSITIONS)
        emit(done, "contact.ended", ended)
        if rng.random() < config.survey_share:
            mood = 1.0 + (0.4 if resolved else -0.9) - (0.4 if transferred else 0.0)
            mood += rng.gauss(0, 0.9) - 1.2 * math.log1p(wait / queue.mean_patience_seconds)
            delay = _ms(_lognormal(rng, 240, 0.6))
            emit(done + delay, "survey.response", {**base, **_survey(rng, mood)})
        if rng.random() < config.evaluation_share:
            delay = _ms(rng.uniform(900, 4 * 3600))
            emit(done + delay, "evaluation.completed", {**base, **_evaluation(rng, agent.skill)})
        push(done, _FREE, a)

    def ready(t: int, a: int) -> None:
        """Agent ``a`` is free of contacts and breaks: log off, take a break, or work."""
        agent = agents[a]
        if t >= agent.shift_end:
            set_state(t, a, "offline")
        elif agent.pending_break:
            take_break(t, a, agent.pending_break)
        else:
            while waiting and status[waiting[0]] != _WAITING:
                waiting.popleft()
            if waiting:
                serve(t, waiting.popleft(), a)
            else:
                set_state(t, a, "available")
                idle.append(a)

    def take_break(t: int, a: int, duration: int) -> None:
        agent = agents[a]
        agent.pending_break, agent.token = 0, agent.token + 1
        set_state(t, a, "aux")
        push(t + duration, _BREAK_END, a, agent.token)

    for a, shift_start, shift_end, breaks in _shifts(rng, zone, len(agents), start, end):
        push(max(shift_start, start), _SHIFT_START, a, shift_end)
        push(shift_end, _SHIFT_END, a)
        for due, duration in breaks:
            if due >= start:
                push(due, _BREAK_DUE, a, duration)
    arrivals = _arrivals(rng, queue.peak_arrivals_per_hour, zone, start, end)
    for k, surge in enumerate(queue.surges):  # extra arrivals, from their own random streams
        lo = max(start, round(surge.start.timestamp() * 1000))
        hi = min(end, round(surge.end.timestamp() * 1000))
        surge_rng = random.Random(f"{tag}:{tenant.tenant_id}:{qid}:surge{k}")
        peak = queue.peak_arrivals_per_hour * (surge.factor - 1)
        arrivals = heapq.merge(arrivals, _arrivals(surge_rng, peak, zone, lo, hi))
    first = next(arrivals, None)
    if first is not None:
        push(first, _ARRIVE, 0)

    while sim:
        t, _, kind, index, extra = heapq.heappop(sim)
        if t >= end:
            break
        while out and out[0][0] < t:  # nothing processed from now on can happen before t
            yield heapq.heappop(out)
        if kind == _ARRIVE:
            arrived.append(t)
            status.append(_WAITING)
            emit(t, "contact.queued", contact(index))
            if idle:  # an idle agent implies an empty queue
                serve(t, index, idle.popleft())
            else:
                waiting.append(index)
                push(t + _ms(rng.expovariate(1 / queue.mean_patience_seconds)), _ABANDON, index)
            following = next(arrivals, None)
            if following is not None:
                push(following, _ARRIVE, index + 1)
        elif kind == _ABANDON and status[index] == _WAITING:
            status[index] = _ABANDONED
            wait = (t - arrived[index]) / 1000
            emit(t, "contact.abandoned", {**contact(index), "wait_seconds": wait})
        elif kind == _FREE:
            ready(t, index)
        elif kind == _SHIFT_START and agents[index].state == "offline":
            agents[index].shift_end, agents[index].pending_break = extra, 0
            ready(t, index)
        elif kind == _SHIFT_END and agents[index].state in ("available", "aux"):
            if agents[index].state == "available":
                idle.remove(index)
            agents[index].token += 1  # cancels the break in progress
            set_state(t, index, "offline")
        elif kind == _BREAK_DUE:
            state = agents[index].state
            if state == "available":
                idle.remove(index)
                take_break(t, index, extra)
            elif state in ("busy", "acw"):
                agents[index].pending_break = extra
        elif kind == _BREAK_END and agents[index].state == "aux" and agents[index].token == extra:
            ready(t, index)
    while out:
        yield heapq.heappop(out)


def _arrivals(
    rng: random.Random, peak_per_hour: float, zone: ZoneInfo, start: int, end: int
) -> Iterator[int]:
    """Poisson arrival times (ms) at rate peak × intraday curve, by thinning."""
    if peak_per_hour <= 0:
        return
    t, rate = float(start), peak_per_hour / 3_600_000
    while True:
        t += rng.expovariate(rate)
        if t >= end:
            return
        local = datetime.fromtimestamp(t / 1000, zone)
        hour = local.hour + local.minute / 60 + local.second / 3600
        if rng.random() < intraday_curve(hour):
            yield round(t)


def _shifts(
    rng: random.Random, zone: ZoneInfo, n_agents: int, start: int, end: int
) -> Iterator[tuple[int, int, int, list[tuple[int, int]]]]:
    """(agent, start ms, end ms, [(break due ms, break length ms)]) for shifts in the window.

    Shifts are laid out in local wall-clock time, so they follow the tenant's DST changes.
    """
    first = datetime.fromtimestamp(start / 1000, zone).date() - timedelta(days=1)
    days = (datetime.fromtimestamp(end / 1000, zone).date() - first).days + 1
    cumulative = list(itertools.accumulate(share for share, _, _ in _SHIFTS))
    for day in range(days):
        midnight = datetime.combine(first + timedelta(days=day), datetime.min.time(), zone)
        for a in range(n_agents):
            group = next(g for g, c in enumerate(cumulative) if (a + 0.5) / n_agents <= c + 1e-9)
            _, hour, length = _SHIFTS[group]
            begin = midnight + timedelta(hours=hour, minutes=rng.uniform(-20, 20))
            s = round(begin.timestamp() * 1000)
            e = round((begin + timedelta(hours=length)).timestamp() * 1000)
            breaks = [
                (s + _ms(rng.uniform(6300, 8100)), _ms(rng.uniform(720, 1080))),
                (s + _ms(length * 1800 + rng.uniform(-900, 900)), _ms(rng.uniform(1800, 2700))),
                (e - _ms(rng.uniform(5400, 7200)), _ms(rng.uniform(720, 1080))),
            ]
            if e > start and s < end:
                yield a, s, e, breaks


def _survey(rng: random.Random, mood: float) -> dict[str, Any]:
    """Scores driven by one latent ``mood`` (about 1.4 for a quick, resolved contact)."""
    thresholds = (-1.2, -0.4, 0.3, 1.1)
    survey: dict[str, Any] = {"csat": 1 + sum(mood >= x for x in thresholds)}
    if rng.random() < 0.7:
        survey["nps"] = _clamp(round(7.2 + 1.5 * (mood - 0.8) + rng.gauss(0, 1)), 0, 10)
    if rng.random() < 0.3:
        survey["ces"] = _clamp(round(5.2 + 0.8 * (mood - 0.8) + rng.gauss(0, 0.7)), 1, 7)
    if rng.random() < 0.1:
        survey["servqual"] = {}
        for dimension in rng.sample(_SERVQUAL, rng.randint(2, 5)):
            expected = _clamp(round(rng.gauss(5.8, 0.7)), 1, 7)
            perceived = round(expected - 0.4 + 0.7 * (mood - 0.8) + rng.gauss(0, 0.6))
            perceived = _clamp(perceived, 1, 7)
            survey["servqual"][dimension] = {"expected": expected, "perceived": perceived}
    if rng.random() < 0.05:
        survey["comment"] = rng.choice(_COMMENTS)
    return survey


def _evaluation(rng: random.Random, skill: float) -> dict[str, Any]:
    score = round(min(100.0, max(40.0, rng.gauss(skill, 8))), 1)
    evaluation: dict[str, Any] = {"source": rng.choices(_SOURCES, _SOURCE_WEIGHTS)[0]}
    evaluation |= {"score": score, "pass_mark": 80.0}
    if rng.random() < 0.6:
        evaluation["criteria"] = {
            name: round(min(100.0, max(0.0, rng.gauss(score, 8))), 1) for name in _CRITERIA
        }
    return evaluation


def disorder(
    events: Sequence[dict[str, Any]],
    seed: int = 0,
    *,
    duplicate_share: float = 0.02,
    late_share: float = 0.01,
    late_by: timedelta = timedelta(minutes=30),
    jitter: timedelta = timedelta(seconds=30),
) -> list[dict[str, Any]]:
    """The events in the order a consumer would receive them from a realistic transport.

    Each event is delayed by up to ``jitter``; a ``late_share`` of them by ``late_by + jitter``
    plus up to ``late_by`` more, so that they land more than ``late_by`` behind the newest
    event time already seen; a ``duplicate_share`` is sent again (an exact copy, later).

    >>> events = [{"event_id": str(i), "occurred_at": f"2026-11-22T09:00:0{i}Z"} for i in range(5)]
    >>> [e["event_id"] for e in disorder(events, duplicate_share=0.5, jitter=timedelta(0))]
    ['0', '1', '2', '2', '3', '4']
    """
    rng = random.Random(f"disorder:{seed}")
    jitter_s, late_s = jitter.total_seconds(), late_by.total_seconds()
    arrivals: list[tuple[float, int, dict[str, Any]]] = []
    for index, event in enumerate(events):
        occurred = datetime.fromisoformat(event["occurred_at"]).timestamp()
        delay = rng.uniform(0, jitter_s)
        if rng.random() < late_share:
            delay = late_s + jitter_s + rng.uniform(0.001, late_s)
        arrivals.append((occurred + delay, index, event))
        if rng.random() < duplicate_share:
            again = occurred + delay + rng.uniform(0.001, max(4 * jitter_s, 1.0))
            arrivals.append((again, len(events) + index, copy.deepcopy(event)))
    arrivals.sort(key=lambda arrival: arrival[:2])
    return [event for _, _, event in arrivals]


def _lognormal(rng: random.Random, mean: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _clamp(value: int, low: int, high: int) -> int:
    return min(high, max(low, value))
