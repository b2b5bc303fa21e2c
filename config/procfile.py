"""Run the Procfile's processes together, as ``make run`` does, and stop them gently.

Like honcho (which ``make run`` used before): each line of the Procfile is a process, its output
prefixed with its name, and when one of them ends the others are stopped. Unlike honcho, Ctrl-C
asks each process itself to stop (SIGTERM to the process, not its whole group) and waits long
enough for a warm shutdown: a Celery worker finishes its tasks and ends its pool children itself
(signalling them directly logged an ERROR per child, and honcho's five seconds ended in SIGKILL).
Whatever is left after the wait is killed with its process group, so nothing outlives the run.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

STOP_WAIT_SECONDS = 20
_COLOURS = ["36", "33", "35", "32", "34", "31"]


@dataclass
class Process:
    name: str
    command: str
    popen: subprocess.Popen | None = None
    buffer: bytes = field(default=b"")


def read_procfile(path: Path) -> list[Process]:
    processes = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, command = line.partition(":")
            processes.append(Process(name.strip(), command.strip()))
    return processes


class Runner:
    def __init__(self, processes: list[Process]) -> None:
        self.processes = processes
        self.width = max(len(p.name) for p in processes)
        self.colour = sys.stdout.isatty()
        self.stopping = False
        self.selector = selectors.DefaultSelector()

    def say(self, name: str, text: str, colour: str = "0") -> None:
        label = f"{time.strftime('%H:%M:%S')} {name.ljust(self.width)} |"
        if self.colour:
            label = f"\033[{colour}m{label}\033[0m"
        sys.stdout.write(f"{label} {text}\n")
        sys.stdout.flush()

    def start(self) -> None:
        for process in self.processes:
            # exec: the shell becomes the process, so SIGTERM reaches the program itself.
            process.popen = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {process.command}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.selector.register(process.popen.stdout, selectors.EVENT_READ, process)
            self.say("system", f"{process.name} started (pid {process.popen.pid})")

    def pump(self, timeout: float) -> None:
        """Copy whatever the processes have written, a line at a time, with their names."""
        for key, _ in self.selector.select(timeout):
            process: Process = key.data
            chunk = os.read(key.fileobj.fileno(), 65536)
            if not chunk:
                self.selector.unregister(key.fileobj)
                if process.buffer:
                    self._line(process, process.buffer)
                    process.buffer = b""
                continue
            *lines, process.buffer = (process.buffer + chunk).split(b"\n")
            for line in lines:
                self._line(process, line)

    def _line(self, process: Process, line: bytes) -> None:
        colour = _COLOURS[self.processes.index(process) % len(_COLOURS)]
        self.say(process.name, line.decode(errors="replace").rstrip("\r"), colour)

    def running(self) -> list[Process]:
        return [p for p in self.processes if p.popen is not None and p.popen.poll() is None]

    def stop(self) -> None:
        self.stopping = True
        for process in self.running():
            self.say("system", f"stopping {process.name}")
            process.popen.terminate()
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while self.running() and time.monotonic() < deadline:
            self.pump(0.1)
        for process in self.processes:
            if process.popen.poll() is None:
                self.say("system", f"{process.name} did not stop in time: killing it")
            # Children left behind by a process (a pool, a shell's job) go with its group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait()
        self.pump(0)

    def run(self) -> int:
        def stop_on_signal(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, stop_on_signal)
        signal.signal(signal.SIGTERM, stop_on_signal)
        self.start()
        try:
            while True:
                self.pump(0.5)
                ended = [p for p in self.processes if p.popen.poll() is not None]
                if ended:
                    for process in ended:
                        self.say(
                            "system", f"{process.name} ended (code {process.popen.returncode})"
                        )
                    self.stop()
                    return 1
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.say("system", "stopping everything")
            self.stop()
            self.say("system", "all stopped")
            return 0


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "Procfile")
    return Runner(read_procfile(path)).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
