"""Process-level metrics: counters, gauges and histograms that any code may update, rendered
by ``/metrics`` in Prometheus' text exposition format (version 0.0.4).

Each server process keeps its own values (nothing is shared between processes or hosts):
Prometheus scrapes every process on its own address and adds up. Updating a metric takes a
lock for a few instructions, so it is safe from any thread and cheap on the message path.

The metrics defined at the bottom are the ones the live rooms report. They stay at zero until
``chat`` calls them (docs/operations.md, "Metrics", says where). Nothing here may carry a
person's data: label values are fixed names (a job's, never an id or a text).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label_value(value: str) -> str:
    """A label value as the text format writes it between double quotes."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def sample(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    """One sample line: ``name{label="value"} 1.5``."""
    if labels:
        inside = ",".join(f'{key}="{escape_label_value(val)}"' for key, val in labels.items())
        return f"{name}{{{inside}}} {format_value(value)}"
    return f"{name} {format_value(value)}"


def family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> Iterator[str]:
    """A metric family: its HELP and TYPE lines, then its samples."""
    yield f"# HELP {name} {help_text.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}"
    yield f"# TYPE {name} {kind}"
    yield from samples


class Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help_text = help_text
        self._lock = threading.Lock()

    def samples(self) -> list[str]:
        raise NotImplementedError

    def render(self) -> Iterator[str]:
        return family(self.name, self.kind, self.help_text, self.samples())


class _Value(Metric):
    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name, help_text)
        self._value = 0.0

    @property
    def value(self) -> float:
        return self._value

    def samples(self) -> list[str]:
        return [sample(self.name, self._value)]


class Counter(_Value):
    """A count that only goes up (it starts again at zero when the process does)."""

    kind = "counter"

    def __init__(self, name: str, help_text: str) -> None:
        if not name.endswith("_total"):
            raise ValueError("A counter's name ends in _total.")
        super().__init__(name, help_text)

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("A counter only goes up.")
        with self._lock:
            self._value += amount


class Gauge(_Value):
    """A value that goes up and down, such as the sockets open now."""

    kind = "gauge"

    def inc(self, amount: float = 1) -> None:
        with self._lock:
            self._value += amount

    def dec(self, amount: float = 1) -> None:
        with self._lock:
            self._value -= amount

    def set(self, value: float) -> None:
        with self._lock:
            self._value = value


class Histogram(Metric):
    """How long something took, counted into buckets (each bucket counts every observation at
    or below its bound, as Prometheus expects), with the sum and count."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Iterable[float]) -> None:
        super().__init__(name, help_text)
        self.bounds = sorted(set(buckets))
        if not self.bounds or math.isinf(self.bounds[-1]):
            raise ValueError("Give finite bucket bounds; +Inf is added.")
        self._counts = [0] * (len(self.bounds) + 1)  # the last is +Inf only
        self._sum = 0.0

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.bounds, value)
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def samples(self) -> list[str]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        lines, cumulative = [], 0
        for bound, count in zip([*self.bounds, math.inf], counts, strict=True):
            cumulative += count
            lines.append(sample(f"{self.name}_bucket", cumulative, {"le": format_value(bound)}))
        lines.append(sample(f"{self.name}_sum", total))
        lines.append(sample(f"{self.name}_count", cumulative))
        return lines


M = TypeVar("M", bound=Metric)


class Registry:
    """The metrics of this process, rendered in the order they were registered."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}
        self._lock = threading.Lock()

    def register(self, metric: M) -> M:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"{metric.name} is registered already.")
            self._metrics[metric.name] = metric
        return metric

    def render(self) -> Iterator[str]:
        for metric in list(self._metrics.values()):
            yield from metric.render()


REGISTRY = Registry()

# --- What the live rooms report (incremented by chat once wired) ------------------------------

sockets_open = REGISTRY.register(
    Gauge("hearth_sockets_open", "Room sockets open in this process now.")
)
message_post_seconds = REGISTRY.register(
    Histogram(
        "hearth_message_post_seconds",
        "Seconds from a room message arriving on a socket to its acknowledgement.",
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    )
)
channel_layer_errors_total = REGISTRY.register(
    Counter(
        "hearth_channel_layer_errors_total",
        "Calls to the channel layer (Redis) that failed in this process.",
    )
)
channel_layer_outages_total = REGISTRY.register(
    Counter(
        "hearth_channel_layer_outages_total",
        "Times this process found the channel layer down after it had been working.",
    )
)
