"""Reliability suite: crash safety, faulty servers, hostile input, concurrency, disk trouble, secrets.

    python bench/reliability.py               # default sizes (50 kills, 1000 hostile records): minutes
    python bench/reliability.py --small       # the size the test suite runs (tests/ops/test_reliability.py)

Everything runs against the sandbox over loopback, with recon as a subprocess where a person
or cron would run it. Seeds are fixed, so a run is repeatable. Prints a table of figures; the
test suite asserts on the small version's figures.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import random
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from recon.config import load_config
from recon.lake.integrity import duplicate_keys, fingerprint, lost_and_extra
from recon.lake.schemas import TABLES
from recon.sandbox.client_config import config_text, secret_env
from recon.sandbox.dataset import Dataset
from recon.sandbox.generate import generate
from recon.sandbox.keys import generate_key_pair
from recon.sandbox.server import Sandbox, SandboxCredentials

PERIOD = ["--from", "2026-10-24", "--to", "2026-10-26"]
PAGE = 10  # config_text's page size


@dataclass(frozen=True)
class Sizes:
    kills: int = 50
    orders: int = 120
    fault_orders: int = 200
    hostile: int = 1000
    seed: int = 7


SMALL = Sizes(kills=4, orders=40, fault_orders=60, hostile=120, seed=7)


@dataclass
class World:
    """A sandbox with random credentials, and configs that point at it."""

    root: Path
    dataset: Dataset
    faults: str | None = None
    http: str = ""
    outputs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        private, public = generate_key_pair()
        self.creds = SandboxCredentials(vipps_client_secret="v-" + secrets.token_hex(16),
                                        entur_client_secret="e-" + secrets.token_hex(16),
                                        samtrafiken_public_key_pem=public)
        self.private_key = private
        self.sandbox = Sandbox(self.dataset, faults=self.faults, credentials=self.creds).start()
        self.env = {**os.environ, **secret_env(self.creds, private)}

    def config(self, name: str, extra: str = "") -> Path:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "recon.toml"
        path.write_text(config_text(self.sandbox.urls(), self.creds, self.dataset, lake=folder / "lake",
                                    http=self.http, extra=extra))
        return path

    def recon(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "recon.cli", *args], capture_output=True, text=True,
                              env=self.env, timeout=600, **kw)
        self.outputs.append(proc.stdout + proc.stderr)
        return proc

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "recon.cli", *args], env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def secret_values(self) -> list[str]:
        body = "".join(self.private_key.strip().splitlines()[1:-1])
        return [self.creds.vipps_client_secret, self.creds.entur_client_secret, body[:48], body[-48:]]

    def stop(self) -> None:
        self.sandbox.stop()


def _rows(fp: dict[str, list[Any]]) -> int:
    return sum(len(rows) for rows in fp.values())


def _empty_tables(fp: dict[str, list[Any]]) -> int:
    """Landed tables without a row: a clean lake has none, or comparing with it proves little
    (vipps_ledgers is only listed with ledgers = "auto")."""
    return sum(1 for name in TABLES if not fp[name] and name != "vipps_ledgers")


def _wait(condition: Callable[[], Any], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _state(lake: Path) -> dict[str, str]:
    """The sources' cursors and watermarks (``_state/<source>/*.json``); not run manifests, reconcile
    state or the landing clock, which every run moves."""
    return {str(p.relative_to(lake)): p.read_text() for p in sorted((lake / "_state").glob("*/*.json"))
            if p.parent.name not in ("runs", "reconcile")}


# --- 1. crash safety ------------------------------------------------------------------------

class Gate(Sequence[dict[str, Any]]):
    """A feed (a ledger's entries, the booking events) whose pages from a chosen position on are
    held back while the gate is armed.

    The sandbox slices a feed from the requested cursor, so the event :meth:`arm` returns is set
    the moment a client asks for the held page: every page before it has been served, none from
    it on. A run killed while it waits there is known to be mid-pull, however fast the machine.
    """

    def __init__(self, items: Sequence[dict[str, Any]]) -> None:
        self.items = list(items)
        self._held: tuple[int, threading.Event, threading.Event] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: Any) -> Any:
        held = self._held
        if held is not None and isinstance(index, slice) and (index.start or 0) >= held[0]:
            held[1].set()
            held[2].wait(timeout=120)
        return self.items[index]

    def arm(self, at: int) -> threading.Event:
        self._held = (at, threading.Event(), threading.Event())
        return self._held[1]

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held[2].set()


def _gated(dataset: Dataset) -> list[Gate]:
    """Put a gate on every cursor feed of the dataset (Vipps ledgers, Samtrafiken events)."""
    gates = []
    for ledger in dataset.ledgers.values():
        ledger.entries = Gate(ledger.entries)
        gates.append(ledger.entries)
    dataset.events = Gate(dataset.events)
    gates.append(dataset.events)
    return gates


def _committed_checkpoints(lake: Path) -> list[Path]:
    """Cursor and watermark files: each is written only once its checkpoint's files are durable."""
    return [p for p in (lake / "_state").glob("*/*.json") if p.parent.name != "runs"]


def crash_safety(root: Path, sizes: Sizes) -> dict[str, Any]:
    """SIGKILL `pull` or `run` at random moments mid-pull, then rerun: the lake equals a clean one.

    Each kill lands at a proven point: while a random page of a random feed is held back (so the
    pull cannot have finished), after at least one checkpoint committed, plus a random delay. A
    kill counts as mid-pull when the victim was still running, died of the SIGKILL and left a lake
    with some but not all of the clean run's rows and nothing else.
    """
    rng = random.Random(sizes.seed)
    dataset = generate(seed=sizes.seed, orders=sizes.orders)
    gates = _gated(dataset)
    world = World(root / "crash", dataset, faults="slow:1.0,slow=0.01")
    try:
        clean_cfg = world.config("clean")
        assert world.recon("run", "--config", str(clean_cfg), *PERIOD).returncode == 0
        clean = fingerprint(load_config(clean_cfg), results=True)
        clean_landed = fingerprint(load_config(clean_cfg))
        kills = mid_pull = lost = duplicated = unequal = failed_reruns = 0
        for k in range(sizes.kills):
            cfg = world.config(f"kill-{k}", extra="")
            text = cfg.read_text().replace("[lake]\n", "[lake]\nflush_rows = 40\n", 1)
            cfg.write_text(text)
            lake = load_config(cfg).lake
            command = ["pull"] if k % 2 == 0 else ["run", *PERIOD]
            gate = rng.choice(gates)
            reached = gate.arm(PAGE * rng.randrange(1, -(-len(gate) // PAGE)))  # a page after the first
            victim = world.start(*command, "--config", str(cfg))
            try:
                _wait(lambda v=victim, r=reached: r.is_set() or v.poll() is not None, "the held-back page")
                _wait(lambda v=victim, lk=lake: _committed_checkpoints(lk) or v.poll() is not None,
                      "a committed checkpoint")
                time.sleep(rng.uniform(0.0, 0.3))  # well within the victim's retries of the held page
                running = victim.poll() is None
                victim.send_signal(signal.SIGKILL)
                out, err = victim.communicate(timeout=30)
            finally:
                if victim.poll() is None:
                    victim.kill()
                    out, err = victim.communicate(timeout=30)
                gate.release()
            if out + err:  # without a terminal a run writes nothing until it ends: a killed one, nothing
                world.outputs.append(out + err)
            kills += victim.returncode == -signal.SIGKILL
            config = load_config(cfg)
            partial = fingerprint(config)
            missing, extra = lost_and_extra(clean_landed, partial)
            finished = any((config.lake / "_state" / "runs").glob("*.json"))
            mid_pull += running and not finished and _rows(partial) > 0 and missing > 0 and extra == 0
            rerun = world.recon("run", "--config", str(cfg), *PERIOD)
            if rerun.returncode != 0:
                failed_reruns += 1
                continue
            config = load_config(cfg)
            final = fingerprint(config, results=True)
            missing, extra = lost_and_extra(clean, final)
            lost += missing
            duplicated += duplicate_keys(config) + extra
            unequal += final != clean
        return {"kills": kills, "mid_pull_kills": mid_pull, "lost": lost, "duplicated": duplicated,
                "unequal_lakes": unequal, "failed_reruns": failed_reruns, "clean_rows": _rows(clean_landed),
                "clean_empty_tables": _empty_tables(clean_landed), "secrets": world.secret_values(),
                "outputs": world.outputs, "roots": [world.root]}
    finally:
        world.stop()


# --- 2. faulty servers ----------------------------------------------------------------------

FAULTS = ("429:0.04,429date:0.02,429bare:0.02,500:0.04,503:0.03,slow:0.02,truncate:0.02,drop:0.01,"
          "repeat:0.02,retry_after=0,slow=1.0")  # 20 % of data requests
FAULT_HTTP = ("connect_timeout = 2\nread_timeout = 0.5\nmax_attempts = 10\nbackoff_base = 0.01\n"
              "backoff_max = 0.05")


def faulty_servers(root: Path, sizes: Sizes) -> dict[str, Any]:
    dataset = generate(seed=sizes.seed + 1, orders=sizes.fault_orders)
    clean_world = World(root / "faults-clean", dataset)
    world = World(root / "faults", dataset, faults=f"{FAULTS},seed={sizes.seed}", http=FAULT_HTTP)
    try:
        clean_path = clean_world.config("clean")
        assert clean_world.recon("pull", "--config", str(clean_path)).returncode == 0
        clean = fingerprint(load_config(clean_path))
        proc = world.recon("pull", "--config", str(world.config("faulty")))
        config = load_config(world.root / "faulty" / "recon.toml", env=world.env)
        final = fingerprint(config)
        missing, extra = lost_and_extra(clean, final)
        stats = world.sandbox.stats
        manifest = max((config.lake / "_state" / "runs").glob("*.json"))
        retries = sum(sum(s["retries"].values()) for s in json.loads(manifest.read_text())["sources"])
        return {"completed": proc.returncode == 0, "data_requests": stats["data_requests"],
                "faults_injected": sum(v for k, v in stats.items() if k.startswith("fault_")),
                "retries": retries, "lost": missing, "duplicated": duplicate_keys(config) + extra,
                "equal": final == clean, "clean_rows": _rows(clean), "clean_empty_tables": _empty_tables(clean),
                "secrets": world.secret_values() + clean_world.secret_values(),
                "outputs": world.outputs, "roots": [world.root, clean_world.root]}
    finally:
        world.stop()
        clean_world.stop()


# --- 3. hostile input -----------------------------------------------------------------------

def _bad_text(rng: random.Random) -> str:
    return rng.choice(["\udcff\udcfe", "ok\udc80bad", "\udce9t\udce9"])  # bytes that are not UTF-8


def _hostile_entry(rng: random.Random, base: dict[str, Any], token: str) -> tuple[dict[str, Any] | Any, bool]:
    """A malformed (True) or merely odd but valid (False) copy of a Vipps entry, marked by token."""
    e = copy.deepcopy(base)
    e["pspReference"], e["reference"] = f"{token}-psp", f"{token}-ref"
    e["_fuzz"] = token
    kind = rng.randrange(16)
    if kind == 0:
        del e[rng.choice(["reference", "time", "entryType", "currency"])]
    elif kind == 1:
        e["amounts"]["gross"] = rng.choice(["12.5", [1], {"v": 1}, True, "NaN"])
    elif kind == 2:
        e["amounts"]["gross"] = rng.choice([10**30, -(10**25)])
    elif kind == 3:
        e["time"] = rng.choice(["2026-02-30T10:00:00Z", "yesterday", "", "2026-10-24", 1729760000, None])
    elif kind == 4:
        # An entry type recon does not know is valid data (the API adds types): it lands, unmatched.
        e["entryType"] = rng.choice(["chargeback", "CAPTURE2", "", 7])
        if e["entryType"] in ("chargeback", "CAPTURE2"):
            return e, False
    elif kind == 5:
        e["currency"] = rng.choice(["NOKK", "nok", "", "€", None])
    elif kind == 6:
        e["reference"] = "R" * rng.choice([201, 5000, 100_000])
    elif kind == 7:
        e["reference"] = f"{token}-" + _bad_text(rng)
    elif kind == 8:
        e["lines"] = rng.choice(["not-a-list", 5, {"lineId": 1}])
    elif kind == 9:
        e["lines"][0]["vatRate"] = rng.choice(["abc", -5, 20000, [25]])
    elif kind == 10:
        e["lines"][0]["quantity"] = rng.choice(["many", "1e400", [2]])
    elif kind == 11:
        return rng.choice([[e], f"{token}-just-a-string", {"items": [token]}]), True
    elif kind == 12:
        e["pspReference"] = {"nested": token}
    elif kind == 13:
        # Formula-like text in free fields is valid data: it lands, and must stay text in Excel.
        e["lines"][0]["name"] = rng.choice(["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0",
                                            "@SUM(A1:A9)", "-2+3", "\t=1+1", "\r=1+1"])
        e["reference"] = f"={token}"
        return e, False
    elif kind == 14:
        e["lines"][0]["name"] = "N" * 1500  # long but within limits: lands
        return e, False
    else:
        e["amounts"] = "100 NOK"
    return e, True


def hostile_input(root: Path, sizes: Sizes) -> dict[str, Any]:
    rng = random.Random(sizes.seed + 2)
    dataset = generate(seed=sizes.seed + 2, orders=sizes.orders)
    base_refs = {e["reference"] for ds_led in dataset.ledgers.values() for e in ds_led.entries}
    led = next(iter(dataset.ledgers.values()))
    entries = list(led.entries)
    valid = [e for e in entries if e.get("lines")]
    injected: dict[str, bool] = {}
    for i in range(sizes.hostile):
        token = f"fz{i:05d}"
        record, bad = _hostile_entry(rng, rng.choice(valid), token)
        injected[token] = bad
        entries.insert(rng.randrange(len(entries) + 1), record)
    led.entries = entries
    world = World(root / "hostile", dataset)
    try:
        cfg = world.config("lake")
        proc = world.recon("run", "--config", str(cfg), *PERIOD)
        config = load_config(cfg, env=world.env)
        from recon.lake.catalog import connect
        from recon.lake.store import Lake

        con = connect(Lake(config.lake))
        raws = [r[0] for r in con.execute("SELECT raw FROM quarantine WHERE reason <> ''").fetchall()]
        landed_refs = {r[0] for r in con.execute("SELECT reference FROM vipps_sales_entries").fetchall()}
        con.close()
        quarantined = {t for t in injected if any(t in raw for raw in raws)}
        must = {t for t, bad in injected.items() if bad}
        odd_valid = {t for t, bad in injected.items() if not bad}
        landed_odd = {t for t in odd_valid if any(t in ref for ref in landed_refs)}
        formula_cells = _formula_cells(config.lake.parent / "reports")
        return {"records": sizes.hostile, "crashes": int(proc.returncode not in (0,)),
                "must_quarantine": len(must), "quarantined_with_reason": len(must & quarantined),
                "odd_but_valid_landed": f"{len(landed_odd)}/{len(odd_valid)}",
                "valid_landed": f"{len(base_refs & landed_refs)}/{len(base_refs)}",
                "formula_cells": formula_cells, "secrets": world.secret_values(), "outputs": world.outputs,
                "roots": [world.root]}
    finally:
        world.stop()


def _formula_cells(reports: Path) -> int | str:
    try:
        from openpyxl import load_workbook
    except ImportError:  # pragma: no cover
        return "n/a"
    books = list(reports.glob("*.xlsx"))
    if not books:
        return "no workbook"
    count = 0
    for book in books:
        wb = load_workbook(book)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                count += sum(1 for cell in row if cell.data_type == "f")
    return count


# --- 4. concurrency -------------------------------------------------------------------------

def concurrency(root: Path, sizes: Sizes, runs: int) -> dict[str, Any]:
    dataset = generate(seed=sizes.seed + 3, orders=sizes.orders)
    world = World(root / f"concurrent-{runs}", dataset, faults="slow:1.0,slow=0.01")
    try:
        clean_cfg = world.config("clean")
        assert world.recon("run", "--config", str(clean_cfg), *PERIOD).returncode == 0
        clean = fingerprint(load_config(clean_cfg), results=True)
        cfg = world.config("shared")
        # All at once, queueing on the lock; then all at once without --wait: one runs, the rest exit 4.
        queued = [world.start("run", "--config", str(cfg), *PERIOD, "--wait", "300") for _ in range(runs)]
        codes = [_finish(world, p) for p in queued]
        refused = [world.start("run", "--config", str(cfg), *PERIOD) for _ in range(runs)]
        refused_codes = [_finish(world, p) for p in refused]
        config = load_config(cfg)
        intervals = sorted(
            (datetime.fromisoformat(d["started_at"]), datetime.fromisoformat(d["finished_at"]))
            for d in (json.loads(p.read_text()) for p in (config.lake / "_state" / "runs").glob("*.run.json")))
        overlaps = sum(1 for a, b in itertools.pairwise(intervals) if b[0] < a[1])
        final = fingerprint(config, results=True)
        missing, extra = lost_and_extra(clean, final)
        return {"runs": runs, "queued_ok": codes.count(0),
                "second_wave": f"{refused_codes.count(0)} ran, {refused_codes.count(4)} refused",
                "runs_recorded": len(intervals), "overlapping_writers": overlaps, "lost": missing,
                "duplicated": duplicate_keys(config) + extra,
                "equal": final == clean, "clean_rows": _rows(clean), "clean_empty_tables": _empty_tables(clean),
                "secrets": world.secret_values(), "outputs": world.outputs,
                "roots": [world.root]}
    finally:
        world.stop()


def _finish(world: World, proc: subprocess.Popen[str]) -> int:
    out, err = proc.communicate(timeout=600)
    world.outputs.append(out + err)
    return proc.returncode


# --- 5. disk trouble ------------------------------------------------------------------------

def _limit_file_size(limit: int) -> None:
    # A file-size limit is a full disk for this process only: writes past it fail with EFBIG.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def disk_trouble(root: Path, sizes: Sizes) -> dict[str, Any]:
    dataset = generate(seed=sizes.seed + 4, orders=sizes.orders)
    world = World(root / "disk", dataset)
    try:
        clean_cfg = world.config("clean")
        assert world.recon("pull", "--config", str(clean_cfg)).returncode == 0
        clean = fingerprint(load_config(clean_cfg))
        cfg = world.config("full")
        first = world.recon("pull", "vipps", "--config", str(cfg))  # Vipps lands, then the disk fills up
        config = load_config(cfg)
        before = _state(config.lake)
        full = subprocess.run([sys.executable, "-m", "recon.cli", "pull", "--config", str(cfg)],
                              capture_output=True, text=True, env=world.env, timeout=300,
                              preexec_fn=lambda: _limit_file_size(8192))
        world.outputs.append(full.stdout + full.stderr)
        after_failure = _state(config.lake)
        clean_failure = (full.returncode == 1 and "Traceback" not in full.stderr
                         and full.stderr.strip().splitlines()[0].startswith("recon: error:"))
        recovered = world.recon("pull", "--config", str(cfg))
        final = fingerprint(config)
        missing, extra = lost_and_extra(clean, final)
        return {"first_pull_ok": first.returncode == 0, "failed_cleanly": clean_failure,
                "exit_code": full.returncode, "cursor_unchanged": before == after_failure,
                "cursors_before": len(before),
                "recovered": recovered.returncode == 0 and final == clean, "lost": missing,
                "duplicated": duplicate_keys(config) + extra, "clean_rows": _rows(clean),
                "clean_empty_tables": _empty_tables(clean), "secrets": world.secret_values(),
                "outputs": world.outputs, "roots": [world.root]}
    finally:
        world.stop()


# --- 6. secrets -----------------------------------------------------------------------------

def secrets_found(results: list[dict[str, Any]]) -> int:
    """Occurrences of any secret value in every output, log, lake file and workbook of the suite."""
    found = 0
    for result in results:
        values = [s.encode() for s in result["secrets"]]
        for text in result["outputs"]:
            found += sum(text.encode("utf-8", "surrogateescape").count(v) for v in values)
        for root in result["roots"]:
            for path in Path(root).rglob("*"):
                if not path.is_file():
                    continue
                blobs = [path.read_bytes()]
                if path.suffix == ".xlsx":
                    with zipfile.ZipFile(path) as zf:
                        blobs = [zf.read(n) for n in zf.namelist()]
                found += sum(blob.count(v) for blob in blobs for v in values)
    return found


def run_suite(sizes: Sizes, root: Path) -> dict[str, dict[str, Any]]:
    results = {
        "crash safety": crash_safety(root, sizes),
        "faulty servers": faulty_servers(root, sizes),
        "hostile input": hostile_input(root, sizes),
        "concurrency x2": concurrency(root, sizes, 2),
        "concurrency x4": concurrency(root, sizes, 4),
        "disk trouble": disk_trouble(root, sizes),
    }
    found = secrets_found(list(results.values()))
    for result in results.values():
        for key in ("secrets", "outputs", "roots"):
            result.pop(key)
    results["secrets"] = {"found": found}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="the sizes the test suite runs")
    parser.add_argument("--kills", type=int, help="override the number of SIGKILLs")
    args = parser.parse_args()
    sizes = SMALL if args.small else Sizes()
    if args.kills:
        sizes = Sizes(**{**sizes.__dict__, "kills": args.kills})
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="recon-reliability-") as tmp:
        results = run_suite(sizes, Path(tmp))
    print(f"recon reliability suite (seed {sizes.seed}, {time.perf_counter() - t0:.0f}s)")
    for name, figures in results.items():
        shown = ", ".join(f"{k} {v}" for k, v in figures.items())
        print(f"  {name:16s} {shown}")


if __name__ == "__main__":
    main()
