"""Store fixtures: every test that takes ``store`` or ``store_url`` runs on each backend.

SQLite always. PostgreSQL (marked ``postgres``) on the server named by
``$KERNELEVOLVE_TEST_POSTGRES_URL`` (its role must be allowed to CREATE DATABASE), or else on a
throwaway cluster started here from ``initdb``/``pg_ctl`` when they are installed. The session
gets a database of its own, and each test starts with its schema emptied.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from kernelevolve.store import NodeRecord, RunRecord, Store, open_store

POSTGRES_URL_ENV = "KERNELEVOLVE_TEST_POSTGRES_URL"
_CLUSTER_USERS = ("postgres", "nobody")  # initdb refuses to run as root


def _postgres_bin_dir() -> Path | None:
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
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        for name in _CLUSTER_USERS:
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
        pytest.skip(f"running as root and none of the users {_CLUSTER_USERS} exists for PostgreSQL")

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
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        pytest.skip(f"no PostgreSQL: set {POSTGRES_URL_ENV} or install initdb (postgresql package)")
    server = ThrowawayPostgres(bin_dir)
    try:
        url = server.start()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        server.discard()
        pytest.skip(f"could not start a throwaway PostgreSQL: {exc}")
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_database_url(postgres_server_url: str) -> Iterator[str]:
    """A database of its own for this test session, dropped at the end."""
    name = f"kernelevolve_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_database_url: str) -> str:
    """The session's database, emptied: every table of the previous test is gone."""
    engine = sa.create_engine(postgres_database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
    return postgres_database_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'kernelevolve.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def store(store_url: str, store_root: Path) -> Iterator[Store]:
    opened = open_store(store_url, root=store_root)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def run(store: Store) -> RunRecord:
    return store.ensure_run("softmax-1", "problems/softmax.py", "p" * 64, "interpreter", {"steps": 10})


@pytest.fixture
def make_node(store: Store) -> Callable[..., NodeRecord]:
    """``make_node(run_id, parent_id=None, score=1.0, is_buggy=False, **overrides)``."""
    counter = iter(range(1_000_000))

    def make(run_id: int, parent_id: int | None = None, score: float = 1.0,
             is_buggy: bool = False, **overrides: Any) -> NodeRecord:
        n = next(counter)
        fields: dict[str, Any] = dict(
            operator="tuner", source=f"# kernel {n}\n", result={"status": "ok", "n": n},
            score=score, is_buggy=is_buggy, status="mismatch" if is_buggy else "ok",
            metrics={"n": n}, tags={}, overview=f"node {n}",
        )
        fields.update(overrides)
        return store.add_node(run_id, parent_id, **fields)

    return make
