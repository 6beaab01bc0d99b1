"""Run Django's own test suite with ``channels``, ``rest_framework`` and ``reactive`` installed.

Usage (``make django-suite`` runs the three passes)::

    [DJANGO_SUITE_APPS="basic update"] python tests/django_suite/run.py --settings reactive_sqlite [--tracked]
        [runtests.py options]

The source distribution of the installed Django version (it ships ``tests/`` and ``tests/runtests.py``) is
fetched once with ``pip download`` into ``.cache/`` (git-ignored). Our settings modules are copied next to
Django's ``test_sqlite.py``, the three apps are appended to ``runtests.ALWAYS_INSTALLED_APPS``, and
``runtests.py``'s own main block runs, unchanged. With ``--tracked``, every test runs inside reactive's
read-tracking context (with the read-only guard lifted), so every SELECT the tests make goes through the read
analysis and every write through capture.
"""

from __future__ import annotations

import ast
import contextlib
import os
import shutil
import subprocess
import sys
import tarfile
import unittest
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "django-suite"
HERE = Path(__file__).resolve().parent
PIP_DOWNLOAD = [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps"]
EXTRA_APPS = ["channels", "rest_framework", "reactive"]
# The apps of Django's suite whose tests exercise what reactive hooks: the ORM's reads, writes and transactions.
# DJANGO_SUITE_APPS (space-separated) runs others instead.
APPS = (
    "basic update delete delete_regress bulk_create queries many_to_many m2m_through m2m_regress m2m_signals "
    "transactions transaction_hooks select_for_update expressions aggregation annotations model_inheritance "
    "proxy_models get_or_create custom_pk composite_pk generic_relations raw_query lookup ordering null_fk "
    "one_to_one update_only_fields save_delete_hooks signals fixtures model_fields foreign_object "
    "prefetch_related select_related force_insert_update distinct_on_fields db_functions backends"
)


def django_tests_dir() -> Path:
    """Django's ``tests/`` folder for the installed version, fetched and unpacked on first use."""
    version = django.__version__
    source = CACHE / f"django-{version}"
    tests = source / "tests"
    if (tests / "runtests.py").exists():
        return tests
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = CACHE / f"django-{version}.tar.gz"
    if not archive.exists():
        print(f"==> fetching the source distribution of Django {version} (its tests)", flush=True)
        subprocess.run(
            [*PIP_DOWNLOAD, "--dest", str(CACHE), f"django=={version}"],
            check=True,
        )
    print(f"==> unpacking {archive.name}", flush=True)
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE, filter="data")
    return tests


@contextlib.contextmanager
def _tracked_test() -> Iterator[None]:
    from reactive.capture.tracking import tracked

    with tracked(read_only=False):
        yield


def track_every_test() -> None:
    """Run each test (setUp, the test, tearDown) inside reactive's read-tracking context."""
    run = unittest.TestCase.run

    def tracked_run(self: unittest.TestCase, result: Any = None) -> Any:
        with _tracked_test():
            return run(self, result)

    unittest.TestCase.run = tracked_run  # type: ignore[method-assign]


def run_django_suite(argv: list[str]) -> None:
    """Run ``runtests.py`` with ``argv`` (its own options) on the apps, ``--tracked`` for the tracked pass."""
    tracked = "--tracked" in argv
    argv = [arg for arg in argv if arg != "--tracked"] + os.environ.get("DJANGO_SUITE_APPS", APPS).split()
    tests = django_tests_dir()
    for settings in HERE.glob("reactive_*.py"):
        shutil.copy(settings, tests / settings.name)
    os.chdir(tests)
    sys.path[:0] = [str(tests), str(ROOT)]
    sys.argv = [str(tests / "runtests.py"), *argv]
    import runtests  # type: ignore[import-not-found]

    runtests.ALWAYS_INSTALLED_APPS.extend(EXTRA_APPS)
    if tracked:
        track_every_test()
    print(
        f"==> Django {django.__version__}'s test suite with {', '.join(EXTRA_APPS)} installed"
        + (", every test inside reactive's read tracking" if tracked else ""),
        flush=True,
    )
    source = Path(runtests.__file__).read_text()
    (main,) = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'"
    ]
    code = compile(ast.Module(body=main.body, type_ignores=[]), runtests.__file__, "exec")
    exec(code, runtests.__dict__)


if __name__ == "__main__":
    run_django_suite(sys.argv[1:])
