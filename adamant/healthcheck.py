"""Container health checks (Docker HEALTHCHECK, compose `healthcheck:`), torch-free and curl-free.

    python -m adamant.healthcheck api                       # GET http://127.0.0.1:8000/readyz answers 200
    python -m adamant.healthcheck api --url http://127.0.0.1:9000/healthz
    python -m adamant.healthcheck worker --node cpu@%h      # this container's Celery node answers a ping

Exit 0 when healthy, 1 otherwise, with one line saying why (Docker keeps it in `docker inspect`).
The worker check pings through the broker on purpose: a worker that is alive but no longer
connected to Redis (celery#9054) fails it, which a process-alive check would miss. It names its
own node as the destination, so N workers' checks cost N replies, not N².
"""

from __future__ import annotations

import argparse
import socket
import sys
import urllib.error
import urllib.request

DEFAULT_API_URL = "http://127.0.0.1:8000/readyz"


def check_api(url: str, timeout_s: float) -> str | None:
    """None when `url` answers 200, else the reason."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:  # noqa: S310 (a URL we were given)
            return None if reply.status == 200 else f"{url} answered {reply.status}"
    except urllib.error.HTTPError as error:
        return f"{url} answered {error.code}: {error.read(300).decode(errors='replace')}"
    except (urllib.error.URLError, OSError) as error:
        return f"{url} unreachable: {error}"


def node_name(pattern: str) -> str:
    """Celery's own expansion of the `-n` patterns a worker command uses (%h, %n, %d)."""
    hostname = socket.gethostname()
    short, _, domain = hostname.partition(".")
    return pattern.replace("%h", hostname).replace("%n", short).replace("%d", domain)


def check_worker(node: str, timeout_s: float) -> str | None:
    """None when Celery node `node` answers a ping through the broker, else the reason."""
    from adamant.queue import make_celery  # celery and settings only: no torch, no worker tasks
    from adamant.settings import get_settings

    app = make_celery(get_settings(), name="adamant-healthcheck")
    try:
        replies = app.control.ping(destination=[node], timeout=timeout_s)
    except Exception as error:  # the broker is down: that is the answer, not a crash
        return f"broker unreachable: {type(error).__name__}: {error}"
    finally:
        app.close()
    if any(node in reply for reply in replies):
        return None
    return f"worker {node} did not answer a ping within {timeout_s}s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adamant.healthcheck", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="target", required=True)
    api = sub.add_parser("api", help="the API answers its readiness probe")
    api.add_argument("--url", default=DEFAULT_API_URL)
    api.add_argument("--timeout", type=float, default=4.0)
    worker = sub.add_parser("worker", help="this container's Celery worker answers a ping")
    worker.add_argument("--node", default="celery@%h", help="the worker's -n pattern (default celery@%%h)")
    worker.add_argument("--timeout", type=float, default=4.0)
    args = parser.parse_args(argv)

    if args.target == "api":
        problem = check_api(args.url, args.timeout)
    else:
        problem = check_worker(node_name(args.node), args.timeout)
    if problem is None:
        print("healthy")
        return 0
    print(f"unhealthy: {problem}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
