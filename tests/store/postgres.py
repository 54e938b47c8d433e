"""A real PostgreSQL server for the tests that need one (a pytest plugin: ``tests/conftest.py``).

The server named by ``$KERNELEVOLVE_TEST_POSTGRES_URL`` (its role must be allowed to CREATE
DATABASE), or else a throwaway cluster started here from ``initdb``/``pg_ctl`` (Debian's
``postgresql`` package) on 127.0.0.1. A pytest run gets a database of its own, and each test
that asks for ``postgres_url`` starts with its schema emptied. Without a server these tests skip,
unless ``$KERNELEVOLVE_REQUIRE_POSTGRES`` is 1 (CI sets it): then they fail.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

POSTGRES_URL_ENV = "KERNELEVOLVE_TEST_POSTGRES_URL"
REQUIRE_ENV = "KERNELEVOLVE_REQUIRE_POSTGRES"
_CLUSTER_USERS = ("postgres", "nobody")  # initdb refuses to run as root


def unavailable(reason: str) -> NoReturn:
    """Skip a test that needs PostgreSQL, or fail it where PostgreSQL is required."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"PostgreSQL is required here ({REQUIRE_ENV}=1): {reason}", pytrace=False)
    pytest.skip(reason)


def postgres_bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parent.parent.name)
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory, on 127.0.0.1, trusting local connections."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.user = self._unprivileged_user()
        self.folder = Path(tempfile.mkdtemp(prefix="kernelevolve-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        if self.user is not None:
            os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)

    @staticmethod
    def _unprivileged_user() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        if shutil.which("runuser") is None:
            unavailable("running as root without runuser: cannot start PostgreSQL as another user")
        for name in _CLUSTER_USERS:
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
        unavailable(f"running as root and none of the users {_CLUSTER_USERS} exists for PostgreSQL")

    def _run(self, *argv: str) -> None:
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user.pw_name, "--", *command]
        done = subprocess.run(command, cwd=self.folder, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}{tail}")

    def start(self) -> str:
        self._run("initdb", "-D", str(self.data), "-U", "kernelevolve", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.folder} "
                   "-c fsync=off -c full_page_writes=off -c synchronous_commit=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-w", "-t", "30", "-o", options, "start")
        return f"postgresql+psycopg://kernelevolve@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A server URL whose role may create databases."""
    configured = os.environ.get(POSTGRES_URL_ENV)
    if configured:
        yield configured
        return
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        unavailable(f"no PostgreSQL: set {POSTGRES_URL_ENV} or install initdb (postgresql package)")
    server = ThrowawayPostgres(bin_dir)
    try:
        url = server.start()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        server.discard()
        unavailable(f"could not start a throwaway PostgreSQL: {exc}")
    try:
        yield url
    finally:
        server.stop()


@contextmanager
def database_of_its_own(server_url: str, prefix: str = "kernelevolve_test") -> Iterator[str]:
    """The URL of a new database on the server, dropped at the end."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database_url(postgres_server_url: str) -> Iterator[str]:
    """A database of its own for this pytest run, dropped at the end."""
    with database_of_its_own(postgres_server_url) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_database_url: str) -> str:
    """The run's database, emptied: every table of the previous test is gone."""
    engine = sa.create_engine(postgres_database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
    return postgres_database_url
