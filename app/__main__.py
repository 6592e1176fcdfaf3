"""`python -m app serve` starts the API; `python -m app db upgrade` migrates the database to head.

Configuration comes from the environment (README "Configuration"); flags override it for one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from app.settings import Settings

WORKER_HEALTHCHECK_S = 30


def cmd_serve(args: argparse.Namespace) -> int:
    """Run uvicorn; the launch's workers share a reload file and a Prometheus dir (a fresh temp dir)."""
    overrides = {
        k: v for k, v in {"host": args.host, "port": args.port, "workers": args.workers}.items() if v
    }
    settings = Settings(**overrides)
    # Worker processes build their own Settings from the environment: pass the overrides down.
    for key, value in overrides.items():
        os.environ[f"MMWE_{key.upper()}"] = str(value)
    launch_dir = Path(tempfile.mkdtemp(prefix="mmwe-serve-"))
    os.environ["MMWE_LAUNCH_ID"] = uuid.uuid4().hex[:16]
    os.environ.setdefault("MMWE_RELOAD_FILE", str(launch_dir / "reload.json"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(launch_dir / "prometheus")
    (launch_dir / "prometheus").mkdir()
    import uvicorn  # imported after PROMETHEUS_MULTIPROC_DIR is set, as prometheus_client requires

    from app.http_guard import GuardedHttpToolsProtocol

    try:
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            # uvicorn kills a worker that does not answer its health check in time (default 5 s), which on a
            # loaded machine can be a worker still importing: a restart loop. Be patient.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
            http=GuardedHttpToolsProtocol,  # header size limit, header and body read timeouts
        )
    finally:
        shutil.rmtree(launch_dir, ignore_errors=True)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from app.db import migrate

    url = Settings().resolved_database_url
    if url.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(url[len("sqlite:///") :]) or ".", exist_ok=True)
    if args.action == "upgrade":
        migrate.upgrade(url, args.revision or "head")
    else:
        migrate.downgrade(url, args.revision or "-1")
    print(f"database {args.action} done: {url.split('@')[-1]}")
    if args.api_role:
        from app.db.roles import ensure_api_role

        settings = Settings()
        print(ensure_api_role(url, settings.db_api_role, settings.db_api_password or ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP API with uvicorn")
    serve.add_argument("--host", help="interface to bind (default MMWE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default MMWE_PORT or 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default MMWE_WORKERS or 1)")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema management (Alembic)")
    db.add_argument("action", choices=["upgrade", "downgrade"], help="upgrade to a revision, or downgrade")
    db.add_argument(
        "revision", nargs="?", help="target revision (default: head for upgrade, -1 for downgrade)"
    )
    db.add_argument(
        "--api-role",
        action="store_true",
        help="after migrating (PostgreSQL), create or update the API's least-privilege login role "
        "MMWE_DB_API_ROLE with password MMWE_DB_API_PASSWORD (app/db/roles.py)",
    )
    db.set_defaults(func=cmd_db)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
