"""Faust's Kafka consumer with a configurable fetch wait.

faust-streaming creates its worker consumer with ``fetch_max_wait_ms=1500``. A Kafka broker
answers a fetch as soon as data is there, so that bound rarely matters; Tansu, the embedded
broker, holds every fetch for the whole wait (measured: median 0.72 s from send to receipt at
1500 ms, 4 ms at 20 ms). Alerts must follow their event within a second, so the worker asks
for a short wait.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this when it builds its fetcher, at start
        consumer._fetch_max_wait_ms = int(getattr(self.app, "cqm_fetch_max_wait_ms", 1500))
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(driver.Transport):
    Consumer = _Consumer


class App(faust.App):
    """A Faust app whose worker consumer waits at most ``fetch_max_wait_ms`` per fetch."""

    def __init__(self, *args: Any, fetch_max_wait_ms: float = 100, **kwargs: Any) -> None:
        self.cqm_fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
