# Harness conftest that tests/clients/pgvector_python/run_suite.py drops into the unpacked
# pgvector-python test folder (the PyPI sdist's tests import `.conftest` but do not ship it).
# It provides what those tests import from it, and points pg8000 (which ignores the libpq
# environment) at the cluster in PGHOST/PGPORT. Nothing else about the tests changes.
import os

try:
    import numpy
except ImportError:  # the tests skip their NumPy cases
    numpy = None

import pg8000.core

_connect = pg8000.core.CoreConnection.__init__


def _connect_to_test_cluster(self, *args, **kwargs):
    # pg8000 defaults to localhost:5432; the tests pass neither host nor port
    if kwargs.get("port", 5432) == 5432:
        kwargs["port"] = int(os.environ["PGPORT"])
    return _connect(self, *args, **kwargs)


pg8000.core.CoreConnection.__init__ = _connect_to_test_cluster
