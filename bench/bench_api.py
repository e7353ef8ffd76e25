"""End-to-end HTTP benchmark of the FHIR API on SQLite and PostgreSQL.

For each backend: migrate a fresh database, start `screening serve` on a free loopback port,
measure creates per second (1 client, then N concurrent clients), load the store through
transaction Bundles up to each size and measure read and search latency there, and sample the
memory of the server processes throughout. Prints figures only; asserts nothing.

Run: `python bench/bench_api.py [--quick] [--backends sqlite,postgresql] [--sizes 10000,100000]`.
PostgreSQL runs in a throwaway cluster (tests/pgcluster.py) with durable settings (fsync,
synchronous_commit and full_page_writes on) unless `--pg-test-settings` is given.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
FHIR_JSON = "application/fhir+json"
HEADERS = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
TUG = "444680009"
# (SNOMED code, display, UCUM unit, low, high) of the Observations loaded into the store.
CODES: tuple[tuple[str, str, str, float, float], ...] = (
    (TUG, "Timed up and go mobility test", "s", 6.0, 35.0),
    ("27113001", "Body weight", "kg", 40.0, 130.0),
    ("50373000", "Body height", "cm", 145.0, 200.0),
    ("271649006", "Systolic blood pressure", "mm[Hg]", 95.0, 190.0),
    ("271650006", "Diastolic blood pressure", "mm[Hg]", 55.0, 110.0),
    ("364075005", "Heart rate", "/min", 45.0, 120.0),
    ("86290005", "Respiratory rate", "/min", 10.0, 28.0),
    ("60621009", "Body mass index", "kg/m2", 17.0, 42.0),
    ("386725007", "Body temperature", "Cel", 35.5, 39.5),
    ("103228002", "Hemoglobin saturation with oxygen", "%", 86.0, 100.0),
)
OBS_PER_PATIENT = 10
DURABLE_PG = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
SEARCH_TARGET_RATIO = 1.5
CREATE_TARGET = 500.0
START_TIMEOUT = 120.0
REQUEST_TIMEOUT = 300.0
WARMUP = 20


# -- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What to run, from the command line."""

    backends: tuple[str, ...]
    sizes: tuple[int, ...]
    workers: int
    threads: int
    single_creates: int
    concurrent_creates: int
    clients: int
    load_clients: int
    bundle_size: int
    reads: int
    searches: int
    pg_durable: bool
    seed: int


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Parse the command line into Options (--quick shrinks the defaults)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--sizes", default=None, help="store sizes, default 10000,100000")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--quick", action="store_true", help="small smoke run (1000,5000)")
    parser.add_argument("--single-creates", type=int, default=None, help="default 500")
    parser.add_argument("--concurrent-creates", type=int, default=None, help="default 2000")
    parser.add_argument("--clients", type=int, default=8, help="concurrent create clients")
    parser.add_argument("--load-clients", type=int, default=3, help="concurrent Bundle senders")
    parser.add_argument("--bundle-size", type=int, default=200)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--pg-test-settings", action="store_true", help="fsync etc. off")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    return _options_from(args)


def _options_from(args: argparse.Namespace) -> Options:
    """Turn parsed arguments into Options, applying the --quick defaults."""
    sizes = args.sizes or ("1000,5000" if args.quick else "10000,100000")
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        raise SystemExit(f"unknown backend(s): {', '.join(sorted(unknown))}")
    return Options(
        backends=backends,
        sizes=tuple(sorted(int(s) for s in sizes.split(","))),
        workers=args.workers,
        threads=args.threads,
        single_creates=args.single_creates or (100 if args.quick else 500),
        concurrent_creates=args.concurrent_creates or (400 if args.quick else 2000),
        clients=args.clients,
        load_clients=args.load_clients,
        bundle_size=args.bundle_size,
        reads=args.reads,
        searches=args.searches,
        pg_durable=not args.pg_test_settings,
        seed=args.seed,
    )


# -- resources -------------------------------------------------------------------------------


def patient_resource(rng: random.Random) -> dict[str, Any]:
    """A small Patient with an identifier, a name, a gender and a birth date."""
    birth = datetime(1930, 1, 1) + timedelta(days=rng.randrange(0, 365 * 70))
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.2.4.6.3", "value": uuid.uuid4().hex}],
        "name": [{"family": rng.choice(FAMILIES), "given": [rng.choice(GIVEN)]}],
        "gender": rng.choice(("female", "male")),
        "birthDate": birth.date().isoformat(),
    }


FAMILIES = ("Jansen", "de Vries", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos")
GIVEN = ("Anna", "Maria", "Johan", "Pieter", "Els", "Kees", "Fatima", "Mohamed", "Sanne")


def observation_resource(rng: random.Random, subject: str, code: str = TUG) -> dict[str, Any]:
    """A final exam Observation of `code` (SNOMED) with a UCUM valueQuantity."""
    _, display, unit, low, high = CODE_INFO[code]
    when = datetime(2024, 1, 1, 8, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 60 * 24 * 365))
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "exam"}]}],
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when.isoformat(timespec="seconds"),
        "valueQuantity": {
            "value": round(rng.uniform(low, high), 1),
            "unit": unit,
            "system": UCUM,
            "code": unit,
        },
    }


CODE_INFO = {c[0]: c for c in CODES}


@dataclass
class Catalog:
    """Ids of everything stored, so reads and searches can pick existing targets."""

    patients: list[str] = field(default_factory=list)
    observations: list[tuple[str, str, str]] = field(default_factory=list)  # id, patient, code
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        """How many resources are stored."""
        return len(self.patients) + len(self.observations)

    def add(self, patients: Sequence[str], observations: Sequence[tuple[str, str, str]]) -> None:
        """Record stored resources (thread safe)."""
        with self.lock:
            self.patients.extend(patients)
            self.observations.extend(observations)


# -- statistics ------------------------------------------------------------------------------


@dataclass
class Throughput:
    """Requests sent in a timed phase: how many, how long, which outcomes."""

    requests: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    first_error: str = ""

    @property
    def errors(self) -> int:
        """Requests that did not succeed (non-2xx status or transport error)."""
        return sum(n for k, n in self.outcomes.items() if not k.startswith("2"))

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def record(self, outcome: str, detail: str = "") -> None:
        """Count one outcome; keep the first error's detail."""
        self.outcomes[outcome] += 1
        if not outcome.startswith("2") and not self.first_error:
            self.first_error = f"{outcome}: {detail[:300]}"


@dataclass
class Latency:
    """Latencies of one request kind, in seconds, and its errors."""

    samples: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def percentile(self, pct: int) -> float:
        """The pct-th percentile in milliseconds (0 when there are no samples)."""
        if len(self.samples) < 2:
            return self.samples[0] * 1000 if self.samples else 0.0
        return statistics.quantiles(self.samples, n=100, method="inclusive")[pct - 1] * 1000

    def text(self) -> str:
        """`p50 / p95 ms` plus the error count when there are errors."""
        base = f"{self.percentile(50):.1f} / {self.percentile(95):.1f}"
        return base + (f" ({self.errors} err)" if self.errors else "")


@dataclass
class Stage:
    """Figures at one store size."""

    size: int
    stored: int = 0
    load: Throughput = field(default_factory=Throughput)
    loaded: int = 0
    reads: Latency = field(default_factory=Latency)
    searches: Latency = field(default_factory=Latency)
    db_bytes: int = 0


@dataclass
class ProcessPeak:
    """The peak memory of one server process."""

    pid: int
    role: str
    hwm_kb: int = 0


@dataclass
class BackendResult:
    """Everything measured on one backend."""

    backend: str
    database: str = ""
    creates_single: Throughput = field(default_factory=Throughput)
    creates_concurrent: Throughput = field(default_factory=Throughput)
    stages: list[Stage] = field(default_factory=list)
    peak_rss_sum_kb: int = 0
    peak_pss_sum_kb: int = 0
    processes: list[ProcessPeak] = field(default_factory=list)
    seconds: float = 0.0
    failure: str = ""


# -- memory ----------------------------------------------------------------------------------


def _status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (kB) of a process, empty when it is gone."""
    values: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return values
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def _pss_kb(pid: int) -> int:
    """Proportional set size (kB) of a process, 0 when unreadable."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def descendants(root: int) -> list[int]:
    """The pids of every live descendant of `root` (by the ppid in /proc/PID/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found.extend(kids)
        todo.extend(kids)
    return found


class MemorySampler:
    """A thread sampling the memory of a process tree until stopped."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        """Watch `root` and its descendants every `interval` seconds."""
        self.root = root
        self.interval = interval
        self.peak_rss_sum = 0
        self.peak_pss_sum = 0
        self.peaks: dict[int, ProcessPeak] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def __enter__(self) -> MemorySampler:
        """Start sampling."""
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop sampling (after one last sample)."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        """Sample until told to stop, and once more at the end."""
        while not self._stop.wait(self.interval):
            self.sample()
        self.sample()

    def sample(self) -> None:
        """Read RSS, HWM and PSS of every process of the tree once."""
        rss_sum = pss_sum = 0
        for pid in [self.root, *descendants(self.root)]:
            status = _status_kb(pid)
            if not status:
                continue
            rss_sum += status.get("VmRSS", 0)
            pss_sum += _pss_kb(pid)
            role = "master" if pid == self.root else "worker"
            peak = self.peaks.setdefault(pid, ProcessPeak(pid, role))
            peak.hwm_kb = max(peak.hwm_kb, status.get("VmHWM", 0), status.get("VmRSS", 0))
        self.peak_rss_sum = max(self.peak_rss_sum, rss_sum)
        self.peak_pss_sum = max(self.peak_pss_sum, pss_sum)


# -- server ----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


class Server:
    """`screening serve` as a subprocess on a free loopback port, over a migrated database."""

    def __init__(self, database_url: str, workers: int, threads: int, logdir: Path) -> None:
        """Configure; nothing runs until start()."""
        self.env = {**os.environ, "SCREENING_DATABASE_URL": database_url}
        self.workers = workers
        self.threads = threads
        self.log = logdir / "server.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        """Base URL of the FHIR API."""
        return f"http://{HOST}:{self.port}/fhir"

    @property
    def pid(self) -> int:
        """Pid of the gunicorn master."""
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> Server:
        """Migrate, start and wait until the server answers."""
        self.migrate()
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    def migrate(self) -> None:
        """Run `screening db upgrade` on the database."""
        cmd = [sys.executable, "-m", "screening.cli", "db", "upgrade"]
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"db upgrade failed:\n{done.stdout}{done.stderr}")
        name = f"bench-{os.getpid()}-{time.monotonic_ns()}"
        cmd = [sys.executable, "-m", "screening.cli", "client", "create", "--name", name]
        cmd += ["--scope", "system/*.*"]
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"client create failed:\n{done.stderr}")
        HEADERS["Authorization"] = f"Bearer {done.stdout.strip()}"  # every request is audited

    def start(self) -> None:
        """Start the server and wait for /fhir/metadata."""
        self.port = free_port()
        cmd = [sys.executable, "-m", "screening.cli", "serve", "--host", HOST]
        cmd += ["--port", str(self.port), "--workers", str(self.workers)]
        cmd += ["--threads", str(self.threads)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Poll /fhir/metadata until it answers 200; raise when the server dies or hangs."""
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{_tail(self.log)}")
            try:
                if httpx.get(f"{self.base}/metadata", timeout=30).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {START_TIMEOUT:.0f}s:\n{_tail(self.log)}")

    def stop(self) -> None:
        """SIGTERM the master (gunicorn stops its workers); SIGKILL its group if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


# -- backends --------------------------------------------------------------------------------


@dataclass
class Database:
    """A fresh database: its URL, a description, and how to measure its size."""

    url: str
    description: str
    size: Callable[[], int]


@contextmanager
def sqlite_database(tmp: Path) -> Iterator[Database]:
    """A SQLite file in a temporary directory."""
    path = tmp / "bench.db"

    def size() -> int:
        """Bytes of the database file plus its WAL."""
        return sum(p.stat().st_size for p in tmp.glob("bench.db*") if p.is_file())

    text = f"SQLite {sqlite3.sqlite_version} (file, WAL, synchronous=NORMAL as the app sets)"
    yield Database(f"sqlite:///{path}", text, size)


@contextmanager
def postgres_database(durable: bool) -> Iterator[Database]:
    """A database in a throwaway PostgreSQL cluster, stopped on leaving."""
    sys.path.insert(0, str(ROOT / "tests"))
    from pgcluster import PgCluster

    with PgCluster(settings=DURABLE_PG if durable else None, use_existing=False) as pg:
        url = pg.create_database("bench")
        yield Database(url, _pg_description(pg.conninfo), lambda: _pg_size(pg.conninfo))


def _pg_query(conninfo: str, query: str) -> str:
    """The first column of the first row of a query, as text."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type, unused-ignore]
    return str(row[0]) if row else "?"


def _pg_description(conninfo: str) -> str:
    """Server version and the durability settings in force."""
    version = _pg_query(conninfo, "SHOW server_version")
    names = ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers")
    settings = ", ".join(f"{n}={_pg_query(conninfo, f'SHOW {n}')}" for n in names)
    return f"PostgreSQL {version} (throwaway cluster; {settings})"


def _pg_size(conninfo: str) -> int:
    """Bytes of the bench database."""
    return int(_pg_query(conninfo, "SELECT pg_database_size('bench')"))


@contextmanager
def open_database(backend: str, tmp: Path, opts: Options) -> Iterator[Database]:
    """The fresh database of a backend."""
    maker = sqlite_database(tmp) if backend == "sqlite" else postgres_database(opts.pg_durable)
    with maker as database:
        yield database


# -- traffic ---------------------------------------------------------------------------------


def new_client(base: str, timeout: float = REQUEST_TIMEOUT) -> httpx.Client:
    """A keep-alive client for the FHIR base URL."""
    return httpx.Client(base_url=base, headers=HEADERS, timeout=timeout)


def _outcome(send: Callable[[], httpx.Response]) -> tuple[str, httpx.Response | None, str]:
    """Send a request: (status or exception name, response, error detail)."""
    try:
        response = send()
    except httpx.HTTPError as exc:
        return type(exc).__name__, None, str(exc)
    ok = response.is_success
    return str(response.status_code), response, "" if ok else response.text


def create_patients(base: str, catalog: Catalog, count: int, rng: random.Random) -> None:
    """Store `count` Patients with transaction Bundles (subjects for the create phase)."""
    with new_client(base) as client:
        for start in range(0, count, 200):
            n = min(200, count - start)
            entries = [_entry(patient_resource(rng), "Patient") for _ in range(n)]
            response = client.post("", json=_bundle(entries))
            response.raise_for_status()
            catalog.add(_ids(response.json(), "Patient"), [])


def run_creates(
    base: str, catalog: Catalog, total: int, clients: int, rng: random.Random
) -> Throughput:
    """POST `total` TUG Observations from `clients` threads; measure the wall time."""
    counts = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    seeds = [rng.randrange(1 << 30) for _ in range(clients)]
    result = Throughput(requests=total)
    start = threading.Barrier(clients + 1)
    threads = [
        threading.Thread(target=_creator, args=(base, catalog, n, s, start, result), daemon=True)
        for n, s in zip(counts, seeds, strict=True)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - began
    return result


def _creator(
    base: str,
    catalog: Catalog,
    count: int,
    seed: int,
    start: threading.Barrier,
    result: Throughput,
) -> None:
    """One create client: its own keep-alive connection, `count` POSTs."""
    rng = random.Random(seed)
    made: list[tuple[str, str, str]] = []
    with new_client(base) as client:
        start.wait()
        for _ in range(count):
            subject = rng.choice(catalog.patients)
            body = observation_resource(rng, f"Patient/{subject}")
            outcome, response, detail = _outcome(partial(client.post, "Observation", json=body))
            with catalog.lock:
                result.record(outcome, detail)
            if outcome == "201" and response is not None:
                made.append((response.json()["id"], subject, TUG))
    catalog.add([], made)


def _entry(resource: dict[str, Any], res_type: str) -> dict[str, Any]:
    """A transaction entry creating `resource` under a fresh urn:uuid fullUrl."""
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": resource,
        "request": {"method": "POST", "url": res_type},
    }


def _bundle(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """A transaction Bundle of entries."""
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _ids(response: dict[str, Any], res_type: str) -> list[str]:
    """The ids of the created resources of a type, in entry order, from a transaction-response."""
    ids = []
    for entry in response.get("entry", []):
        location = entry.get("response", {}).get("location", "")
        parts = location.split("/")
        if len(parts) >= 4 and parts[-4] == res_type:
            ids.append(parts[-3])
    return ids


def load_bundle(rng: random.Random, size: int) -> tuple[dict[str, Any], list[str]]:
    """A transaction of ~1 Patient per 10 Observations; also the Observations' codes in order."""
    n_patients = max(1, round(size / (OBS_PER_PATIENT + 1)))
    patients = [_entry(patient_resource(rng), "Patient") for _ in range(n_patients)]
    observations, codes = [], []
    for _ in range(size - n_patients):
        code = rng.choice(CODES)[0]
        subject = rng.choice(patients)["fullUrl"]
        observations.append(_entry(observation_resource(rng, subject, code), "Observation"))
        codes.append(code)
    return _bundle(patients + observations), codes


def _subjects(bundle: dict[str, Any], response: dict[str, Any]) -> list[str]:
    """The Patient id each Observation of a loaded Bundle points to, in entry order."""
    urn_to_id: dict[str, str] = {}
    patient_ids = iter(_ids(response, "Patient"))
    for entry in bundle["entry"]:
        if entry["request"]["url"] == "Patient":
            urn_to_id[entry["fullUrl"]] = next(patient_ids)
    return [
        urn_to_id[e["resource"]["subject"]["reference"]]
        for e in bundle["entry"]
        if e["request"]["url"] == "Observation"
    ]


class Loader:
    """Loads the store up to a size through transaction Bundles from a few clients."""

    def __init__(self, base: str, catalog: Catalog, opts: Options, rng: random.Random) -> None:
        """Configure the loader."""
        self.base = base
        self.catalog = catalog
        self.opts = opts
        self.rng = rng
        self.local = threading.local()
        self.clients: list[httpx.Client] = []

    def load_to(self, target: int) -> tuple[Throughput, int]:
        """Send the Bundles needed to reach `target` resources; (throughput, resources added)."""
        missing = max(0, target - self.catalog.total)
        sizes = [self.opts.bundle_size] * (missing // self.opts.bundle_size)
        if missing % self.opts.bundle_size:
            sizes.append(missing % self.opts.bundle_size)
        jobs = [(size, self.rng.randrange(1 << 30)) for size in sizes]
        result = Throughput(requests=len(jobs))
        before = self.catalog.total
        began = time.perf_counter()
        try:
            with ThreadPoolExecutor(max_workers=self.opts.load_clients) as pool:
                for outcome, detail in pool.map(lambda job: self._send(*job), jobs):
                    result.record(outcome, detail)
        finally:
            for client in self.clients:
                client.close()
            self.clients.clear()
        result.seconds = time.perf_counter() - began
        return result, self.catalog.total - before

    def _client(self) -> httpx.Client:
        """This thread's keep-alive client."""
        client: httpx.Client | None = getattr(self.local, "client", None)
        if client is None or client.is_closed:
            client = new_client(self.base)
            self.local.client = client
            with self.catalog.lock:
                self.clients.append(client)
        return client

    def _send(self, size: int, seed: int) -> tuple[str, str]:
        """Build and send one Bundle; record what it stored."""
        bundle, codes = load_bundle(random.Random(seed), size)
        client = self._client()
        outcome, response, detail = _outcome(lambda: client.post("", json=bundle))
        if outcome == "200" and response is not None:
            body = response.json()
            obs_ids = _ids(body, "Observation")
            triples = list(zip(obs_ids, _subjects(bundle, body), codes, strict=True))
            self.catalog.add(_ids(body, "Patient"), triples)
        return outcome, detail


def measure_reads(base: str, catalog: Catalog, count: int, rng: random.Random) -> Latency:
    """GET random stored Patients and Observations by id, one at a time."""
    patients = rng.sample(catalog.patients, min(count, len(catalog.patients)))
    observations = rng.sample(catalog.observations, min(count, len(catalog.observations)))
    targets = [("Patient", i) for i in patients] + [("Observation", o[0]) for o in observations]
    picks = [rng.choice(targets) for _ in range(count + WARMUP)]
    return _timed(base, [f"{t}/{i}" for t, i in picks], lambda r: r.status_code == 200)


def measure_searches(base: str, catalog: Catalog, count: int, rng: random.Random) -> Latency:
    """Search Observations by subject and code for random existing (subject, code) pairs."""
    picks = [rng.choice(catalog.observations) for _ in range(count + WARMUP)]
    urls = [f"Observation?subject=Patient/{p}&code={SNOMED}|{c}" for _, p, c in picks]
    return _timed(base, urls, _found)


def _found(response: httpx.Response) -> bool:
    """A searchset with at least one match."""
    return response.status_code == 200 and int(response.json().get("total", 0)) > 0


def _timed(base: str, urls: list[str], ok: Callable[[httpx.Response], bool]) -> Latency:
    """GET urls one after the other; the first WARMUP are not counted."""
    result = Latency()
    with new_client(base) as client:
        for index, url in enumerate(urls):
            began = time.perf_counter()
            outcome, response, detail = _outcome(partial(client.get, url))
            elapsed = time.perf_counter() - began
            if index < WARMUP:
                continue
            if response is not None and ok(response):
                result.samples.append(elapsed)
                continue
            result.errors += 1
            result.first_error = result.first_error or f"{url}: {outcome} {detail[:300]}"
    return result


# -- one backend -----------------------------------------------------------------------------


def say(text: str) -> None:
    """Progress line, flushed at once."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def run_backend(result: BackendResult, opts: Options) -> None:
    """Measure one backend into `result`; failures are recorded, not raised (but interrupts)."""
    backend = result.backend
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"bench-{backend}-") as tmp:
        try:
            with open_database(backend, Path(tmp), opts) as database:
                result.database = database.description
                say(f"{backend}: {database.description}")
                _serve_and_measure(database, Path(tmp), opts, result)
        except Exception as exc:
            result.failure = f"{type(exc).__name__}: {exc}"
            say(f"{backend} FAILED: {result.failure}")
        finally:
            result.seconds = time.monotonic() - began


def _serve_and_measure(database: Database, tmp: Path, opts: Options, result: BackendResult) -> None:
    """Start the server, run every phase while sampling memory, stop the server."""
    with Server(database.url, opts.workers, opts.threads, tmp) as server:
        say(f"{result.backend}: serving at {server.base} ({opts.workers}x{opts.threads})")
        with MemorySampler(server.pid) as memory:
            try:
                _phases(server.base, database, opts, result)
            finally:
                memory.sample()
                result.peak_rss_sum_kb = memory.peak_rss_sum
                result.peak_pss_sum_kb = memory.peak_pss_sum
                result.processes = sorted(memory.peaks.values(), key=lambda p: p.pid)


def _phases(base: str, database: Database, opts: Options, result: BackendResult) -> None:
    """Creates (1 client, N clients), then load + reads + searches at each size."""
    rng = random.Random(opts.seed)
    catalog = Catalog()
    total_creates = opts.single_creates + opts.concurrent_creates
    create_patients(base, catalog, max(1, total_creates // OBS_PER_PATIENT), rng)
    run_creates(base, catalog, WARMUP * opts.clients, opts.clients, rng)  # warm every worker
    result.creates_single = run_creates(base, catalog, opts.single_creates, 1, rng)
    say(f"creates, 1 client: {_rate_text(result.creates_single)}")
    result.creates_concurrent = run_creates(
        base, catalog, opts.concurrent_creates, opts.clients, rng
    )
    say(f"creates, {opts.clients} clients: {_rate_text(result.creates_concurrent)}")
    loader = Loader(base, catalog, opts, rng)
    for size in opts.sizes:
        result.stages.append(_stage(base, database, catalog, loader, size, opts, rng))


def _stage(
    base: str,
    database: Database,
    catalog: Catalog,
    loader: Loader,
    size: int,
    opts: Options,
    rng: random.Random,
) -> Stage:
    """Load up to `size`, then measure reads and searches there."""
    stage = Stage(size)
    say(f"loading up to {size:,} (now {catalog.total:,})")
    stage.load, stage.loaded = loader.load_to(size)
    stage.stored = catalog.total
    say(f"loaded {stage.loaded:,} in {stage.load.seconds:.1f}s; {_errors(stage.load)}")
    stage.reads = measure_reads(base, catalog, opts.reads, rng)
    say(f"reads p50/p95 ms: {stage.reads.text()}")
    stage.searches = measure_searches(base, catalog, opts.searches, rng)
    say(f"searches p50/p95 ms: {stage.searches.text()}")
    stage.db_bytes = database.size()
    return stage


def _rate_text(t: Throughput) -> str:
    """`123.4/s (0 errors)`."""
    return f"{t.rate:.1f}/s ({_errors(t)})"


def _errors(t: Throughput) -> str:
    """Error count, with the first error when there is one."""
    return f"{t.errors} errors" + (f"; first: {t.first_error}" if t.first_error else "")


# -- machine ---------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def total_memory() -> str:
    """Total memory from /proc/meminfo, in GiB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "?"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine skews the figures)."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_lines(opts: Options, results: Sequence[BackendResult], load: str) -> list[str]:
    """The machine and setup description."""
    databases = [f"{r.backend}: {r.database or '(not started)'}" for r in results]
    return [
        f"date:          {datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"platform:      {platform.platform()}",
        f"cpu:           {cpu_model()} x {os.cpu_count()} (cpu count)",
        f"memory:        {total_memory()}",
        f"load average:  {load} (1/5/15 min) at start; {load_average()} at end",
        f"python:        {platform.python_version()} ({platform.python_implementation()})",
        *(f"database:      {d}" for d in databases),
        f"server:        screening serve, gunicorn gthread {opts.workers} workers x "
        f"{opts.threads} threads, on {HOST}; clients on the same machine",
        f"load:          transaction Bundles of {opts.bundle_size} entries, "
        f"{opts.load_clients} concurrent senders, ~1 Patient per {OBS_PER_PATIENT} "
        f"Observations, {len(CODES)} SNOMED codes",
    ]


# -- report ----------------------------------------------------------------------------------


def _mb(kb: int) -> str:
    """kB as MiB text."""
    return f"{kb / 1024:.0f} MiB"


def result_rows(opts: Options, results: Sequence[BackendResult]) -> list[list[str]]:
    """Rows of the main table: label, then one cell per backend."""
    rows: list[list[str]] = []

    def row(label: str, cell: Callable[[BackendResult], str]) -> None:
        """Add a row, leaving failed or missing figures as '-'."""
        rows.append([label, *(_safe(cell, r) for r in results)])

    n1, n8, c = opts.single_creates, opts.concurrent_creates, opts.clients
    row(f"creates/s, 1 client ({n1} POST)", lambda r: _rate_text_short(r.creates_single))
    row(f"creates/s, {c} clients ({n8} POST)", lambda r: _rate_text_short(r.creates_concurrent))
    for i, size in enumerate(opts.sizes):
        rows += _stage_rows(i, size, results)
    row("peak RSS, sum master+workers", lambda r: _mb(r.peak_rss_sum_kb))
    row("peak PSS, sum (shared pages split)", lambda r: _mb(r.peak_pss_sum_kb))
    for i in range(1 + opts.workers):
        row(f"peak RSS (VmHWM), process {i + 1}", partial(_process_text, index=i))
    row("backend wall time", lambda r: f"{r.seconds:.0f} s")
    return rows


def _stage_rows(index: int, size: int, results: Sequence[BackendResult]) -> list[list[str]]:
    """The rows of one store size."""

    def stage(r: BackendResult) -> Stage:
        """This size's stage of a result (IndexError when it never ran)."""
        return r.stages[index]

    cells: list[tuple[str, Callable[[BackendResult], str]]] = [
        (f"[{size:,}] stored resources", lambda r: f"{stage(r).stored:,}"),
        (f"[{size:,}] load time (+resources/s)", lambda r: _load_text(stage(r))),
        (f"[{size:,}] load Bundle errors", lambda r: _errors_short(stage(r).load)),
        (f"[{size:,}] read p50 / p95 ms", lambda r: stage(r).reads.text()),
        (f"[{size:,}] search p50 / p95 ms", lambda r: stage(r).searches.text()),
        (f"[{size:,}] database size", lambda r: f"{stage(r).db_bytes / 1024**2:.0f} MiB"),
    ]
    return [[label, *(_safe(cell, r) for r in results)] for label, cell in cells]


def _safe(cell: Callable[[BackendResult], str], result: BackendResult) -> str:
    """A cell's text, or '-' when its figures do not exist."""
    try:
        return cell(result)
    except (IndexError, KeyError, ZeroDivisionError):
        return "-"


def _rate_text_short(t: Throughput) -> str:
    """`123.4 (0 err)`, or '-' when the phase never ran."""
    if t.seconds <= 0:
        return "-"
    return f"{t.rate:.1f} ({t.errors} err)"


def _errors_short(t: Throughput) -> str:
    """`0 of 50`."""
    return f"{t.errors} of {t.requests}"


def _load_text(stage: Stage) -> str:
    """`12.3 s (812/s)`."""
    return f"{stage.load.seconds:.1f} s ({stage.loaded / max(stage.load.seconds, 1e-9):.0f}/s)"


def _process_text(result: BackendResult, index: int) -> str:
    """`role pid: N MiB` of the index-th process."""
    peak = result.processes[index]
    return f"{peak.role} {peak.pid}: {_mb(peak.hwm_kb)}"


def target_lines(opts: Options, results: Sequence[BackendResult]) -> list[str]:
    """The issue's targets next to the figures (reported, not asserted)."""
    lines = []
    small, large = opts.sizes[0], opts.sizes[-1]
    for r in results:
        if len(r.stages) == len(opts.sizes) and len(opts.sizes) > 1:
            lines.append(_ratio_line(r, small, large))
    for r in results:
        if r.backend == "postgresql" and r.creates_concurrent.seconds > 0:
            rate = r.creates_concurrent.rate
            met = "met" if rate >= CREATE_TARGET else "NOT met"
            lines.append(
                f"creates with {opts.clients} clients >= {CREATE_TARGET:.0f}/s on PostgreSQL: "
                f"{rate:.1f}/s -> {met}"
            )
    return lines or ["(not enough figures to compare with the targets)"]


def _ratio_line(r: BackendResult, small: int, large: int) -> str:
    """Search latency at the largest size over the smallest, p50 and p95."""
    first, last = r.stages[0].searches, r.stages[-1].searches
    p50 = last.percentile(50) / max(first.percentile(50), 1e-9)
    p95 = last.percentile(95) / max(first.percentile(95), 1e-9)
    met = "met" if p50 <= SEARCH_TARGET_RATIO else "NOT met"
    return (
        f"{r.backend}: search at {large:,} within {SEARCH_TARGET_RATIO}x of search at "
        f"{small:,}: p50 ratio {p50:.2f}, p95 ratio {p95:.2f} -> {met} (by p50)"
    )


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as aligned text columns, the first row a header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return lines


def report(opts: Options, results: Sequence[BackendResult], seconds: float, load: str) -> str:
    """The whole printed report."""
    header = ["metric", *(r.backend for r in results)]
    lines = ["", "== Machine and setup ==", *machine_lines(opts, results, load), ""]
    lines += ["== Results (latencies: sequential requests from 1 client) ==", ""]
    lines += table([header, *result_rows(opts, results)])
    lines += [
        "",
        "== Targets (from the issue; reported, not asserted) ==",
        *target_lines(opts, results),
    ]
    failures = [f"{r.backend}: {r.failure}" for r in results if r.failure]
    lines += ["", "== Failures ==", *failures] if failures else []
    lines += _error_details(results)
    lines += ["", f"total run time: {seconds:.0f} s ({seconds / 60:.1f} min)"]
    return "\n".join(lines)


def _error_details(results: Sequence[BackendResult]) -> list[str]:
    """The first error of every phase that had errors."""
    details = []
    for r in results:
        phases: list[tuple[str, str]] = [
            ("creates 1", r.creates_single.first_error),
            ("creates N", r.creates_concurrent.first_error),
        ]
        for s in r.stages:
            phases += [(f"load {s.size}", s.load.first_error)]
            phases += [(f"reads {s.size}", s.reads.first_error)]
            phases += [(f"searches {s.size}", s.searches.first_error)]
        details += [f"{r.backend} {name}: {text}" for name, text in phases if text]
    return ["", "== First errors ==", *details] if details else []


# -- main ------------------------------------------------------------------------------------


def _terminate(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into KeyboardInterrupt so servers and clusters are stopped."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run every backend and print the report (also after Ctrl-C, with what was measured)."""
    opts = parse_options(argv)
    signal.signal(signal.SIGTERM, _terminate)
    began = time.monotonic()
    load = load_average()
    results: list[BackendResult] = []
    interrupted = False
    try:
        for backend in opts.backends:
            results.append(BackendResult(backend))
            run_backend(results[-1], opts)
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted; servers and clusters stopped")
    print(report(opts, results, time.monotonic() - began, load), flush=True)
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
