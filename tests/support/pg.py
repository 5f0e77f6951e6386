"""A real PostgreSQL for the tests that need one.

The server comes from CADENCE_TEST_POSTGRES_URL (default: the development and CI
machines' postgresql://postgres@127.0.0.1:5432/test). Each test session creates a database
of its own (dropped at the end), and each test that asks for `pg_url` gets a fresh schema
in it (search_path set in the URL). Without a server the tests skip with the reason;
with CADENCE_REQUIRE_POSTGRES=1 (set by .ci/run) they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    return os.environ.get("CADENCE_TEST_POSTGRES_URL", DEFAULT_URL)


def with_database(url: str, database: str, schema: str = "") -> str:
    parts = urlsplit(url)
    query = parts.query
    if schema:
        query = "&".join(q for q in [query, "options=" + quote(f"-c search_path={schema}")] if q)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, query, parts.fragment))


def _unavailable(reason: str) -> None:
    message = f"no PostgreSQL server answers at {server_url()} ({reason}); set CADENCE_TEST_POSTGRES_URL to run these tests"
    if os.environ.get("CADENCE_REQUIRE_POSTGRES") == "1":
        pytest.fail(message + " [CADENCE_REQUIRE_POSTGRES=1: failing instead of skipping]", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of a database created for this test session (dropped at its end)."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        _unavailable(f"psycopg missing: {exc}")
    name = f"cadence_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(server_url(), autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        _unavailable(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url(), name)
    finally:
        with psycopg.connect(server_url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A URL whose connections work in a schema of their own, fresh for this test."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_database, autocommit=True) as db:
        db.execute(f'CREATE SCHEMA "{schema}"')
    return with_database(server_url(), urlsplit(pg_database).path.lstrip("/"), schema)
