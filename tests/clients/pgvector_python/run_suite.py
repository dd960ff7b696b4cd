"""Runs pgvector-python's own test suite (tests/ of its PyPI sdist, the version pinned in
tests/clients/requirements.txt) against semvec, with only the CREATE EXTENSION statements changed.

1. pip downloads the sdist into <checkout>/.cache/pgvector-python (once) and unpacks it afresh.
2. Rewrites `CREATE EXTENSION IF NOT EXISTS vector` to `... semvec` and Django's VectorExtension()
   (which runs CREATE EXTENSION vector) to CreateExtension("semvec"); each rewrite must apply exactly
   as often as expected, so a changed sdist is noticed rather than silently run half-converted.
3. Adds the tests' missing conftest.py/__init__.py (our harness: see conftest.py beside this file).
4. Recreates the database pgvector_python_test and runs pytest with the cluster in the libpq
   environment, then compares the failures with expected_failures.txt.

Usage: python run_suite.py [--extension vector]   (vector: run unchanged against pgvector instead)
Exit status 0 when every failure is an expected one; prints `pgvector-python: N passed, M failed, K skipped`.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
CACHE = ROOT / ".cache" / "pgvector-python"
DB = "pgvector_python_test"


def pinned_version():
    for line in (HERE.parent / "requirements.txt").read_text().splitlines():
        m = re.match(r"pgvector==(\S+)", line.strip())
        if m:
            return m.group(1)
    sys.exit("pgvector is not pinned in tests/clients/requirements.txt")


def fetch_sdist(version):
    CACHE.mkdir(parents=True, exist_ok=True)
    sdist = CACHE / f"pgvector-{version}.tar.gz"
    if not sdist.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--no-deps", "--no-binary", ":all:", f"pgvector=={version}", "-d", str(CACHE)],
                       check=True)
    return sdist


# (file, old, new, expected count); extension "vector" leaves them alone
REWRITES = [
    ("test_asyncpg.py", "CREATE EXTENSION IF NOT EXISTS vector", "CREATE EXTENSION IF NOT EXISTS {ext}", 2),
    ("test_peewee.py", "CREATE EXTENSION IF NOT EXISTS vector", "CREATE EXTENSION IF NOT EXISTS {ext}", 1),
    ("test_pg8000.py", "CREATE EXTENSION IF NOT EXISTS vector", "CREATE EXTENSION IF NOT EXISTS {ext}", 1),
    ("test_psycopg.py", "CREATE EXTENSION IF NOT EXISTS vector", "CREATE EXTENSION IF NOT EXISTS {ext}", 2),
    ("test_psycopg2.py", "CREATE EXTENSION IF NOT EXISTS vector", "CREATE EXTENSION IF NOT EXISTS {ext}", 1),
    ("test_sqlalchemy.py", "CREATE EXTENSION IF NOT EXISTS vector", "CREATE EXTENSION IF NOT EXISTS {ext}", 1),
    ("test_sqlmodel.py", "CREATE EXTENSION IF NOT EXISTS vector", "CREATE EXTENSION IF NOT EXISTS {ext}", 1),
    ("test_django.py", "        VectorExtension(),\n",
     "        __import__('django.contrib.postgres.operations', fromlist=['x']).CreateExtension('{ext}'),\n", 1),
]


def unpack(sdist, version, extension):
    src = CACHE / f"pgvector-{version}"
    shutil.rmtree(src, ignore_errors=True)
    with tarfile.open(sdist) as tar:
        members = tar.getmembers()
        # Debian 12's Python 3.11.2 predates extraction filters: check the paths ourselves
        for m in members:
            if m.name.startswith("/") or ".." in Path(m.name).parts or not (m.isfile() or m.isdir()):
                sys.exit(f"{sdist.name}: refusing to unpack {m.name!r}")
        tar.extractall(CACHE, members=members)
    tests = src / "tests"
    if not tests.is_dir():
        sys.exit(f"{sdist.name} has no tests/ folder")
    if extension != "vector":
        for name, old, new, count in REWRITES:
            path = tests / name
            text = path.read_text()
            found = text.count(old)
            if found != count:
                sys.exit(f"{name}: expected {count} occurrence(s) of {old!r}, found {found}; update run_suite.py")
            path.write_text(text.replace(old, new.format(ext=extension)))
        left = [p.name for p in tests.glob("*.py") if re.search(r"EXTENSION[^\n]*\bvector\b|VectorExtension\(\)", p.read_text())]
        if left:
            sys.exit(f"CREATE EXTENSION vector left in {left}; update run_suite.py")
    if (tests / "conftest.py").exists():
        sys.exit("the sdist now ships tests/conftest.py; review the harness conftest")
    shutil.copy(HERE / "conftest.py", tests / "conftest.py")
    (tests / "__init__.py").touch()
    return src


def recreate_database(extension):
    with psycopg.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    with psycopg.connect(dbname=DB, autocommit=True) as conn:
        conn.execute(f'CREATE EXTENSION "{extension}"')
        have = {r[0] for r in conn.execute("SELECT typname FROM pg_type WHERE typname IN ('halfvec', 'sparsevec')")}
    return have == {"halfvec", "sparsevec"}


def load_expectations(parity_types):
    always, conditional = [], []
    for line in (HERE / "expected_failures.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        when, prefix, reason = line.split(None, 2)
        if when == "always":
            always.append((prefix, reason))
        elif when == "no-parity-types":
            if not parity_types:
                conditional.append((prefix, reason))
        else:
            sys.exit(f"expected_failures.txt: unknown condition {when!r}")
    return always, conditional


def covers(prefix, key):
    """Whether an expected_failures.txt prefix names this test: the whole id, or a part of it that
    ends at a module, class or parameter boundary (tests.test_psycopg does not cover test_psycopg2)."""
    if key == prefix:
        return True
    return key.startswith(prefix) and (prefix.endswith("[") or key[len(prefix)] in ".:[")


def results(junit):
    """(test id, outcome, message) for every test case, outcome in passed/failed/skipped."""
    out = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        cls, name = case.get("classname", ""), case.get("name", "")
        key = f"{cls}::{name}" if cls else name
        outcome, message = "passed", ""
        for tag in ("failure", "error"):
            el = case.find(tag)
            if el is not None:
                outcome, message = "failed", (el.get("message") or "").splitlines()[0][:160] if el.get("message") else tag
        if case.find("skipped") is not None and outcome == "passed":
            outcome = "skipped"
        out.append((key, outcome, message))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--extension", default="semvec")
    args = ap.parse_args()
    for var, default in (("PGHOST", "/tmp"), ("PGPORT", "28815"), ("PGUSER", "postgres")):
        os.environ.setdefault(var, default)
    # getpass.getuser() (pg8000's user in these tests) reads LOGNAME/USER first
    os.environ["LOGNAME"] = os.environ["USER"] = os.environ["PGUSER"]

    version = pinned_version()
    src = unpack(fetch_sdist(version), version, args.extension)
    parity_types = recreate_database(args.extension)
    junit = CACHE / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=line", "-o", "addopts=",
           "--continue-on-collection-errors",
           f"--junitxml={junit}", "tests"]
    print(f"pgvector-python {version} tests against {args.extension} on {os.environ['PGHOST']}:{os.environ['PGPORT']}"
          f" (halfvec/sparsevec: {'yes' if parity_types else 'no, issue 5'})", flush=True)
    proc = subprocess.run(cmd, cwd=src, capture_output=True, text=True)
    (CACHE / "pytest.log").write_text(proc.stdout + proc.stderr)
    if not junit.exists():
        print(proc.stdout[-4000:], proc.stderr[-4000:])
        sys.exit("pytest produced no report")

    # against pgvector itself (the reference run) every test must pass
    always, conditional = load_expectations(parity_types) if args.extension != "vector" else ([], [])
    rows = results(junit)
    passed = sum(1 for _, o, _ in rows if o == "passed")
    skipped = sum(1 for _, o, _ in rows if o == "skipped")
    unexpected, expected = [], {}
    for key, outcome, message in rows:
        if outcome != "failed":
            continue
        match = next((p for p, _ in always + conditional if covers(p, key)), None)
        if match is None:
            unexpected.append((key, message))
        else:
            expected.setdefault(match, []).append(key)
    # while halfvec/sparsevec are missing, whole modules fail at import and hide what `always` names
    stale = [p for p, _ in always if p not in expected] if parity_types else []

    for prefix, reason in always + conditional:
        if prefix in expected:
            print(f"  expected failure: {prefix} ({len(expected[prefix])}): {reason}")
    for key, message in unexpected:
        print(f"  FAILED {key}: {message}")
    for prefix in stale:
        print(f"  UNEXPECTED PASS: nothing under {prefix} fails any more; remove it from expected_failures.txt")
    n_expected = sum(len(v) for v in expected.values())
    print(f"  (full pytest output: {CACHE / 'pytest.log'})")
    print(f"pgvector-python: {passed} passed, {len(unexpected) + len(stale)} failed, {skipped + n_expected} skipped")
    sys.exit(1 if unexpected or stale else 0)


if __name__ == "__main__":
    main()
