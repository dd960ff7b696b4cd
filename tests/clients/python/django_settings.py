"""Minimal Django settings for the client tests: one PostgreSQL database (the semvec test database)
and two apps, djangoapp (vector models, with migrations) and djangoparity (halfvec/sparsevec/bit
models, created with the schema editor by the tests that need issue 5)."""

import os

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("SEMVEC_CLIENTS_DB", "semvec_clients"),
        "HOST": os.environ.get("PGHOST", "/tmp"),
        "PORT": os.environ.get("PGPORT", "28815"),
        "USER": os.environ.get("PGUSER", "postgres"),
    }
}
INSTALLED_APPS = ["django.contrib.postgres", "djangoapp", "djangoparity"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
SECRET_KEY = "semvec-client-tests"
