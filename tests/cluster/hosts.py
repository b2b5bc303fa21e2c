"""Several hosts on this one machine: a network namespace per host, joined by veth pairs to one
bridge, for the several-host test.

Each host has its own network stack (its own loopback, addresses and ports) and sees the others
only over the bridge, as separate machines on one network would. Processes are started inside a
host with ``ip netns exec`` (Debian's iproute2), and a host is lost by killing every process
in its namespace. Needs root.

Names are unique per run (the pid of the run and a random token), so a run left over from a
killed test cannot clash with this one; namespaces of runs whose pid is gone are removed when
the next run starts. Everything a ``Network`` made is taken down on leaving its block, whatever
happened inside it (a failure, Ctrl-C).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import pwd
import random
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "hearth-cluster"
_NAMESPACE = re.compile(rf"^{PREFIX}-(\d+)-([0-9a-f]{{6}})-")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def unavailable() -> str | None:
    """Why namespaces cannot be made here (not root, no ``ip``, not permitted), or None."""
    if os.geteuid() != 0:
        return "needs root, to make network namespaces"
    if shutil.which("ip") is None:
        return "needs ip (apt-get install iproute2)"
    probe = f"{PREFIX}-probe-{secrets.token_hex(3)}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace here: {made.stderr.strip()}"
    ip("netns", "delete", probe, check=False)
    return None


@dataclass
class Host:
    name: str
    namespace: str
    address: str
    processes: list[subprocess.Popen] = field(default_factory=list)


class Network:
    """Hosts on one bridge, in a free 10.x.y.0/24 whose .1 is this (the root) namespace's
    address on the bridge: where the test's clients and mail server are."""

    def __init__(self, hosts: Mapping[str, int]) -> None:
        """``hosts``: each host's name and the last number of its address (2 to 254)."""
        self.token = secrets.token_hex(3)
        self.bridge = f"hc{self.token}"
        self.subnet = _free_subnet()
        self.address = str(self.subnet.network_address + 1)
        self.hosts = {
            name: Host(
                name=name,
                namespace=f"{PREFIX}-{os.getpid()}-{self.token}-{name}",
                address=str(self.subnet.network_address + number),
            )
            for name, number in hosts.items()
        }

    def __enter__(self) -> Network:
        remove_stale()
        # Stopped from outside (a CI's time limit), unwind as for Ctrl-C, so that nothing is
        # left running in the namespaces.
        self._on_term = signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            ip("addr", "add", f"{self.address}/{self.subnet.prefixlen}", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
            for index, host in enumerate(self.hosts.values()):
                outside, inside = f"{self.bridge}{index:x}", f"hp{self.token}{index:x}"
                ip("netns", "add", host.namespace)
                ip("link", "add", outside, "type", "veth", "peer", "name", inside)
                ip("link", "set", inside, "netns", host.namespace)
                ip("link", "set", outside, "master", self.bridge, "up")
                ip("-n", host.namespace, "link", "set", inside, "name", "eth0")
                ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
                ip("-n", host.namespace, "link", "set", "eth0", "up")
                ip("-n", host.namespace, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(
        self,
        host: str,
        args: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str],
        cwd: Path | str = "/",
        user: pwd.struct_passwd | None = None,
    ) -> subprocess.Popen:
        """Start ``args`` on ``host`` (as ``user``, if given), its output going to ``log``."""
        command = ["ip", "netns", "exec", self.hosts[host].namespace]
        if user is not None:
            command += [
                "setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups",
                "--",
            ]  # fmt: skip
        with log.open("ab") as out:
            process = subprocess.Popen(
                [*command, *args],
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal reaches the test, not them
            )
        self.hosts[host].processes.append(process)
        return process

    def pids(self, host: str) -> list[int]:
        """Every process running on ``host``."""
        listed = ip("netns", "pids", self.hosts[host].namespace, check=False).stdout
        return [int(pid) for pid in listed.split()]

    def kill(self, host: str, *, gently: float = 0) -> None:
        """End every process on ``host``: SIGKILL at once, or SIGTERM and ``gently`` seconds
        to stop before SIGKILL; return once none is left."""
        _end([self.hosts[host].namespace], gently)
        for process in self.hosts[host].processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)

    def close(self) -> None:
        """Stop every process on every host, then remove the hosts and the bridge."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second stop waits for this one
        with contextlib.suppress(Exception):
            _end([host.namespace for host in self.hosts.values()], gently=5)
        for host in self.hosts.values():
            for process in host.processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
            ip("netns", "delete", host.namespace, check=False)
        ip("link", "delete", self.bridge, check=False)
        signal.signal(signal.SIGTERM, self._on_term)


def _end(namespaces: Sequence[str], gently: float) -> None:
    def running() -> list[int]:
        return [
            int(pid)
            for namespace in namespaces
            for pid in ip("netns", "pids", namespace, check=False).stdout.split()
        ]

    def send(sig: signal.Signals) -> None:
        for pid in running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    if gently:
        send(signal.SIGTERM)
        deadline = time.monotonic() + gently
        while running() and time.monotonic() < deadline:
            time.sleep(0.1)
    deadline = time.monotonic() + 30
    while running():
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes in {namespaces} outlived SIGKILL: {running()}")
        send(signal.SIGKILL)
        time.sleep(0.05)


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.x.y.0/24 that no address or route of this machine touches."""
    taken = []
    for listing in (ip("-j", "-4", "route", "show", "table", "all"), ip("-j", "-4", "addr")):
        text = json.dumps(json.loads(listing.stdout or "[]"))
        taken += [
            ipaddress.ip_network(found, strict=False)
            for found in re.findall(r'"(\d+\.\d+\.\d+\.\d+(?:/\d+)?)"', text)
        ]
    taken = [net for net in taken if net.prefixlen > 0]
    for _ in range(100):
        subnet = ipaddress.ip_network(
            f"10.{random.randint(100, 250)}.{random.randint(0, 255)}.0/24"
        )
        if not any(subnet.overlaps(net) for net in taken):
            return subnet
    raise RuntimeError("no free 10.x.y.0/24 for the hosts")


def remove_stale() -> None:
    """Remove the namespaces (and bridges) of runs whose process is gone."""
    for line in ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        found = _NAMESPACE.match(name)
        if not found or _alive(int(found.group(1))):
            continue
        with contextlib.suppress(Exception):
            _end([name], 0)
        ip("netns", "delete", name, check=False)
        ip("link", "delete", f"hc{found.group(2)}", check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
