"""One run: Poisson arrivals of cover requests at ``rate`` through the whole simulated stack, for
``config.duration`` virtual seconds (the measured ones) and ``config.tail`` more, then a drain until every
execution has ended. A mix of given arrivals (``mixes.replay``) replays those instead, each cover with its
own latency."""

from __future__ import annotations

from dataclasses import replace

from bench.load.functions import StartFunction, Workflow, request_body, task_handlers
from bench.load.mixes import Mix
from bench.load.sqs import EventSource, Message
from bench.load.stack import START, Config, Cover, Stack


def effective(config: Config, mix: Mix, rate: float) -> Config:
    """The run's own duration and warmup: the mix's duration when it has one (a mid-run change needs its
    window after), else ``config.duration`` with its window after the warmup shortened to ``max_covers``
    arrivals."""
    if mix.duration is not None:
        warmup = mix.warmup if mix.warmup is not None else min(config.warmup, mix.change_at or config.warmup)
        return replace(config, duration=mix.duration, warmup=warmup)
    window = config.duration - config.warmup
    if config.max_covers is None or rate * window <= config.max_covers:
        return config
    return replace(config, duration=config.warmup + max(config.min_window, config.max_covers / rate))


def simulate(mix: Mix, rate: float, config: Config | None = None) -> Stack:
    config = effective(config or Config(), mix, rate)
    if mix.tail is not None:
        config = replace(config, tail=max(config.tail, mix.tail))
    stack = Stack(mix, rate, config)
    workflow = Workflow(stack, task_handlers(stack))
    EventSource(
        stack.sim,
        stack.queue,
        stack.lambdas,
        START,
        StartFunction(stack, workflow),
        pollers=stack.pollers,
        batch_size=stack.batch_size,
        window=stack.batching_window,
    )
    stack.sim.spawn(_arrivals, stack)
    areas: dict[str, float] = {}
    stack.sim.at(config.warmup, lambda: areas.update({n: stack.lambdas.area(n) for n in stack.lambdas.specs}))
    stack.sim.at(config.warmup, stack.lambdas.open_window)
    stack.sim.at(config.duration, _mean_concurrency, stack, areas)
    stack.sim.run(until=config.duration + config.tail + config.drain)
    return stack


def _mean_concurrency(stack: Stack, at_warmup: dict[str, float]) -> None:
    """Mean concurrency in use per function over the measured window (warmup to the last arrival)."""
    seconds = stack.config.duration - stack.config.warmup
    for name in stack.lambdas.specs:
        stack.window_concurrency[name] = (stack.lambdas.area(name) - at_warmup.get(name, 0.0)) / seconds


def task_name(n: int) -> str:
    """The music task id of the run's ``n``-th arrival (from 1)."""
    return f"m{n:07d}"


def _arrivals(stack: Stack) -> None:
    sim, mix, rate = stack.sim, stack.mix, stack.rate
    if mix.arrivals is not None:
        for n, arrival in enumerate(mix.arrivals, 1):
            sim.sleep(max(0.0, arrival.at - sim.now))
            task = task_name(n)
            stack.covers[task] = Cover(task, sim.now, latency=arrival.latency)
            stack.queue.send(Message(task, request_body(task, None), sim.now))
        return
    # Arrivals draw from their own stream, so the same requests arrive whatever the pipeline does.
    arrivals = type(sim.rng)(stack.config.seed * 7919 + int(rate * 1000))
    at, n = 0.0, 0
    while True:
        at += arrivals.expovariate(rate)
        if at >= stack.config.duration + stack.config.tail:
            return
        sim.sleep(at - sim.now)
        n += 1
        task = task_name(n)
        tenant = mix.tenant(arrivals.random()) if mix.tenants else None
        stack.covers[task] = Cover(task, sim.now, tenant)
        stack.queue.send(Message(task, request_body(task, tenant), sim.now))


def covers_in_window(stack: Stack, start: float, end: float) -> list[Cover]:
    return [c for c in stack.covers.values() if start <= c.arrived < end]
