"""`make run`'s own machinery: the embedded PostgreSQL's lifetime and the Procfile runner."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from config.localdb import VAR_DIR

ROOT = Path(__file__).resolve().parents[2]


def localdb(var: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "HEARTH_VAR_DIR": str(var)}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "config.localdb", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, **kwargs,
    )  # fmt: skip


@pytest.fixture
def var():
    """A var/ folder of its own, beside the real one: as root the server runs as another user,
    who must be able to pass through every folder above it, and pytest keeps its temporary
    folders to root alone (and may make them so again while a test runs)."""
    path = VAR_DIR / f"test-{uuid.uuid4().hex[:8]}"
    yield path
    assert localdb(path, "stop").returncode == 0
    shutil.rmtree(path, ignore_errors=True)


def test_the_embedded_server_stays_up_until_its_last_user_is_done(var):
    status = f"{sys.executable} -m config.localdb status"
    # An inner run (a `make test` beside a `make run`) finishes while the outer one goes on.
    script = f"{sys.executable} -m config.localdb run -- true && {status}"
    outer = localdb(var, "run", "--", "sh", "-c", script)
    assert outer.returncode == 0, outer.stderr
    assert outer.stdout.strip() == "running"
    assert localdb(var, "status").stdout.strip() == "stopped"
    assert (var / "postgres" / "PG_VERSION").exists()


def test_a_run_with_database_url_starts_no_server(var):
    env = {**os.environ, "HEARTH_VAR_DIR": str(var), "DATABASE_URL": "postgres://elsewhere/db"}
    result = subprocess.run(
        [sys.executable, "-m", "config.localdb", "run", "--", "sh", "-c", "echo $DATABASE_URL"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.stdout.strip() == "postgres://elsewhere/db"
    assert not (var / "postgres").exists()


def test_ctrl_c_stops_each_process_gently_and_leaves_nothing_behind(tmp_path):
    gentle = tmp_path / "gentle"
    orphan_pid = tmp_path / "orphan.pid"
    program = tmp_path / "program.py"
    program.write_text(
        textwrap.dedent(
            f"""
            import signal, subprocess, sys, time
            child = subprocess.Popen(["sleep", "300"])  # a pool child that ignores nothing
            open({str(orphan_pid)!r}, "w").write(str(child.pid))
            def stop(signum, frame):
                time.sleep(0.5)
                # Only this process was asked: its child is still there to be ended by it.
                child_alive = child.poll() is None
                open({str(gentle)!r}, "w").write(f"stopped gently, child alive: {{child_alive}}")
                sys.exit(0)
            signal.signal(signal.SIGTERM, stop)
            print("ready", flush=True)
            while True:
                time.sleep(0.1)
            """
        )
    )
    (tmp_path / "Procfile").write_text(f"one: {sys.executable} {program}\n")
    runner = subprocess.Popen(
        [sys.executable, "-m", "config.procfile", str(tmp_path / "Procfile")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    for line in runner.stdout:
        if line.rstrip().endswith("| ready") or time.monotonic() > deadline:
            break
    os.killpg(runner.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    assert runner.wait(timeout=30) == 0
    assert gentle.read_text() == "stopped gently, child alive: True"
    pid = int(orphan_pid.read_text())
    time.sleep(0.2)
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )
