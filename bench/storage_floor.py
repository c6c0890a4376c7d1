"""The information floor of the main columns of a benchmark data set, in bytes/event.

    bench/.venv/bin/python bench/storage_floor.py bench/out/data/events-10M-seed1.parquet

Order-0 entropies (group counts, -sum p log2 p) over the runs the store keeps (one per
site, visitor and UTC week), computed with DuckDB; bench/RESULTS.md sets them against
the store's bytes/event by column (`cargo run --release -p cairn-store --example scan`).
A floor here leaves out what a real coder must also store (the strings themselves, a
model's cost), so it is a lower bound.
"""
import math
import sys

import duckdb


def main() -> None:
    parquet = sys.argv[1]
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE e AS SELECT site, visitor, epoch_ms(ts) AS t, name, path, props "
        f"FROM read_parquet('{parquet}') WHERE coalesce(type, 'event') = 'event'"
    )
    n = con.execute("SELECT count(*) FROM e").fetchone()[0]

    def bits(sql: str) -> float:
        """Total bits of the distribution whose counts `sql` yields."""
        counts = [c for (c,) in con.execute(sql).fetchall()]
        total = sum(counts)
        return -sum(c * math.log2(c / total) for c in counts)

    con.execute(
        "CREATE TABLE d AS SELECT *, t - lag(t) OVER w AS dt, lag(name) OVER w AS pname, "
        "lag(path) OVER w AS ppath, row_number() OVER w AS rn FROM "
        "(SELECT *, date_trunc('week', to_timestamp(t / 1000)) AS wk FROM e) "
        "WINDOW w AS (PARTITION BY site, visitor, wk ORDER BY t)"
    )
    runs = con.execute("SELECT count(*) FROM d WHERE rn = 1").fetchone()[0]
    weeks = con.execute("SELECT count(DISTINCT wk) FROM d").fetchone()[0]
    floors = {
        "timestamps: gaps in a run (exact ms)": bits(
            "SELECT count(*) FROM d WHERE rn > 1 GROUP BY dt"
        ),
        "timestamps: a run's first, uniform over its week": runs
        * math.log2(7 * 86_400_000),
        # log2 C(2^64, k) ~ k (64 - log2 k + log2 e) for each week's k ids.
        "visitor ids: a set of random 64-bit ids a week": runs
        * (64 - math.log2(runs / weeks) + math.log2(math.e)),
        "event name | previous name": bits("SELECT count(*) FROM d GROUP BY pname, name")
        - bits("SELECT count(*) FROM d GROUP BY pname"),
        "path | name, previous path": bits(
            "SELECT count(*) FROM d GROUP BY name, ppath, path"
        )
        - bits("SELECT count(*) FROM d GROUP BY name, ppath"),
        "properties | name (whole strings)": bits(
            "SELECT count(*) FROM d GROUP BY name, props"
        )
        - bits("SELECT count(*) FROM d GROUP BY name"),
    }
    print(f"{n:,} events, {runs:,} runs (site, visitor, week) over {weeks} weeks")
    for k, v in floors.items():
        print(f"  {k:50s} {v / 8 / n:6.3f} bytes/event")
    print(f"  {'sum':50s} {sum(floors.values()) / 8 / n:6.3f} bytes/event")
    sec = bits("SELECT count(*) FROM d WHERE rn > 1 GROUP BY dt // 1000")
    print(f"  (gaps kept to the second instead: {sec / 8 / n:.3f} bytes/event)")


if __name__ == "__main__":
    main()
