#!/usr/bin/env python3
"""Cairn against DuckDB and ClickHouse (chDB) on the same generated events.

Run it through `bench/run` (which makes the virtual environment); docs/bench.md says
what it does and how to read the results. In short:

1. `cairn demo --generate N --seed S --start 2026-09-01 --days D --out FILE.parquet`
   writes one zstd Parquet file in Cairn's Parquet schema (bench/out/data/).
2. That one file is loaded into Cairn (`cairn import`), DuckDB (a table sorted by site,
   visitor, ts) and ClickHouse (a MergeTree ordered by (site, visitor, ts), merged with
   OPTIMIZE FINAL). Load time and bytes on disk are measured.
3. Every query of QUERIES runs on each engine over the whole generated window: Cairn's
   spec in bench/queries/ (a copy with the window as its range), the SQL in
   bench/sql/<engine>/. The answers are normalised and must be equal, or the run fails.
   With more than 30 days (--days 90), the funnel and the goal report also run over the
   last 7, 30 and 90 days (range_scaling), compared the same way.
4. Timings (first run in a fresh process, median of warm runs in one process) and peak
   resident memory per process go to bench/RESULTS.md (not in --check-only mode).

Every engine runs in its own child process (`bench.py _worker …` for the Python engines),
so that its peak resident memory is its own (see run_measured).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

# The generated window: a fixed start and `--days` days (default GEN_DAYS), so that a
# seed, a count and a number of days always give the same events.
GEN_START = "2026-09-01"
GEN_DAYS = 30
SITE = "shop.example"
# With more days than GEN_DAYS: the funnel and the goal report also run on the last 7,
# 30 and 90 days of the window (and on the whole window), to see how query time scales
# with the range (see range_scaling).
RANGE_DAYS = (7, 30, 90)
RANGE_QUERIES = ("funnel", "goals")
SESSION_GAP_MS = 30 * 60 * 1000
WINDOW_MS = 7 * 24 * 3600 * 1000

ENGINES = ["cairn", "duckdb", "chdb"]
PEERS = ["duckdb", "chdb"]
LABEL = {"cairn": "Cairn", "duckdb": "DuckDB", "chdb": "ClickHouse (chDB)"}
SQL_DIR = {"duckdb": "duckdb", "chdb": "clickhouse"}

# The goals of bench/queries/goals.json, in order, with the column prefix the SQL uses.
GOALS = [
    ("purchase", "Purchase"),
    ("add_to_cart", "Add to cart"),
    ("searched", "Searched"),
    ("big_basket", "Big basket"),
    ("checkout_page", "Checkout page"),
    ("stayed_2m", "Stayed 2 minutes"),
    ("pages_5", "Browsed 5 pages"),
    ("viewed_3", "Viewed 3 products"),
]


@dataclass
class Query:
    name: str
    title: str
    kind: str  # goals | funnel | breakdown | transitions | influence | experiment
    spec: str  # bench/queries/<spec>
    sql: str  # bench/sql/<engine>/<sql>
    dim: str | None = None


QUERIES = [
    Query("goals", "goal report (8 goals, session + visitor)", "goals", "goals.json", "goals.sql"),
    Query("funnel", "4-step funnel, 7-day window", "funnel", "funnel.json", "funnel.sql"),
    Query("funnel_device", "funnel by device", "breakdown", "funnel_device.json",
          "funnel_breakdown.sql", "device"),
    Query("funnel_campaign", "funnel by utm_campaign", "breakdown", "funnel_campaign.json",
          "funnel_breakdown.sql", "utm_campaign"),
    Query("transitions", "page transitions (top 50 pairs, session)", "transitions",
          "transitions.json", "transitions.sql"),
    Query("influence", "micro→purchase lift (3 candidates, visitor, did X at all)", "influence",
          "influence.json", "influence.sql"),
    Query("experiment", "A/B test: 2 variants, 2 goals after the first exposure", "experiment",
          "experiment.json", "experiment.sql"),
]

# Analyses the peers have no equivalent of in SQL: timed in Cairn only, listed apart.
# (name, title, spec in bench/queries/)
CAIRN_ONLY = [
    ("influence_report", "full influence report (7 goals + every event name, precedence, "
     "Mantel–Haenszel over device × channel, q-values)", "influence_report.json"),
]


@dataclass(frozen=True)
class Window:
    """A query range of whole UTC days, inclusive: `first` .. `last` (dates)."""
    first: dt.date
    last: dt.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def from_date(self) -> str:
        return self.first.isoformat()

    @property
    def to_date(self) -> str:
        return self.last.isoformat()

    @property
    def from_ts(self) -> str:  # for the SQL
        return f"{self.from_date} 00:00:00.000"

    @property
    def to_ts(self) -> str:
        return f"{self.to_date} 23:59:59.999"

    def last_days(self, n: int) -> "Window":
        """The last n days of this window (ending where it ends)."""
        return Window(max(self.first, self.last - dt.timedelta(days=n - 1)), self.last)


def gen_window(days: int) -> Window:
    """The generated window of `days` days: the whole range every main query reads."""
    first = dt.date.fromisoformat(GEN_START)
    return Window(first, first + dt.timedelta(days=days - 1))


def data_label(n: int, days: int) -> str:
    """The name of a data set: its size ("10M"), with "-90d" unless it spans GEN_DAYS.
    It names the RESULTS.md section, the Parquet file and the work directory."""
    return size_label(n) + ("" if days == GEN_DAYS else f"-{days}d")


def parse_label(label: str) -> tuple[int, int] | None:
    """(events, days) of a data label ("10M" → (10M, 30), "10M-90d" → (10M, 90))."""
    m = re.fullmatch(r"(.+?)(?:-([0-9]+)d)?", label)
    try:
        return parse_count(m.group(1)), int(m.group(2) or GEN_DAYS)
    except (argparse.ArgumentTypeError, AttributeError):
        return None


def parse_count(s: str) -> int:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGbB]?)\s*", s)
    if not m:
        raise argparse.ArgumentTypeError(f"not a count: {s!r} (e.g. 1M, 100k, 2500000)")
    mult = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9}[m.group(2).lower()]
    n = round(float(m.group(1)) * mult)
    if n <= 0:
        raise argparse.ArgumentTypeError("the count must be positive")
    return n


def size_label(n: int) -> str:
    for div, suf in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if n >= div and n % (div // 1000 if div > 1000 else 1) == 0:
            v = n / div
            return (f"{v:g}" if v == int(v) or len(f"{v:g}") <= 4 else f"{v:.2f}") + suf
    return str(n)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------ processes


@dataclass
class Proc:
    rc: int
    out: str
    err: str
    wall_s: float
    maxrss: int  # bytes


GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


def run_measured(cmd: list[str], native: bool = False) -> Proc:
    """Runs cmd; returns its output, wall time and peak resident memory.

    Linux carries the parent's peak RSS over fork and exec into a child's ru_maxrss, so a
    child's own figure cannot be less than this harness's (a few tens of MiB). Native
    commands (cairn) therefore run under GNU time where there is one, whose small process
    is the parent that counts; the Python workers report their own VmHWM instead."""
    rss_file = None
    if native and GNU_TIME:
        rss_file = tempfile.NamedTemporaryFile(prefix="bench-rss-", delete=False)
        rss_file.close()
        cmd = [GNU_TIME, "-f", "%M", "-o", rss_file.name] + cmd
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        out = p.stdout.read()
        p.stdout.close()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        etext = err.read().decode(errors="replace")
    maxrss = ru.ru_maxrss * 1024
    if rss_file:
        try:
            maxrss = int(Path(rss_file.name).read_text().split()[-1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        os.unlink(rss_file.name)
    return Proc(p.returncode, out.decode(errors="replace"), etext, wall, maxrss)


def check(p: Proc, what: str) -> Proc:
    if p.rc != 0:
        sys.stderr.write(p.err[-4000:])
        raise SystemExit(f"error: {what} failed (exit code {p.rc})")
    return p


def worker(args: dict) -> Proc:
    p = check(
        run_measured([sys.executable, str(Path(__file__).resolve()), "_worker", json.dumps(args)]),
        f"{args['engine']} {args['action']}",
    )
    # The worker's own high-water mark (VmHWM of its address space) is exact; ru_maxrss
    # of a child also counts this process's peak, which the kernel carries over exec.
    hwm = worker_json(p).get("vmhwm")
    if hwm:
        p.maxrss = hwm
    return p


def vmhwm() -> int | None:
    try:
        m = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
        return int(m.group(1)) * 1024 if m else None
    except OSError:
        return None


def worker_json(p: Proc) -> dict:
    return json.loads(p.out.strip().splitlines()[-1])


# ------------------------------------------------------------------------ SQL


def sql_text(engine: str, q: Query, win: Window) -> str:
    text = (BENCH / "sql" / SQL_DIR[engine] / q.sql).read_text()
    return text.format(site=SITE, from_ts=win.from_ts, to_ts=win.to_ts, gap_ms=SESSION_GAP_MS,
                       window_ms=WINDOW_MS, dim=q.dim or "")


def cairn_spec(spec_file: str, win: Window, work: Path) -> Path:
    """A copy of bench/queries/<spec_file> whose "from" and "to" are the window, written
    into the work directory (the files in bench/queries/ are never changed)."""
    spec = json.loads((BENCH / "queries" / spec_file).read_text())
    spec["from"], spec["to"] = win.from_date, win.to_date
    out = work / "specs" / f"{Path(spec_file).stem}.{win.from_date}.{win.to_date}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(spec, indent=1) + "\n")
    return out


# ------------------------------------------------------------------------ workers
# `bench.py _worker JSON` runs one engine's load or one query in this process and prints
# one JSON line. Only the Python engines use it.

DIMS = ["name", "user", "host", "path", "query", "referrer", "source", "channel",
        "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "device",
        "browser", "os", "country", "screen", "language"]
LOWCARD = {"name", "host", "source", "channel", "utm_source", "utm_medium", "utm_campaign",
           "utm_term", "utm_content", "device", "browser", "os", "country", "screen",
           "language"}


def _duckdb_load(a: dict) -> dict:
    import duckdb
    db = Path(a["db"])
    for p in (db, db.with_name(db.name + ".wal")):
        if p.exists():
            p.unlink()
    t0 = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'UTC'")
    # The sort spills here when it does not fit in memory (100M events).
    con.execute(f"SET temp_directory = '{db.parent / 'duckdb.tmp'}'")
    cols = ", ".join(["site", "ts::TIMESTAMP AS ts", "visitor"] + DIMS
                     + ["props", "revenue_amount", "revenue_currency"])
    con.execute(f"CREATE TABLE events AS SELECT {cols} FROM read_parquet('{a['parquet']}') "
                "WHERE type = 'event' ORDER BY site, visitor, ts")
    con.execute("CHECKPOINT")
    rows = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()
    secs = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in (db, db.with_name(db.name + ".wal")) if p.exists())
    return {"seconds": secs, "bytes": size, "rows": rows, "version": duckdb.__version__}


def _chdb_session(path: str):
    from chdb import session
    return session.Session(path)


def _chdb_load(a: dict) -> dict:
    import chdb
    path = Path(a["db"])
    if path.exists():
        shutil.rmtree(path)
    t0 = time.perf_counter()
    s = _chdb_session(str(path))
    # ClickHouse's usual choices for such a table: LowCardinality for the dictionary-like
    # columns, delta-coded sorted integers, ZSTD instead of the default LZ4 (about half
    # the bytes here, with the same query times), '' for a missing string.
    coldefs = ["site LowCardinality(String)", "ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))",
               "visitor UInt64 CODEC(Delta, ZSTD(1))"]
    sel = ["site", "ts", "visitor"]
    for d in DIMS:
        coldefs.append(f"`{d}` {'LowCardinality(String)' if d in LOWCARD else 'String'} CODEC(ZSTD(1))")
        sel.append(f"ifNull(`{d}`, '')")
    coldefs += ["props String CODEC(ZSTD(1))", "revenue_amount Nullable(Float64) CODEC(ZSTD(1))",
                "revenue_currency LowCardinality(String) CODEC(ZSTD(1))"]
    sel += ["ifNull(props, '')", "revenue_amount", "ifNull(revenue_currency, '')"]
    s.query("DROP TABLE IF EXISTS events")
    s.query(f"CREATE TABLE events ({', '.join(coldefs)}) ENGINE = MergeTree "
            "ORDER BY (site, visitor, ts)")
    s.query(f"INSERT INTO events SELECT {', '.join(sel)} FROM file('{a['parquet']}', Parquet) "
            "WHERE type = 'event'")
    s.query("OPTIMIZE TABLE events FINAL")
    secs = time.perf_counter() - t0
    r = json.loads(s.query("SELECT sum(rows) AS rows, sum(bytes_on_disk) AS bytes, count() AS parts "
                           "FROM system.parts WHERE table = 'events' AND active "
                           "SETTINGS output_format_json_quote_64bit_integers = 0", "JSON").bytes())
    ver = s.query("SELECT version()", "CSV").bytes().decode().strip().strip('"')
    s.close()
    row = r["data"][0]
    return {"seconds": secs, "bytes": int(row["bytes"]), "rows": int(row["rows"]),
            "parts": int(row["parts"]), "version": f"chdb-core {chdb.__version__}, ClickHouse {ver}"}


def _duckdb_query(a: dict):
    import duckdb
    con = duckdb.connect(a["db"], read_only=True)

    def run():
        cur = con.execute(a["sql"])
        cols = [d[0] for d in cur.description]
        return cols, cur.fetchall()
    return run


def _chdb_query(a: dict):
    s = _chdb_session(a["db"])
    sql = a["sql"].rstrip().rstrip(";") + "\nFORMAT JSONCompact SETTINGS output_format_json_quote_64bit_integers = 0"

    def run():
        r = json.loads(s.query(sql).bytes())
        return [m["name"] for m in r["meta"]], r["data"]
    return run


def worker_main(a: dict) -> None:
    eng, act = a["engine"], a["action"]
    if act == "generate":
        out = _generate(a)
    elif act == "load":
        out = {"duckdb": _duckdb_load, "chdb": _chdb_load}[eng](a)
    else:
        run = {"duckdb": _duckdb_query, "chdb": _chdb_query}[eng](a)
        t0 = time.perf_counter()
        cols, rows = run()
        first = time.perf_counter() - t0
        warm = []
        for _ in range(a["repeat"]):
            t0 = time.perf_counter()
            run()
            warm.append(time.perf_counter() - t0)
        out = {"cols": cols, "rows": [list(r) for r in rows], "first_s": first, "warm_s": warm}
    out["vmhwm"] = vmhwm()
    print(json.dumps(out, default=str))


# ------------------------------------------------------------------------ results


def _int(v) -> int:
    return int(round(float(v))) if v is not None else 0


def norm_sql(q: Query, cols: list[str], rows: list[list]) -> dict:
    if q.kind == "goals":
        r = dict(zip(cols, rows[0]))
        goals = {}
        for key, name in GOALS:
            goals[name] = {"conversions": _int(r[f"{key}_conv"]),
                           "sessions": _int(r[f"{key}_sess"]),
                           "visitors": _int(r[f"{key}_vis"])}
        goals["Purchase"]["value_micros"] = _int(r["purchase_value_micros"])
        return {"sessions": _int(r["sessions"]), "visitors": _int(r["visitors"]), "goals": goals}
    if q.kind == "funnel":
        return {"steps": levels_to_steps({int(lv): _int(n) for lv, n in rows})}
    if q.kind == "transitions":
        # The top rows (from, to, count, total), sorted as Cairn sorts; `to` NULL is the exit.
        top = [(("page", f), ("exit", "(exit)") if t is None else ("page", t), _int(n))
               for f, t, n, _ in rows]
        total = _int(rows[0][3]) if rows else 0
        return transitions_doc(top, total)
    if q.kind == "influence":
        return {str(c): {"with": _int(w), "with_converted": _int(wy), "without": _int(wo),
                         "without_converted": _int(woy)} for c, w, wy, wo, woy in rows}
    if q.kind == "experiment":
        out = {str(v): {"units": _int(n), "Add to cart": _int(c), "Purchase": _int(b)}
               for v, n, c, b in rows if v != "(mixed)"}
        return {"variants": out, "mixed": sum(_int(n) for v, n, _, _ in rows if v == "(mixed)")}
    by: dict[str, dict[int, int]] = {}
    for value, lv, n in rows:
        by.setdefault(str(value), {})[int(lv)] = _int(n)
    return {"rows": {v: levels_to_steps(m) for v, m in sorted(by.items())}}


def transitions_doc(top: list[tuple[tuple[str, str], tuple[str, str], int]], total: int) -> dict:
    """The transitions answer compared: the top rows in order (rank, from → to: count),
    the total of pairs, and the rest (total − the top rows: Cairn's `(other)` row)."""
    def node(k: tuple[str, str]) -> str:
        return k[1] if k[0] in ("page", "exit") else f"<{k[0]}> {k[1]}"
    return {"total": total, "other": total - sum(n for _, _, n in top),
            "top": {f"{i + 1:02d} {node(f)} → {node(t)}": n for i, (f, t, n) in enumerate(top)}}


def levels_to_steps(levels: dict[int, int], nsteps: int = 4) -> list[int]:
    return [sum(n for lv, n in levels.items() if lv >= j) for j in range(1, nsteps + 1)]


def norm_cairn(q: Query, res: dict) -> dict:
    if q.kind == "goals":
        totals = {t["unit"]: t["total"] for t in res["totals"]}
        goals = {}
        for g in res["goals"]:
            rates = {r["unit"]: r["rate"]["num"] for r in g["rates"]}
            goals[g["name"]] = {"conversions": g["conversions"], "sessions": rates["session"],
                                "visitors": rates["visitor"]}
            if g["name"] == "Purchase":
                eur = [v for v in g.get("value", []) if v["currency"] == "EUR"]
                goals[g["name"]]["value_micros"] = round(eur[0]["total"] * 1e6) if eur else 0
        return {"sessions": totals["session"], "visitors": totals["visitor"], "goals": goals}
    if q.kind == "funnel":
        return {"steps": [s["count"] for s in res["steps"]]}
    if q.kind == "transitions":
        pairs = res["pairs"]
        top = [((p["from"]["kind"], p["from"]["name"]), (p["to"]["kind"], p["to"]["name"]), p["count"])
               for p in pairs if p["from"]["kind"] != "other"]
        other = sum(p["count"] for p in pairs if p["from"]["kind"] == "other")
        doc = transitions_doc(top, res["occurrences"])
        doc["other"] = other  # Cairn's own (other) row: compared with total − the top rows
        return doc
    if q.kind == "influence":
        return {c["name"]: {"with": c["with"]["den"], "with_converted": c["with"]["num"],
                            "without": c["without"]["den"], "without_converted": c["without"]["num"]}
                for c in res["candidates"]}
    if q.kind == "experiment":
        out = {v["name"]: {"units": v["units"]} for v in res["variants"]}
        for m in res["metrics"]:
            for v in m["variants"]:
                out[v["variant"]][m["goal"]] = v["rate"]["num"]
        return {"variants": out, "mixed": res["mixed"]}
    return {"rows": {r["value"]: r["counts"] for r in sorted(res["breakdown"], key=lambda r: r["value"])}}


def diff(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append(f"{path}/{k}: missing on the left, right has {b[k]!r}")
            elif k not in b:
                out.append(f"{path}/{k}: left has {a[k]!r}, missing on the right")
            else:
                out += diff(a[k], b[k], f"{path}/{k}")
        return out
    return [] if a == b else [f"{path or '/'}: {a!r} != {b!r}"]


# ------------------------------------------------------------------------ cairn


def cairn_warm(cairn_cmd: list[str], repeat: int, what: str):
    """Cairn's warm runs as the peers' are timed: in one process, after a first run in
    it that is not counted (the peers' workers run a query once, then `repeat` times).
    Returns the process and the counted runs' times."""
    p = check(run_measured(cairn_cmd + ["--repeat", str(repeat + 1)], native=True), what)
    _, each = cairn_time(p.err)
    return p, each[1:]


def cairn_time(err: str) -> tuple[float, list[float]]:
    """The times `cairn query --time` prints: (first or median, each run)."""
    m = re.search(r"query took ([0-9.]+) s(?: \(median of \d+ runs: ([^)]*)\))?", err)
    if not m:
        raise SystemExit(f"error: no timing in cairn's output:\n{err[-2000:]}")
    each = [float(x) for x in re.findall(r"([0-9.]+) s", m.group(2))] if m.group(2) else [float(m.group(1))]
    return float(m.group(1)), each


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def cairn_version(binary: Path) -> str:
    commit = git("rev-parse", "--short=12", "HEAD") or "unknown commit"
    dirty = git("status", "--porcelain", "--", "crates", "Cargo.toml", "Cargo.lock")
    built = dt.datetime.fromtimestamp(binary.stat().st_mtime, dt.timezone.utc)
    ver = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{ver or 'cairn'}, commit {commit}"
            + (" with uncommitted changes under crates/" if dirty else "")
            + f", binary built {built:%Y-%m-%d %H:%M} UTC")


# ------------------------------------------------------------------------ data


def generator_fingerprint(cairn: Path, seed: int, days: int) -> str:
    """A hash of the first 3,000 events generated over the same window: a file made by
    another version of the generator is made again, not reused."""
    import hashlib
    out = subprocess.run([str(cairn), "demo", "--generate", "3000", "--seed", str(seed),
                          "--start", GEN_START, "--days", str(days), "--out", "-"],
                         capture_output=True, check=True).stdout
    return hashlib.sha256(out).hexdigest()[:16]


# Disk a run needs per event: the Parquet input (about 11 bytes) and each engine's copy
# (Cairn about 7, its import batches about 8 more until they are merged, DuckDB 20,
# ClickHouse 12 and its parts before OPTIMIZE), with room to spare.
DISK_PER_EVENT = 70


def check_free_disk(out: Path, n: int, parquet: Path, work: Path) -> None:
    """Stops before a run that would fill the disk midway (a 100M run needs about 7 GB),
    counting what the run replaces (its own earlier work directory) and reuses (the
    Parquet file) as available."""
    out.mkdir(parents=True, exist_ok=True)
    need = n * DISK_PER_EVENT
    if parquet.exists():
        need -= parquet.stat().st_size
    held = sum(f.stat().st_size for f in work.rglob("*") if f.is_file()) if work.exists() else 0
    free = shutil.disk_usage(out).free + held
    if free < need:
        raise SystemExit(f"error: a run of {n:,} events needs about {fmt_bytes(need)} free under {out} "
                         f"(the Parquet input and three engines' copies of it); "
                         f"{fmt_bytes(free)} is free. Free some space, or pass --out DIR on a larger disk.")


def make_data(cairn: Path, n: int, seed: int, days: int, parquet: Path) -> dict:
    """The Parquet file of N events generated over `days` days (made once, then reused
    while the generator is the same)."""
    meta_path = parquet.with_suffix(".json")
    fp = generator_fingerprint(cairn, seed, days)
    if parquet.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("generator") == fp and meta.get("days", GEN_DAYS) == days:
            log(f"reusing {parquet}")
            return meta
        log(f"{parquet} was made by another version of the generator: making it again")
    parquet.parent.mkdir(parents=True, exist_ok=True)
    log(f"generating {n:,} events (seed {seed}, {days} days) into {parquet}")
    meta = worker_json(worker({"engine": "duckdb", "action": "generate", "cairn": str(cairn), "n": n,
                               "seed": seed, "days": days, "parquet": str(parquet)}))
    meta.pop("vmhwm", None)
    meta["generator"] = fp
    if meta["events"] != n:
        raise SystemExit(f"error: the generator wrote {meta['events']:,} events, not {n:,}")
    meta_path.write_text(json.dumps(meta, indent=1))
    log(f"  {meta['events']:,} events, {meta['identifies']:,} identify records, "
        f"{meta['parquet_bytes'] / meta['events']:.2f} bytes/event as zstd Parquet "
        f"({meta['generate_s']:.1f} s)")
    return meta


def _generate(a: dict) -> dict:
    """`cairn demo --generate` writes the zstd Parquet file itself, in Cairn's Parquet
    schema (docs/import-formats.md); DuckDB counts what is in it."""
    import duckdb
    cairn, n, seed, days, parquet = a["cairn"], a["n"], a["seed"], a["days"], Path(a["parquet"])
    t0 = time.perf_counter()
    part = parquet.with_name(parquet.stem + ".partial.parquet")
    cmd = [str(cairn), "demo", "--generate", str(n), "--seed", str(seed), "--start", GEN_START,
           "--days", str(days), "--out", str(part)]
    gen = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if gen.returncode != 0:
        part.unlink(missing_ok=True)
        raise SystemExit(f"error: cairn demo --generate failed:\n{gen.stderr.decode()}")
    con = duckdb.connect()
    counts = con.execute(f"SELECT count(*) FILTER (WHERE type = 'event'), "
                         f"count(*) FILTER (WHERE type = 'identify'), "
                         f"count(*) FILTER (WHERE type = 'event' AND site = '{SITE}') "
                         f"FROM read_parquet('{part}')").fetchone()
    con.close()
    part.rename(parquet)
    return {"events": counts[0], "identifies": counts[1], "site_events": counts[2],
            "seed": seed, "days": days, "parquet_bytes": parquet.stat().st_size,
            "generate_s": time.perf_counter() - t0,
            "command": f"cairn demo --generate {n} --seed {seed} --start {GEN_START} "
                       f"--days {days} --out FILE.parquet"}


# ------------------------------------------------------------------------ main run


@dataclass
class Timing:
    first_s: float | None = None
    warm_s: list[float] = field(default_factory=list)
    maxrss: int = 0

    @property
    def median(self) -> float | None:
        return statistics.median(self.warm_s) if self.warm_s else self.first_s


def run_compared(q: Query, win: Window, cairn: Path, store: Path, work: Path, repeat: int,
                 failures: list, tag: str) -> tuple[dict[str, Timing], dict[str, dict]]:
    """Runs query q over the window on the three engines; returns their timings and
    normalised answers, and adds to `failures` where an engine's answer differs from
    Cairn's. `tag` names the query in the failures and the log."""
    timings: dict[str, Timing] = {}
    answers: dict[str, dict] = {}
    spec = cairn_spec(q.spec, win, work)
    # Cairn: the first run in a fresh process, then `--repeat` warm runs in another.
    base = [str(cairn), "--data", str(store), "query", "--spec", str(spec), "--json", "--time"]
    p1 = check(run_measured(base, native=True), f"cairn query {q.spec}")
    first, _ = cairn_time(p1.err)
    t = Timing(first_s=first, maxrss=p1.maxrss)
    answers["cairn"] = norm_cairn(q, json.loads(p1.out))
    if repeat:
        p2, t.warm_s = cairn_warm(base, repeat, f"cairn query {q.spec} --repeat")
        t.maxrss = max(t.maxrss, p2.maxrss)
        if norm_cairn(q, json.loads(p2.out)) != answers["cairn"]:
            failures.append(f"{tag}: cairn's warm answer differs from its first")
    timings["cairn"] = t
    for eng in PEERS:
        db = work / ("duckdb.db" if eng == "duckdb" else "chdb")
        p = worker({"engine": eng, "action": "query", "db": str(db), "sql": sql_text(eng, q, win),
                    "repeat": repeat})
        r = worker_json(p)
        answers[eng] = norm_sql(q, r["cols"], r["rows"])
        timings[eng] = Timing(first_s=r["first_s"], warm_s=r["warm_s"], maxrss=p.maxrss)
    line = "  ".join(f"{e} {timings[e].median:.3f} s" for e in ENGINES)
    bad = False
    for eng in PEERS:
        d = diff(answers["cairn"], answers[eng])
        if d:
            bad = True
            failures.append(f"{tag}: Cairn (left) and {LABEL[eng]} (right) disagree:\n    "
                            + "\n    ".join(d[:40]) + ("\n    …" if len(d) > 40 else ""))
    log(f"{tag}: {line}  {'DIFFERENT' if bad else 'EQUAL'}")
    return timings, answers


@dataclass
class RangeRow:
    query: str
    win: Window
    site_events: int
    timings: dict[str, Timing]


def range_days(days: int) -> list[int]:
    """The ranges of the range-scaling table: RANGE_DAYS shorter than the window, and the
    whole window. None for a window of GEN_DAYS days or fewer."""
    if days <= GEN_DAYS:
        return []
    return [r for r in RANGE_DAYS if r < days] + [days]


def range_scaling(win: Window, cairn: Path, store: Path, work: Path, repeat: int,
                  timings: dict, answers: dict, failures: list) -> list[RangeRow]:
    """The funnel and the goal report over the last 7, 30 and 90 days of the window (and
    the whole window, which is the main table's measurement, not run again), compared
    like the main queries; with the events of the site in each range (counted by DuckDB)."""
    wins = [win.last_days(r) for r in range_days(win.days)]
    count_sql = "SELECT " + ", ".join(
        f"count(*) FILTER (WHERE ts BETWEEN TIMESTAMP '{w.from_ts}' AND TIMESTAMP '{w.to_ts}')"
        for w in wins) + f" FROM events WHERE site = '{SITE}'"
    r = worker_json(worker({"engine": "duckdb", "action": "query", "db": str(work / "duckdb.db"),
                            "sql": count_sql, "repeat": 0}))
    counts = [int(c) for c in r["rows"][0]]
    rows = []
    by_name = {q.name: q for q in QUERIES}
    for name in RANGE_QUERIES:
        q = by_name[name]
        for w, nev in zip(wins, counts):
            if w == win:
                t = timings[name]
            else:
                tag = f"{name} last {w.days}d"
                t, answers[f"{name}@last{w.days}d"] = run_compared(q, w, cairn, store, work, repeat,
                                                                    failures, tag)
            rows.append(RangeRow(name, w, nev, t))
    return rows


def run_bench(opts) -> int:
    n = opts.events
    days = opts.days
    label = data_label(n, days)
    win = gen_window(days)
    out = Path(opts.out).resolve()
    work = out / (f"check-{label}" if opts.check_only else f"run-{label}")
    data_dir = out / "data"
    cairn = Path(opts.cairn_bin).resolve() if opts.cairn_bin else ROOT / "target/release/cairn"
    if not opts.cairn_bin and not opts.no_build:
        log("cargo build --release -p cairn")
        r = subprocess.run(["cargo", "build", "--release", "-p", "cairn"], cwd=ROOT)
        if r.returncode != 0:
            raise SystemExit("error: building cairn failed; fix the build, or pass --no-build "
                             "(uses target/release/cairn as it is) or --cairn-bin PATH")
    if not cairn.exists():
        raise SystemExit(f"error: no cairn binary at {cairn}: build it (cargo build --release -p cairn) "
                         "or pass --cairn-bin")
    repeat = 0 if opts.check_only else opts.repeat
    work.mkdir(parents=True, exist_ok=True)

    days_suffix = "" if days == GEN_DAYS else f"-{days}d"
    parquet = data_dir / f"events-{size_label(n)}-seed{opts.seed}{days_suffix}.parquet"
    check_free_disk(out, n, parquet, work)
    meta = make_data(cairn, n, opts.seed, days, parquet)

    # ---- load
    load: dict[str, dict] = {}
    store = work / "cairn-store"
    if store.exists():
        shutil.rmtree(store)
    log("cairn import")
    p = check(run_measured([str(cairn), "--data", str(store), "import", str(parquet)], native=True), "cairn import")
    stats = json.loads(check(run_measured([str(cairn), "--data", str(store), "stats", "--json"]),
                             "cairn stats").out)
    if stats["events"] != meta["events"]:
        raise SystemExit(f"error: cairn holds {stats['events']:,} events, not {meta['events']:,}")
    load["cairn"] = {"seconds": p.wall_s, "bytes": stats["bytes_on_disk"], "rows": stats["events"],
                     "maxrss": p.maxrss, "detail": (p.out + p.err).strip().splitlines()[-3:],
                     "segments": stats["segments"]}
    for eng in PEERS:
        log(f"{eng} load")
        db = work / ("duckdb.db" if eng == "duckdb" else "chdb")
        p = worker({"engine": eng, "action": "load", "db": str(db), "parquet": str(parquet)})
        load[eng] = worker_json(p) | {"maxrss": p.maxrss}
        if load[eng]["rows"] != meta["events"]:
            raise SystemExit(f"error: {eng} holds {load[eng]['rows']:,} events, not {meta['events']:,}")
    for eng in ENGINES:
        l = load[eng]
        log(f"  {eng}: {l['seconds']:.2f} s, {l['bytes'] / meta['events']:.2f} bytes/event, "
            f"peak RSS {l['maxrss'] / 2**20:.0f} MiB")

    # ---- queries
    # The loads leave hundreds of MB of written pages that the kernel writes back over
    # the next half minute, on the cores the first queries run on: write them now, so
    # that no engine's first run pays for another's load.
    log("sync (the loads' files written back before any query)")
    os.sync()
    log(f"queries over {win.from_date} .. {win.to_date} ({days} days)")
    timings: dict[str, dict[str, Timing]] = {}
    answers: dict[str, dict[str, dict]] = {}
    failures = []
    for q in QUERIES:
        timings[q.name], answers[q.name] = run_compared(q, win, cairn, store, work, repeat,
                                                        failures, q.name)

    for name, _, spec_file in CAIRN_ONLY:
        base = [str(cairn), "--data", str(store), "query", "--spec", str(cairn_spec(spec_file, win, work)),
                "--json", "--time"]
        p1 = check(run_measured(base, native=True), f"cairn query {spec_file}")
        first, _ = cairn_time(p1.err)
        t = Timing(first_s=first, maxrss=p1.maxrss)
        if repeat:
            p2, t.warm_s = cairn_warm(base, repeat, f"cairn query {spec_file} --repeat")
            t.maxrss = max(t.maxrss, p2.maxrss)
        timings[name] = {"cairn": t}
        log(f"{name} (Cairn only): {t.median:.3f} s")

    ranges = range_scaling(win, cairn, store, work, repeat, timings, answers, failures) \
        if range_days(days) else []

    backend = run_clickhouse_backend(cairn, store, work, win, meta, repeat, answers, timings, failures) \
        if opts.backend == "clickhouse" else None

    (work / "answers.json").write_text(json.dumps(answers, indent=1, sort_keys=True))

    http = run_http(opts.http_secs) if opts.http else None

    if failures:
        print("\nThe engines disagree:", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        print(f"(every answer: {work / 'answers.json'})", file=sys.stderr)
    else:
        log(f"every engine gives the same numbers for every query ({len(QUERIES)} queries"
            + (f", and {len(RANGE_QUERIES)} of them over {len(ranges) // len(RANGE_QUERIES)} ranges"
               if ranges else "") + ")")

    if not opts.check_only:
        section = report(opts, label, win, meta, load, timings, answers, http, cairn, failures)
        if ranges:
            section = section.rstrip("\n") + "\n\n" + range_report(ranges)
        if backend:
            section = section.rstrip("\n") + "\n\n" + backend
        results = Path(opts.results).resolve()
        write_results(results, label, section)
        print(section)
        log(f"wrote the {label} section of {results}")
    if (opts.clean or opts.check_only) and not failures:  # keep answers.json to look at
        shutil.rmtree(work, ignore_errors=True)
        if opts.clean or opts.check_only and not opts.keep_data:
            for f in (parquet, parquet.with_suffix(".json")):
                f.unlink(missing_ok=True)
    return 1 if failures else 0


def run_clickhouse_backend(cairn: Path, store: Path, work: Path, win: Window, meta: dict, repeat: int,
                           answers: dict, timings: dict, failures: list) -> str:
    """Cairn's ClickHouse backend on the same events: `cairn migrate --to clickhouse`
    into chDB behind scripts/chfront (ClickHouse's HTTP interface, in Python), then every
    query with `cairn query --clickhouse-url`, its answer compared with the embedded
    store's. Returns the report's section."""
    chdir = work / "chfront"
    shutil.rmtree(chdir, ignore_errors=True)
    front = subprocess.Popen([sys.executable, str(ROOT / "scripts/chfront/chfront.py"), "--port", "0",
                              "--path", str(chdir)], stdout=subprocess.PIPE, text=True)
    try:
        line = front.stdout.readline()
        url = "http://" + line.strip().rsplit(" ", 1)[-1]
        ch = ["--clickhouse-url", url, "--clickhouse-database", "bench"]
        log(f"cairn migrate --to clickhouse ({url}, chDB behind scripts/chfront)")
        p = check(run_measured([str(cairn), "--data", str(store), "migrate", "--to", "clickhouse"] + ch,
                               native=True), "cairn migrate")
        ingest_s = p.wall_s
        rows = []
        for q in QUERIES:
            spec = cairn_spec(q.spec, win, work)
            base = [str(cairn), "--data", str(store), "query", "--spec", str(spec), "--json", "--time"] + ch
            p1 = check(run_measured(base, native=True), f"cairn query {q.spec} (ClickHouse)")
            first, _ = cairn_time(p1.err)
            got = norm_cairn(q, json.loads(p1.out))
            answers[q.name]["cairn_clickhouse"] = got
            d = diff(answers[q.name]["cairn"], got)
            if d:
                failures.append(f"{q.name}: Cairn embedded (left) and Cairn on ClickHouse (right) "
                                "disagree:\n    " + "\n    ".join(d[:40]))
            t = Timing(first_s=first, maxrss=p1.maxrss)
            if repeat:
                _, t.warm_s = cairn_warm(base, repeat, f"cairn query {q.spec} --repeat (ClickHouse)")
            emb = timings[q.name]["cairn"].median
            rows.append((q.name, emb, t.median))
            log(f"{q.name} on ClickHouse: {t.median:.3f} s (embedded {emb:.3f} s)  "
                f"{'EQUAL' if not d else 'DIFFERENT'}")
    finally:
        front.terminate()
        front.wait()
    n = meta["events"]
    L = ["### Cairn on ClickHouse (`--backend clickhouse`)", "",
         "The same events copied with `cairn migrate --to clickhouse` into chDB 26.9 behind "
         "`scripts/chfront` (ClickHouse's HTTP interface written in Python: one request at a "
         "time, whole responses buffered, so these times are an upper bound on a real server's), "
         "then every query with `cairn query --clickhouse-url`: the engine's analyses over "
         "timelines streamed from ClickHouse. Every answer was compared with the embedded "
         "store's" + (": **equal**." if not any("Cairn on ClickHouse" in f for f in failures)
                      else ": **DIFFERENT** (see the run's output)."), "",
         f"- Ingestion into ClickHouse (migrate, checked by counts): {n:,} events in {fmt_s(ingest_s)}, "
         f"at {fmt_rate(n, ingest_s)}.", "",
         "| query | embedded warm | on ClickHouse warm | ClickHouse ÷ embedded |",
         "|---|---|---|---|"]
    for name, emb, chq in rows:
        r = f"{chq / emb:.1f}x" if emb and chq else "—"
        L.append(f"| {name} | {fmt_s(emb)} | {fmt_s(chq)} | {r} |")
    return "\n".join(L) + "\n"


def run_http(secs: int) -> dict:
    """scripts/bench-ingest (the loopback HTTP ingestion benchmark), its JSON lines parsed."""
    log(f"scripts/bench-ingest {secs}")
    p = subprocess.run([str(ROOT / "scripts" / "bench-ingest"), str(secs)], cwd=ROOT,
                       capture_output=True, text=True)
    runs = []
    for line in p.stdout.splitlines():
        try:
            runs.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return {"rc": p.returncode, "runs": runs, "stderr": p.stderr[-1500:] if p.returncode else ""}


# ------------------------------------------------------------------------ report


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, AttributeError):
        pass
    return {"cores": os.cpu_count(), "cpu": model or platform.processor() or "unknown CPU",
            "memory": mem, "os": f"{platform.system()} {platform.release()}"}


def fmt_s(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 1:
        return f"{s * 1000:.0f} ms" if s >= 0.0095 else f"{s * 1000:.1f} ms"
    return f"{s:.2f} s"


def fmt_rate(n: float, s: float | None) -> str:
    if not s:
        return "–"
    r = n / s
    return f"{r / 1e6:.1f}M/s" if r >= 1e6 else f"{r / 1e3:.0f}k/s"


def fmt_bytes(b: int) -> str:
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= div:
            return f"{b / div:.1f} {unit}"
    return f"{b} B"


def ratio(peer: float | None, cairn: float | None) -> str:
    if not peer or not cairn:
        return "–"
    r = peer / cairn
    return f"{r:.1f}x" if r >= 1 else f"{r:.2f}x"


def report(opts, label, win, meta, load, timings, answers, http, cairn_bin, failures) -> str:
    m = machine()
    n = meta["events"]
    size = size_label(opts.events)
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    vers = {"cairn": cairn_version(cairn_bin), "duckdb": f"DuckDB {load['duckdb']['version']}",
            "chdb": load["chdb"]["version"]}
    L = []
    L.append(f"## {size} events" + ("" if win.days == GEN_DAYS else f" over {win.days} days"))
    L.append("")
    L.append(f"Run {today} with `bench/run --events {size}"
             f"{' --days ' + str(win.days) if win.days != GEN_DAYS else ''}"
             f"{' --seed ' + str(opts.seed) if opts.seed != 1 else ''}"
             f" --repeat {opts.repeat}{' --http' if opts.http else ''}"
             f"{' --http-secs ' + str(opts.http_secs) if opts.http and opts.http_secs != 10 else ''}`.")
    L.append("")
    L.append(f"- Machine: {m['cores']} cores, {m['cpu']}, {m['memory']} memory, {m['os']}.")
    L.append(f"- Cairn: {vers['cairn']}.")
    L.append(f"- Peers: {vers['duckdb']}; {vers['chdb']}; Python {platform.python_version()}.")
    L.append(f"- Data: {n:,} events over {win.days} days ({meta['site_events']:,} of them on {SITE}, "
             f"the site every query reads) and {meta['identifies']:,} identify records, from "
             f"`{meta['command']}`; "
             f"one zstd Parquet file, {meta['parquet_bytes'] / n:.2f} bytes/event, loaded into every engine.")
    L.append(f"- Every answer was compared: "
             + ("**all three engines gave the same numbers for every query.**" if not failures
                else "**THE ENGINES DISAGREED** (see the run's output)."))
    L.append("")
    L.append(f"### Queries (range {win.from_date} .. {win.to_date}, UTC: the whole {win.days} days)")
    L.append("")
    L.append(f"Warm: median of {opts.repeat} runs in one process, after a first run in it that is "
             "not counted (every engine). First: the first run in a fresh "
             "process (the files are in the page cache; no engine gets a dropped cache). "
             "Events/s: all events in the store ÷ warm time. Ratio: the peer's warm time ÷ Cairn's "
             "(above 1x Cairn is faster).")
    L.append("")
    L.append("| query | Cairn warm | DuckDB warm | chDB warm | Cairn events/s | Cairn vs DuckDB | "
             "Cairn vs chDB | Cairn first | DuckDB first | chDB first |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for q in QUERIES:
        t = timings[q.name]
        L.append(f"| {q.title} | {fmt_s(t['cairn'].median)} | {fmt_s(t['duckdb'].median)} | "
                 f"{fmt_s(t['chdb'].median)} | {fmt_rate(n, t['cairn'].median)} | "
                 f"{ratio(t['duckdb'].median, t['cairn'].median)} | {ratio(t['chdb'].median, t['cairn'].median)} | "
                 f"{fmt_s(t['cairn'].first_s)} | {fmt_s(t['duckdb'].first_s)} | {fmt_s(t['chdb'].first_s)} |")
    L.append("")
    if CAIRN_ONLY:
        L.append("Analyses with no SQL equivalent in the peers, timed in Cairn only:")
        L.append("")
        L.append("| analysis | Cairn warm | Cairn first | Cairn events/s | peak RSS |")
        L.append("|---|---:|---:|---:|---:|")
        for name, title, _ in CAIRN_ONLY:
            t = timings[name]["cairn"]
            L.append(f"| {title} | {fmt_s(t.median)} | {fmt_s(t.first_s)} | {fmt_rate(n, t.median)} | "
                     f"{fmt_bytes(t.maxrss)} |")
        L.append("")
    L.append("DuckDB and chDB events/s, for comparison: "
             + "; ".join(f"{q.name} {fmt_rate(n, timings[q.name]['duckdb'].median)} / "
                         f"{fmt_rate(n, timings[q.name]['chdb'].median)}" for q in QUERIES) + ".")
    L.append("")
    L.append("### Load, storage and memory")
    L.append("")
    L.append("| engine | load | load events/s | on disk | bytes/event | peak RSS, load | peak RSS, queries |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for eng in ENGINES:
        l = load[eng]
        qrss = max(timings[q.name][eng].maxrss for q in QUERIES)
        L.append(f"| {LABEL[eng]} | {fmt_s(l['seconds'])} | {fmt_rate(n, l['seconds'])} | "
                 f"{fmt_bytes(l['bytes'])} | {l['bytes'] / n:.2f} | {fmt_bytes(l['maxrss'])} | {fmt_bytes(qrss)} |")
    L.append(f"| zstd Parquet (the input) | – | – | {fmt_bytes(meta['parquet_bytes'])} | "
             f"{meta['parquet_bytes'] / n:.2f} | – | – |")
    L.append("")
    L.append("Load: Cairn `cairn import` of the Parquet file into an empty store, to queryable "
             f"({load['cairn']['segments']} segments); DuckDB `CREATE TABLE … AS SELECT … ORDER BY "
             "site, visitor, ts` and `CHECKPOINT`; ClickHouse `INSERT … SELECT` into a MergeTree "
             f"ordered by (site, visitor, ts) and `OPTIMIZE TABLE … FINAL` (parts after it: "
             f"{load['chdb'].get('parts', '?')}). On disk: `cairn stats` (every file of the store), the DuckDB "
             "file, ClickHouse `system.parts.bytes_on_disk`. Peak RSS: the engine's own process "
             "(GNU time's %M for Cairn, VmHWM for the DuckDB and chDB workers); for queries the "
             "largest over the query processes.")
    L.append("")
    if http is not None:
        L.append("### Ingestion over HTTP (`scripts/bench-ingest`)")
        L.append("")
        if http["runs"]:
            L.append("| mode | connections | events/request | requests/s | events/s | p50 | p99 | non-2xx |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
            for r in http["runs"]:
                L.append(f"| {r['mode']} | {r['conns']} | {r['batch']} | {r['requests_per_s']:,.0f} | "
                         f"{r['events_per_s']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {r['non_2xx']} |")
        else:
            L.append(f"scripts/bench-ingest failed (exit code {http['rc']}); nothing measured.")
        L.append("")
    L.append("### Targets (ARCHITECTURE.md)")
    L.append("")
    L.append("| target | measured here | status |")
    L.append("|---|---|---|")
    # The query targets are set at two sizes: 3x at 10M events, 10x at 100M.
    if n >= 100_000_000:
        need, scale_note = 10, ""
    elif n >= 10_000_000:
        need, scale_note = 3, ""
    else:
        need, scale_note = 3, f" (the targets are set at 10M and 100M events; this is {size})"
    at100 = n >= 100_000_000
    mem_note = "" if at100 else f" (the target is set at 100M events; this is {size})"
    for qn, what in (("goals", "goal report"), ("funnel", "4-step funnel"),
                     ("funnel_device", "funnel by device"), ("funnel_campaign", "funnel by utm_campaign"),
                     ("transitions", "page transitions"), ("influence", "micro→purchase lift")):
        t = timings[qn]
        best = min(t["duckdb"].median, t["chdb"].median)
        r = best / t["cairn"].median if t["cairn"].median else 0
        L.append(f"| {what}: ≥{need}x faster than the faster peer at {'100M' if need == 10 else '10M'} "
                 f"events | {r:.1f}x | {'met' if r >= need else 'not met'}{scale_note} |")
    imp = n / load["cairn"]["seconds"]
    imp_rss = load["cairn"]["maxrss"]
    L.append(f"| bulk import to queryable ≥ 1M events/s, under 2 GiB | {imp / 1e6:.2f}M events/s, "
             f"peak {fmt_bytes(imp_rss)} | {'met' if imp >= 1e6 and imp_rss < 2 * 2**30 else 'not met'} |")
    L.append(f"| bulk import to queryable ≥ 3M events/s (aim) | {imp / 1e6:.2f}M events/s | "
             f"{'met' if imp >= 3e6 else 'not met'} |")
    cb = load["cairn"]["bytes"] / n
    peers_b = {"ClickHouse": load["chdb"]["bytes"] / n, "DuckDB": load["duckdb"]["bytes"] / n,
               "zstd Parquet": meta["parquet_bytes"] / n}
    fewest = min(peers_b.values())
    L.append(f"| storage: fewer bytes/event than ClickHouse, DuckDB and zstd Parquet | Cairn {cb:.2f}; "
             + ", ".join(f"{k} {v:.2f}" for k, v in peers_b.items())
             + f" | {'met' if cb < fewest else 'not met'} |")
    L.append(f"| storage: under 5 bytes/event | {cb:.2f} | {'met' if cb < 5 else 'not met'} |")
    qrss = max(timings[q.name]["cairn"].maxrss for q in QUERIES)
    L.append(f"| an analysis stays under 1 GiB resident | {fmt_bytes(qrss)} | "
             f"{'met' if qrss < 2**30 else 'not met'}{mem_note} |")
    # A first query in a fresh process against a warm one (issue 17): the worst query.
    firsts = [(timings[q.name]["cairn"].first_s / timings[q.name]["cairn"].median, q.name)
              for q in QUERIES if timings[q.name]["cairn"].first_s and timings[q.name]["cairn"].median]
    if firsts:
        worst, wq = max(firsts)
        L.append(f"| a first (fresh-process) query within 1.5x of a warm one | worst {worst:.2f}x ({wq}) | "
                 f"{'met' if worst <= 1.5 else 'not met'} |")
    if http is not None and http["runs"]:
        single = max((r["events_per_s"] for r in http["runs"] if r["mode"] == "single"), default=0)
        batch = max((r["events_per_s"] for r in http["runs"] if r["mode"] != "single"), default=0)
        L.append(f"| HTTP ingestion, batches ≥ 100k events/s | {batch:,.0f}/s | {'met' if batch >= 1e5 else 'not met'} |")
        L.append(f"| HTTP ingestion, single events ≥ 20k events/s | {single:,.0f}/s | {'met' if single >= 2e4 else 'not met'} |")
    L.append("")
    return "\n".join(L) + "\n"


def range_report(rows: list[RangeRow]) -> str:
    """The range-scaling table: the same query over the last 7, 30, 90 … days."""
    L = ["### Query time by range (the last 7, 30 and 90 days)", "",
         "The funnel and the goal report over ranges ending at the window's end; every answer "
         "compared as above. Events in range: the site's events in the range (what the query "
         "reads). Events/s: events in range ÷ warm time; a query whose time follows the events "
         "it reads, not the days its range spans, keeps the same events/s in every row. Ratio: "
         "the faster peer's warm time ÷ Cairn's. The whole window's row is the main table's "
         "measurement.", "",
         "| query | range | events in range | Cairn warm | DuckDB warm | chDB warm | Cairn events/s | "
         "DuckDB events/s | chDB events/s | Cairn vs faster peer |",
         "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        t = {e: r.timings[e].median for e in ENGINES}
        peer = min((t[e] for e in PEERS if t[e]), default=None)
        L.append(f"| {r.query} | last {r.win.days} days ({r.win.from_date} .. {r.win.to_date}) | "
                 f"{r.site_events:,} | {fmt_s(t['cairn'])} | {fmt_s(t['duckdb'])} | {fmt_s(t['chdb'])} | "
                 + " | ".join(fmt_rate(r.site_events, t[e]) for e in ENGINES)
                 + f" | {ratio(peer, t['cairn'])} |")
    return "\n".join(L) + "\n"


RESULTS_HEAD = """# Benchmark results

Written by `bench/run --events N [--days D]` (one section per data size and window,
replaced when that size and window are run again). How to run it and how to read the
tables: [docs/bench.md](../docs/bench.md).

"""


def write_results(path: Path, label: str, section: str) -> None:
    text = path.read_text() if path.exists() else RESULTS_HEAD
    start, end = f"<!-- bench:{label}:start -->", f"<!-- bench:{label}:end -->"
    block = f"{start}\n{section}{end}\n"
    if start in text and end in text:
        a, b = text.index(start), text.index(end) + len(end)
        text = text[:a] + block.rstrip("\n") + text[b:]
    else:
        # Keep the sections in order of size, and for one size in order of days
        # ("10M", then "10M-90d"); a section whose label is not understood stays put.
        me = parse_label(label)
        after = [m.start() for m in re.finditer(r"<!-- bench:(\S+):start -->", text)
                 if (k := parse_label(m.group(1))) is not None and k > me]
        ends = [m.end() for m in re.finditer(r"<!-- bench:\S+:end -->", text)]
        if after:
            text = text[:after[0]] + block + "\n" + text[after[0]:]
        elif ends:
            # After the last section, before the notes that follow the sections.
            text = text[:ends[-1]] + "\n\n" + block.rstrip("\n") + text[ends[-1]:]
        else:
            text = text.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "_worker":
        worker_main(json.loads(sys.argv[2]))
        return 0
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=parse_count, default=parse_count("1M"),
                    help="events to generate: 1M, 10M, 100M, 250k, … (default 1M)")
    ap.add_argument("--days", type=int, default=GEN_DAYS,
                    help=f"days of generated traffic from {GEN_START}, the range every query reads "
                         f"(default {GEN_DAYS}); with more than {GEN_DAYS}, the funnel and the goal report "
                         "also run on the last 7, 30 and 90 days")
    ap.add_argument("--seed", type=int, default=1, help="the generator's seed (default 1)")
    ap.add_argument("--repeat", type=int, default=5, help="warm runs per query and engine (default 5)")
    ap.add_argument("--check-only", action="store_true",
                    help="correctness only: load, run each query once per engine, compare; "
                         "no warm runs, nothing written to bench/RESULTS.md, work files removed")
    ap.add_argument("--keep-data", action="store_true", help="with --check-only: keep the generated Parquet")
    ap.add_argument("--http", action="store_true", help="also run scripts/bench-ingest and report it")
    ap.add_argument("--backend", choices=["embedded", "clickhouse"], default="embedded",
                    help="clickhouse: also migrate the events to Cairn's ClickHouse backend (chDB behind "
                         "scripts/chfront) and run every query there, compared with the embedded store")
    ap.add_argument("--http-secs", type=int, default=10, help="seconds per scripts/bench-ingest run (default 10)")
    ap.add_argument("--clean", action="store_true",
                    help="remove the generated data, the stores and the databases afterwards")
    ap.add_argument("--no-build", action="store_true", help="use target/release/cairn as it is")
    ap.add_argument("--cairn-bin", help="the cairn binary to measure (implies --no-build)")
    ap.add_argument("--out", default=str(BENCH / "out"), help="work directory (default bench/out)")
    ap.add_argument("--results", default=str(BENCH / "RESULTS.md"),
                    help="the results file whose section this run replaces (default bench/RESULTS.md)")
    opts = ap.parse_args()
    if opts.repeat < 1:
        ap.error("--repeat must be at least 1")
    if opts.days < 1:
        ap.error("--days must be at least 1")
    return run_bench(opts)


if __name__ == "__main__":
    sys.exit(main())
