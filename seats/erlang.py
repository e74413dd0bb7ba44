"""Queueing formulas that turn a call load into agents on the phones.

Erlang C (callers wait forever) and Erlang A (callers hang up after an
exponential patience, Mandelbaum & Zeltyn 2005).  Everything is computed with
the Erlang B recursion and in log space, so 500+ agents and loads of hundreds
of erlangs neither overflow nor lose precision (no factorials, no powers).

Service level is the share of *all* offered calls answered by a person within
the target time (GB/T 33358: answered within 15 s).  With abandonment, a call
that hangs up before the target counts as not answered within it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from seats.errors import SeatsError

_LOG_TINY = -46.0  # terms below e^-46 of the largest change nothing in a double


@dataclass(frozen=True)
class Staffing:
    model: str
    agents: int
    load_erlangs: float
    service_level: float
    waiting_probability: float
    abandon_probability: float | None
    mean_wait_s: float
    occupancy: float

    @property
    def stable(self) -> bool:
        """False when callers arrive faster than the agents can serve and nobody hangs up: the queue
        grows without end and the mean wait has no value (Erlang C with agents <= load)."""
        return math.isfinite(self.mean_wait_s)

    def as_dict(self) -> dict:
        d = asdict(self)
        if d["abandon_probability"] is None:
            del d["abandon_probability"]
        if not self.stable:
            d["mean_wait_s"] = None        # JSON has no infinity; "stable" says why it is missing
        d["stable"] = self.stable
        return d


def erlang_b(n: int, load: float) -> float:
    """Blocking probability with ``n`` servers; the recursion is stable at any n."""
    b = 1.0
    for k in range(1, n + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(n: int, load: float) -> float:
    """Probability that a call waits (M/M/n); 1.0 when the queue is unstable."""
    if n <= load:
        return 1.0
    b = erlang_b(n, load)
    return n * b / (n - load * (1.0 - b))


def _check(calls: float, interval_s: float, aht_s: float, within_s: float) -> None:
    if calls < 0:
        raise SeatsError(f"calls must be >= 0, got {calls}")
    if interval_s <= 0:
        raise SeatsError(f"interval must be > 0, got {interval_s} s")
    if aht_s <= 0:
        raise SeatsError(f"average handling time must be > 0, got {aht_s} s")
    if within_s < 0:
        raise SeatsError(f"answer target must be >= 0 s, got {within_s}")


def evaluate_c(n: int, calls: float, interval_s: float, aht_s: float, within_s: float) -> Staffing:
    _check(calls, interval_s, aht_s, within_s)
    load = calls * aht_s / interval_s
    if load == 0:
        return Staffing("erlang_c", n, 0.0, 1.0, 0.0, None, 0.0, 0.0)
    if n <= load:
        return Staffing("erlang_c", n, load, 0.0, 1.0, None, math.inf, 1.0)
    c = erlang_c(n, load)
    sl = 1.0 - c * math.exp(-(n - load) * within_s / aht_s)
    asa = c * aht_s / (n - load)
    return Staffing("erlang_c", n, load, sl, c, None, asa, load / n)


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    if a < b:
        a, b = b, a
    return a + math.log1p(math.exp(b - a))


def evaluate_a(
    n: int, calls: float, interval_s: float, aht_s: float, within_s: float, patience_s: float
) -> Staffing:
    """Erlang A (M/M/n+M) exactly.

    With x = n·μ/θ and y = λ/θ the queue states n+k carry weights
    y^k / ((x+1)…(x+k)) relative to state n (Mandelbaum & Zeltyn's series for
    A(x, y)).  A caller who finds k ahead is served after a sum of exponentials
    with rates θ(x+k)…θx; e^(-θV) is then Beta(x, k+1), which gives the chance
    of being answered before both the target and the caller's patience run out
    as a regularised incomplete beta with integer second argument: a finite sum.
    """
    _check(calls, interval_s, aht_s, within_s)
    if patience_s <= 0:
        raise SeatsError(f"patience must be > 0 s, got {patience_s}")
    load = calls * aht_s / interval_s
    if load == 0:
        return Staffing("erlang_a", n, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    if n <= 0:
        return Staffing("erlang_a", n, load, 0.0, 1.0, 1.0, patience_s, 0.0)
    b = erlang_b(n, load)
    if b == 0.0:  # so many agents that nobody ever waits (underflow)
        return Staffing("erlang_a", n, load, 1.0, 0.0, 0.0, 0.0, load / n)
    x = n * patience_s / aht_s
    log_y = math.log(calls / interval_s * patience_s)
    y = math.exp(log_y)
    # queue-state weights t_k (k callers waiting ahead), in logs, until they stop mattering
    log_t = [0.0]
    log_max = 0.0
    k = 0
    while True:
        k += 1
        lt = log_t[-1] + log_y - math.log(x + k)
        log_t.append(lt)
        if lt > log_max:
            log_max = lt
        if k > y - x and lt < log_max + _LOG_TINY:
            break
        if k > 5_000_000:
            raise SeatsError("Erlang A series did not converge (patience too long for this load?)")
    log_s = log_max + math.log(math.fsum(math.exp(lt - log_max) for lt in log_t))
    log_pi_n = -_logaddexp(math.log((1.0 - b) / b), log_s)
    weights = [math.exp(log_pi_n + lt) for lt in log_t]
    p_wait = min(1.0, sum(weights))
    p_ab = sum(w * (j + 1) / (x + j + 1) for j, w in enumerate(weights))
    if within_s == 0:
        served_in_time = 0.0
    else:
        # I_q(x+1, j+1) = q^(x+1) * sum_{i<=j} (x+1)_i / i! * (1-q)^i, partial sums in logs
        theta_t = within_s / patience_s
        log_1mq = math.log(-math.expm1(-theta_t))
        a = x + 1.0
        served_in_time = 0.0
        if a * theta_t < 600.0:
            # plain recursion on the terms q^a (a)_j/j! (1-q)^j: no underflow at this size
            one_minus_q = -math.expm1(-theta_t)
            term = math.exp(-a * theta_t)
            inc_beta = term
            for j, w in enumerate(weights):
                if j > 0:
                    term *= (a + j - 1) / j * one_minus_q
                    inc_beta += term
                served_in_time += w * x / (x + j + 1) * (1.0 - min(1.0, inc_beta))
        else:
            log_c = 0.0
            log_partial = 0.0
            for j, w in enumerate(weights):
                if j > 0:
                    log_c += math.log(a + j - 1) - math.log(j) + log_1mq
                    log_partial = _logaddexp(log_partial, log_c)
                inc_beta = min(1.0, math.exp(log_partial - a * theta_t))
                served_in_time += w * x / (x + j + 1) * (1.0 - inc_beta)
    sl = max(0.0, min(1.0, 1.0 - p_wait + served_in_time))
    occupancy = load * (1.0 - p_ab) / n
    return Staffing("erlang_a", n, load, sl, p_wait, p_ab, p_ab * patience_s, occupancy)


def evaluate(n, calls, interval_s, aht_s, within_s, patience_s=None) -> Staffing:
    if patience_s is None:
        return evaluate_c(n, calls, interval_s, aht_s, within_s)
    return evaluate_a(n, calls, interval_s, aht_s, within_s, patience_s)


def agents_needed(
    calls: float,
    interval_s: float,
    aht_s: float,
    target_sl: float,
    within_s: float,
    *,
    patience_s: float | None = None,
    max_occupancy: float = 1.0,
    max_agents: int = 20000,
) -> Staffing:
    """Fewest agents meeting the service level and the occupancy cap.

    Both the service level and (1 - occupancy) grow with the headcount, so a
    search in growing steps from the load, then a bisection, finds the answer
    in a handful of evaluations.
    """
    _check(calls, interval_s, aht_s, within_s)
    if not 0.0 <= target_sl < 1.0:
        raise SeatsError(f"target service level must be in [0, 1), got {target_sl}")
    if not 0.0 < max_occupancy <= 1.0:
        raise SeatsError(f"maximum occupancy must be in (0, 1], got {max_occupancy}")
    if calls == 0:
        return evaluate(0, calls, interval_s, aht_s, within_s, patience_s)

    def ok(n: int) -> bool:
        r = evaluate(n, calls, interval_s, aht_s, within_s, patience_s)
        return r.service_level >= target_sl and r.occupancy <= max_occupancy + 1e-12

    load = calls * aht_s / interval_s

    def impossible() -> SeatsError:
        return SeatsError(
            f"a load of {load:.1f} erlangs ({calls:g} calls in {interval_s / 60:g} min, "
            f"AHT {aht_s:g} s) needs more than {max_agents} agents to reach "
            f"{round(target_sl * 100, 4):g}% within {within_s:g} s at occupancy <= "
            f"{round(max_occupancy * 100, 4):g}%"
        )

    if patience_s is None:
        # without abandonment every call is served: occupancy = load / n, so any
        # n <= max(load, load / cap - 1) fails; that is where the search starts
        floor_n = max(int(load), math.ceil(load / max_occupancy - 1e-9) - 1)
        if floor_n >= max_agents:
            raise impossible()
        guess, known_bad = floor_n + 1, floor_n
    else:
        guess, known_bad = max(1, math.ceil(load)), 0
    guess = min(guess, max_agents)
    step = max(1, int(math.sqrt(load)) // 2)
    if ok(guess):
        # walk down in growing steps until a headcount fails
        hi, lo = guess, guess - step
        while lo > known_bad and ok(lo):
            hi, step = lo, step * 2
            lo = lo - step
        lo = max(lo, known_bad)
    else:
        # walk up in growing steps until a headcount passes
        lo, hi = guess, guess + step
        while True:
            if hi >= max_agents:
                hi = max_agents
                if not ok(hi):
                    raise impossible()
                break
            if ok(hi):
                break
            lo, step = hi, step * 2
            hi = hi + step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return evaluate(hi, calls, interval_s, aht_s, within_s, patience_s)


def scheduled(agents: int, shrinkage: float) -> int:
    """Call-takers to roster so ``agents`` are on the phones after breaks, training, leave."""
    if not 0.0 <= shrinkage < 1.0:
        raise SeatsError(f"shrinkage must be in [0, 1), got {shrinkage}")
    return math.ceil(agents / (1.0 - shrinkage) - 1e-9)
