"""Running calls at the same instant, each on a database connection of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def at_once(*calls: Callable[[], T], timeout: float = 60) -> list[T]:
    """Run each call in a thread of its own, all released together by a barrier; return their
    results in the order given. Each thread closes its database connection at the end (or the
    test database cannot be dropped). The first exception any call raised is raised here,
    once every thread has ended; a thread still running after ``timeout`` fails the test."""
    start = threading.Barrier(len(calls))
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], T]) -> None:
        try:
            start.wait()
            results[index] = call()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    stuck = [thread for thread in threads if thread.is_alive()]
    assert not stuck, f"{len(stuck)} of {len(threads)} calls still running after {timeout} s"
    if errors:
        raise errors[0]
    return [results[index] for index in range(len(calls))]
