"""Dimension columns as stored against two run-length codings, in bytes/event.

    python3 -m venv /tmp/zv && /tmp/zv/bin/pip install duckdb numpy zstandard
    /tmp/zv/bin/python bench/storage_dims.py bench/out/data/events-10M-seed1.parquet

Per weekly partition (sorted by site, visitor, time) and per 65,536-row block, each
dimension's partition-local ids (0: empty) are coded three ways and compressed with
zstd level 9: fixed width (as the store keeps a column that is not constant per run),
runs of equal values (length varint, then the ids), and a bitmap of the rows where the
value changes or a visitor run starts, then the ids at them. bench/RESULTS.md ("Tried
on 6 December") has the figures. zstandard is not in bench/requirements.txt: this is a
one-off measurement, not part of the benchmark.
"""
import sys

import duckdb
import numpy as np
import zstandard

COLUMNS = ["channel", "source", "referrer", "query", "screen", "utm_content", "utm_campaign",
           "utm_source", "utm_medium", "country", "language", "os", "browser", "device",
           "utm_term", "path", "name"]
BLOCK = 65_536
ZSTD = zstandard.ZstdCompressor(level=9)


def varint(x: int, out: bytearray) -> None:
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)


def packed(zstd_input: bytes) -> int:
    """Compressed size, or raw when that is smaller (as the store writes chunks)."""
    return min(len(ZSTD.compress(zstd_input)), len(zstd_input))


def local_ids(values: np.ndarray) -> np.ndarray:
    """Ids of a partition's dictionary, 0 for the empty value."""
    values = np.where(values == None, "", values).astype(str)  # noqa: E711 (numpy)
    uniq, ids = np.unique(values, return_inverse=True)
    ids = ids.astype(np.int64)
    if "" not in uniq:
        return ids + 1
    # The empty value's index becomes 0, the ones before it move up by one.
    empty = np.searchsorted(uniq, "")
    return np.where(ids == empty, 0, np.where(ids < empty, ids + 1, ids))


def block_sizes(ids: np.ndarray, run_start: np.ndarray, dtype) -> tuple[int, int, int]:
    """(fixed width, runs of equal values, change bitmap) compressed sizes of one block."""
    fixed = packed(ids.astype(dtype).tobytes())
    change = np.ones(len(ids), bool)
    change[1:] = ids[1:] != ids[:-1]
    starts = np.flatnonzero(change)
    rle = bytearray()
    for length in np.diff(np.append(starts, len(ids))):
        varint(int(length), rle)
    rle += ids[starts].astype(dtype).tobytes()
    marks = change | run_start
    bitmap = np.packbits(marks).tobytes() + ids[marks].astype(dtype).tobytes()
    return fixed, packed(bytes(rle)), len(ZSTD.compress(bitmap))


def main() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE e AS SELECT site, hash(visitor) AS v, epoch_ms(ts) AS t, "
        "(epoch_ms(ts) // 86400000 - 4) // 7 AS week, " + ", ".join(COLUMNS) +
        f" FROM read_parquet('{sys.argv[1]}') WHERE coalesce(type, 'event') = 'event'")
    n = con.execute("SELECT count(*) FROM e").fetchone()[0]
    weeks = [w for (w,) in con.execute("SELECT DISTINCT week FROM e ORDER BY 1").fetchall()]
    total = {c: [0, 0, 0] for c in COLUMNS}
    for week in weeks:
        df = con.execute(f"SELECT site, v, {', '.join(COLUMNS)} FROM e WHERE week = {week} "
                         "ORDER BY site, v, t").fetchnumpy()
        key = np.char.add(df["site"].astype(str), df["v"].astype(str))
        run_start = np.ones(len(key), bool)
        run_start[1:] = key[1:] != key[:-1]
        for c in COLUMNS:
            ids = local_ids(df[c].astype(object))
            top = int(ids.max())
            dtype = np.uint8 if top < 256 else np.uint16 if top < 65_536 else np.uint32
            for s in range(0, len(ids), BLOCK):
                sizes = block_sizes(ids[s:s + BLOCK], run_start[s:s + BLOCK], dtype)
                total[c] = [a + b for a, b in zip(total[c], sizes)]
    for c in COLUMNS:
        fixed, rle, bitmap = (x / n for x in total[c])
        print(f"{c:14} fixed {fixed:.3f}  runs {rle:.3f}  change bitmap {bitmap:.3f}")
    print(f"all: fixed {sum(t[0] for t in total.values()) / n:.3f}, "
          f"best of each {sum(min(t) for t in total.values()) / n:.3f}")


if __name__ == "__main__":
    main()
