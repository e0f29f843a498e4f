"""The result backend's tables: create them once, delete expired results daily.

    python -m dagster_celery_kit.results prepare|cleanup

With results in PostgreSQL, Celery creates its tables on first use in every
process; creating them at deploy time keeps workers from racing to do it.
Celery beat would delete expired results; none runs here, so a timer calls this.
"""

from __future__ import annotations

import sys

from dagster_celery_kit.celery_settings import make_app


def main(argv: list[str]) -> None:
    if argv not in (["prepare"], ["cleanup"]):
        raise SystemExit("usage: python -m dagster_celery_kit.results prepare|cleanup")
    backend = make_app().backend
    if not hasattr(backend, "ResultSession"):
        print(f"result backend {type(backend).__name__} keeps no tables: nothing to do")
        return
    if argv == ["prepare"]:
        backend.ResultSession().close()
        print("result tables ready")
    else:
        backend.cleanup()
        print(f"deleted results older than {backend.expires} s")


if __name__ == "__main__":
    main(sys.argv[1:])
