"""Run every benchmark under bench/ against both ceilings (in-stack and bare) in one run and print one table (`make bench`).

Self-contained: creates and migrates its PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/saas_bench) and uses its own Redis database
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/10); seeds, starts gunicorn with
gunicorn.conf.py on a free loopback port, loads it with wrk, stops it and empties the data.
Then it runs the other scripts under bench/ (benchmarks of background work, such as
integrations_refresh.py, which print their own figures); `--only-http` skips them.

    .venv/bin/python bench/run.py [--duration 10] [--connections 8] [--workers 3] [--audit-events 1000000]
"""

import subprocess
import sys
from pathlib import Path

import audit_pagination
import auth_login
import auth_refresh
import harness
import members
import permissions_check
import users_me

SCENARIOS = [users_me, members, permissions_check, auth_refresh, auth_login, audit_pagination]
# Not benchmarks: the plumbing, this runner, the profiler and the lever A/B (in process); nor the soak (`make soak`, its own
# target, minutes long) and its modules (soak_*.py).
NOT_SCRIPTS = {"harness", "run", "profile_path", "levers", "soak", "servers"}


def other_scripts() -> list[Path]:
    """Scripts under bench/ that are not HTTP scenarios of the table (each prints its own figures)."""
    known = NOT_SCRIPTS | {module.__name__ for module in SCENARIOS}
    return [path for path in sorted(Path(__file__).parent.glob("*.py")) if path.stem not in known and not path.stem.startswith("soak_")]


def main() -> int:
    only_http = "--only-http" in sys.argv
    argv = [arg for arg in sys.argv[1:] if arg != "--only-http"]
    status = harness.main(SCENARIOS, __doc__.splitlines()[0], argv)
    if only_http:
        return status
    for script in other_scripts():
        print(f"\n== {script.relative_to(harness.ROOT)}", flush=True)
        status |= subprocess.run([sys.executable, str(script)], cwd=harness.ROOT).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
