"""What running a page's middleware and view in one thread hop buys, against Django's handler.

Serves the same code and data twice in the same run, with two daphne processes: one with
Hearth's ``OneHopASGIHandler`` (``config.asgi``, what production serves) and one with Django's
own ``ASGIHandler`` (a module written to a temporary directory), and measures each page on
both in turn, round after round. The result is each page's throughput with the one-hop handler
divided by its throughput with Django's (above 1: faster). Run from the repository root::

    .venv/bin/python bench/asgi_hops.py [--seconds 5] [--rounds 3] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import shutil
import statistics
import string
import sys
import tempfile
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from common import PG_SERVER, create_database, measured_on, release_database, write_section
from groups_pages import (
    REDIS_URL,
    ROOT,
    Page,
    free_port,
    hammer,
    load,
    login_cookie,
    start_daphne,
    stop,
)

TITLE = "## One thread hop per request"

STOCK_MODULE = """
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

from django.core.handlers.asgi import ASGIHandler  # noqa: E402

application = ASGIHandler()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per page, server and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--database", default="hearth_bench_hops")
    parser.add_argument("--keep", action="store_true", help="leave the database in place")
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hearth-hops-"))
    (work / "stock_asgi.py").write_text(STOCK_MODULE)
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(50))
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG_SERVER}/{args.database}",
        "REDIS_URL": REDIS_URL,
        "DEBUG": "0",
        "SECRET_KEY": secret,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "STATIC_ROOT": str(work / "static"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(work)]),
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    servers = []
    try:
        create_database(args.database, env)
        personas = load(datetime.now(UTC), 1000)
        viewer = [login_cookie(personas.viewer) for _ in range(args.concurrency)]
        from django.db import connections

        connections.close_all()
        ports = {}
        for name, target in (
            ("django", "stock_asgi:application"),
            ("one-hop", "config.asgi:application"),
        ):
            ports[name] = free_port()
            servers.append(start_daphne(env, ports[name], work / f"{name}.log", target))
        pages = [
            ("`/ping/` anonymous", "/ping/", []),
            ("`/` anonymous (from the page cache)", "/", []),
            ("`/groups/<slug>/` as a member", f"/groups/{personas.viewer_group_slug}/", viewer),
            ("`/schedule/` as a client in 20 groups", "/schedule/", viewer),
        ]
        rps: dict[tuple[str, str], list[float]] = {}
        for number in range(1, args.rounds + 1):
            for label, path, cookies in pages:
                for name, port in ports.items():
                    page = Page(name, label, path, cookies)
                    latencies = hammer(
                        port, page, warmup=1.0, seconds=args.seconds, workers=args.concurrency
                    )
                    rps.setdefault((label, name), []).append(len(latencies) / args.seconds)
                    done = rps[label, name][-1]
                    print(f"  round {number}/{args.rounds}  {done:8.1f} req/s  {name:8s} {label}")
        lines = [
            "| Page | Django's handler, req/s | One hop, req/s | **One hop / Django's** |",
            "|---|---:|---:|---:|",
        ]
        for label, _, _ in pages:
            stock = statistics.median(rps[label, "django"])
            one = statistics.median(rps[label, "one-hop"])
            lines.append(f"| {label} | {stock:.1f} | {one:.1f} | **{one / stock:.2f}** |")
        result = "\n".join(lines)
        print()
        print(result)
        cores = len(os.sched_getaffinity(0))
        command = shlex.join([".venv/bin/python", "bench/asgi_hops.py", *sys.argv[1:]])
        setup = (
            "1,000 groups loaded as in the group pages benchmark. Two daphne processes "
            "(DEBUG=0, PostgreSQL, Redis) serve the same code, one with each handler; every "
            f"page is measured on both in turn, {args.rounds} rounds of {args.seconds:g} s "
            f"each, {args.concurrency} concurrent keep-alive connections; the median round "
            "is shown."
        )
        text = f"""{TITLE}

{measured_on(command=command, cores=cores)}

{textwrap.fill(setup, width=96)}

{result}

Under Django's `ASGIHandler` a request with Hearth's synchronous middleware goes from the event
loop to a thread (the middleware), back to the loop (Django's innermost async handler) and to a
thread again (the view). `config.handlers.OneHopASGIHandler` builds the chain as Django does
under WSGI and runs middleware and view in one hand-over (`tests/config/test_asgi_handler.py`
pins it). Making Hearth's own middleware async-capable instead would not remove the hop: they
read the session, the user and the login policy from the database, which the ORM does in a
thread.
"""
        if not args.no_write:
            write_section(TITLE, text)
            print("\nWrote docs/performance.md.")
    finally:
        for server in servers:
            stop(server)
        release_database(args.database, keep=args.keep)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
