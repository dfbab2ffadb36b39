"""The sampler's samples lie on the arrival curve: a grown count carries the moment it grew."""

import asyncio

from probe.measure.sampler import ByteCounter, Sampler
from probe.measure.timing import Clock
from probe.records import ByteSample


class ManualClock(Clock):
    """A clock the test sets by hand (no event loop needed)."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


def test_a_grown_count_is_stamped_when_it_grew_not_when_the_timer_woke() -> None:
    clock = ManualClock()
    counter = ByteCounter(clock)
    sampler = Sampler(counter, None)
    sampler.sample()
    clock.t = 1.0
    counter.add(16_384)  # a TLS record arrives ...
    clock.t = 1.6
    sampler.sample()  # ... and the timer wakes 0.6 s later
    clock.t = 2.0
    sampler.sample()  # nothing new: the flat line keeps the timer's time

    assert sampler.samples == [ByteSample(0.0, 0), ByteSample(1.0, 16_384), ByteSample(2.0, 16_384)]


def test_several_arrivals_between_samples_take_the_last_ones_time() -> None:
    clock = ManualClock()
    counter = ByteCounter(clock)
    sampler = Sampler(counter, None)
    sampler.sample()
    for t in (0.1, 0.2, 0.3):
        clock.t = t
        counter.add(1_000)
    clock.t = 0.5
    counter.add(0)  # an empty read is no arrival
    clock.t = 0.9
    sampler.stop()

    assert sampler.samples[-1] == ByteSample(0.3, 3_000)


def test_stamped_times_never_run_backwards_on_a_real_timer() -> None:
    async def download() -> list[ByteSample]:
        counter = ByteCounter(Clock())
        sampler = Sampler(counter, None)
        sampler.start()
        for _ in range(40):
            await asyncio.sleep(0.01)
            counter.add(100)
        await asyncio.sleep(0.3)
        sampler.stop()
        return sampler.samples

    samples = asyncio.run(download())

    assert [s.t for s in samples] == sorted(s.t for s in samples)
    assert samples[-1].bytes == 4_000
    assert len(samples) >= 3
