"""Billing workers killed at random: `kassa bill` processes sharing one run, SIGKILLed at
seeded random moments and each started again at once (tests/scale/test_crash.py).

Each generation of a worker has a name of its own (`crash-w<slot>.<generation>`), given to
Kassa (KASSA_WORKER_NAME: who claimed a batch, who a batch was taken over from) and to
PostgreSQL (`application_name`), so the killer sees in `pg_stat_activity` what the victim's
connection is doing: it records that for every kill, and it can wait for a moment worth
aiming at (a claim, the batch's writes and commit, a batch being marked done), which
lasts milliseconds and which a kill after a random delay would hardly ever hit.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, make_url, text


@dataclass(frozen=True)
class Kill:
    at: float  # seconds since the workers were started
    wall: datetime
    worker: str  # the generation killed
    aim: str  # what the kill waited for ("" if it came after a random delay)
    doing: str  # what the victim's connection was doing just before, as PostgreSQL showed it


@dataclass
class Worker:
    slot: int
    generation: int
    process: subprocess.Popen[bytes]
    copier: threading.Thread  # of its output to its log

    @property
    def name(self) -> str:
        return worker_name(self.slot, self.generation)


def worker_name(slot: int, generation: int) -> str:
    return f"crash-w{slot}.{generation}"


# What an aimed kill waits for, and the kinds of activity (`describe`) that count as it.
AIMS = {"a claim": ("claiming",), "a commit": ("writing the batch", "committing"),
        "finishing a batch": ("finishing a batch",)}


@dataclass
class Workers:
    """`count` `kassa bill` processes on `database_url`, their output in `logs`; `engine`
    is the killer's own look at the database."""

    count: int
    database_url: str
    env: Mapping[str, str]
    logs: Path
    engine: Engine
    started: float = field(default_factory=time.monotonic)
    current: dict[int, Worker] = field(default_factory=dict)

    def start_all(self) -> None:
        self.started = time.monotonic()
        for slot in range(self.count):
            self.start(slot, 0)

    def start(self, slot: int, generation: int) -> None:
        name = worker_name(slot, generation)
        url = make_url(self.database_url).update_query_dict({"application_name": name})
        data_dir = self.logs / f"w{slot}"
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {**self.env, "KASSA_DATABASE_URL": url.render_as_string(hide_password=False),
               "KASSA_DATA_DIR": str(data_dir), "KASSA_WORKER_NAME": name}
        process = subprocess.Popen([sys.executable, "-m", "kassa", "bill"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        copier = threading.Thread(target=_timestamped, daemon=True,
                                  args=(process.stdout, self.logs / f"{name}.log"))
        copier.start()
        self.current[slot] = Worker(slot, generation, process, copier)

    def running(self, slot: int) -> bool:
        return self.current[slot].process.poll() is None

    def has_claimed(self, slot: int) -> bool:
        """Whether the slot's worker has claimed a batch (it has started up and bills)."""
        with self.engine.connect() as connection:
            return bool(connection.scalar(text(
                "SELECT EXISTS (SELECT 1 FROM billing_batches WHERE claimed_by = :name)"),
                {"name": self.current[slot].name}))

    def kill(self, slot: int, aim: str = "", within: float = 0.0) -> Kill:
        """SIGKILL the slot's worker (with an `aim`, as soon as its connection shows it
        doing that, or after `within` seconds anyway), then start its next generation."""
        worker = self.current[slot]
        with self.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT") as connection:
            doing = describe(_activity(connection, worker.name))
            deadline = time.monotonic() + within
            while aim and doing not in AIMS[aim] and time.monotonic() < deadline \
                    and worker.process.poll() is None:
                doing = describe(_activity(connection, worker.name))
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait()
        kill = Kill(round(time.monotonic() - self.started, 2), datetime.now(UTC), worker.name,
                    aim, doing)
        self.start(slot, worker.generation + 1)
        return kill

    def wait(self, timeout: float) -> list[tuple[str, int | None]]:
        """Wait for every worker to exit by itself; their names and return codes (None: still
        running at the timeout, then killed)."""
        deadline = time.monotonic() + timeout
        codes: list[tuple[str, int | None]] = []
        for worker in self.current.values():
            try:
                codes.append((worker.name, worker.process.wait(
                    max(deadline - time.monotonic(), 0.1))))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
                codes.append((worker.name, None))
            worker.copier.join(10)
        return codes

    def stop(self) -> None:
        """Kill whatever still runs (a failed test leaves no worker behind)."""
        for worker in self.current.values():
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()


def _timestamped(output: IO[bytes], log: Path) -> None:
    """Copy a worker's output to its log, each line with the moment it came (UTC)."""
    with log.open("w") as out:
        for line in iter(output.readline, b""):
            out.write(f"{datetime.now(UTC).isoformat()} {line.decode(errors='replace')}")
            out.flush()


def _activity(connection: Connection, name: str) -> list[tuple[str, str, str]]:
    rows = connection.execute(text(
        "SELECT coalesce(state, ''), coalesce(wait_event_type, ''), "
        "left(coalesce(query, ''), 200) FROM pg_stat_activity WHERE application_name = :name"),
        {"name": name}).all()
    return [(state, wait, query) for state, wait, query in rows]


def describe(activity: list[tuple[str, str, str]]) -> str:
    """What a worker's connections show it doing, in a word or two (the busiest one)."""
    if not activity:
        return "starting up"
    return min((_kind(*connection) for connection in activity), key=_BUSIEST.index)


_BUSIEST = ("committing", "waiting for a lock", "claiming", "finishing a batch",
            "writing the batch", "planning", "billing (SQL)", "billing (Python)",
            "between batches", "starting up", "between transactions")


def _kind(state: str, wait: str, query: str) -> str:
    """A connection's state and its current (active) or last (idle) statement, named."""
    if state in ("idle", ""):
        return "between transactions"
    statement = " ".join(query.split()).upper()
    if state == "active" and wait == "Lock":
        return "waiting for a lock"
    if statement.startswith("COMMIT"):
        return "committing"
    if "ALEMBIC_VERSION" in statement or "PG_CATALOG" in statement:
        return "starting up"
    if "PG_ADVISORY_XACT_LOCK" in statement or "INSERT INTO BILLING_BATCHES" in statement:
        return "planning"
    if "BILLING_BATCHES" in statement:
        if "FINISHED_AT" in statement:
            return "finishing a batch"
        if "FOR UPDATE" in statement or "CLAIMED_BY" in statement:
            return "claiming"
        return "between batches"  # how much of the run is left (jobs/billing.py: unfinished)
    if "INET_CLIENT_ADDR" in statement:
        return "claiming"
    if statement.startswith(("INSERT", "UPDATE", "DELETE")):
        return "writing the batch"  # its flush, in the commit or before a query
    return "billing (SQL)" if state == "active" else "billing (Python)"


def kill_at_random(workers: Workers, kills: int, rng: random.Random,
                   delays: tuple[float, float], *, aimed: float, timeout: float) -> list[Kill]:
    """Kill `kills` times a random worker (one under way, if any is) and restart it at once.
    The victim is waited for until it has claimed a batch (it has started up), then killed
    after a random delay in `delays` seconds, or, with the chance `aimed`, at the next moment
    of a random one of AIMS its connection shows (within twice the longest delay). Stops
    early when a worker exits by itself (the run is done) or at `timeout`."""
    done: list[Kill] = []
    deadline = time.monotonic() + timeout
    while len(done) < kills and time.monotonic() < deadline:
        # A worker that is under way rather than one still starting up after its own kill
        # (some 3 s): the kills then keep pace with a run that gets faster.
        ready = [slot for slot in range(workers.count)
                 if workers.running(slot) and workers.has_claimed(slot)]
        slot = rng.choice(ready) if ready else rng.randrange(workers.count)
        delay = rng.uniform(*delays)
        aim = rng.choice(sorted(AIMS)) if rng.random() < aimed else ""
        while workers.running(slot) and not workers.has_claimed(slot) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        if not aim:
            time.sleep(delay)
        if not workers.running(slot):
            break
        done.append(workers.kill(slot, aim, within=2 * delays[1]))
    return done


@dataclass(frozen=True, order=True)
class Takeover:
    at: datetime
    batch: int
    previous: str  # the worker the batch was taken from


TAKEOVER = re.compile(r"^(\S+) billing batch (\d+) \(run [^)]*\) taken over from (\S+) after",
                      re.MULTILINE)


def takeovers(logs: Path) -> list[Takeover]:
    """Every takeover the workers logged (jobs/billing.py: claim), when it was logged."""
    return sorted(Takeover(datetime.fromisoformat(at), int(batch), previous)
                  for path in logs.glob("*.log")
                  for at, batch, previous in TAKEOVER.findall(path.read_text(errors="replace")))


def from_the_dead(taken: list[Takeover], kills: list[Kill]) -> list[Takeover]:
    """The takeovers of a batch whose worker had been killed (the others took a batch from a
    worker still billing it, after its lease ran out)."""
    killed = {kill.worker: kill.wall for kill in kills}
    return [t for t in taken if t.previous in killed and killed[t.previous] <= t.at]


def environment(database_url: str, *, secret_key: str, batch_size: int,
                lease_seconds: int) -> dict[str, str]:
    """The environment all workers share (each adds its name, data directory and URL)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("KASSA_")}
    return {**env, "KASSA_DATABASE_URL": database_url, "KASSA_SECRET_KEY": secret_key,
            "KASSA_BILLING_BATCH_SIZE": str(batch_size),
            "KASSA_BILLING_LEASE_SECONDS": str(lease_seconds)}
