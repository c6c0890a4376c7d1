#!/usr/bin/env python3
"""End-to-end test of chfront: starts it on a free port with a temporary data
directory, talks raw HTTP to it (http.client), stops and restarts it.

    bench/.venv/bin/python scripts/chfront/test_chfront.py

Prints 'N passed, M failed' and exits non-zero on failure.
"""

import gzip
import http.client
import json
import os
import random
import shutil
import signal
import socket
import string
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # keep scripts/chfront/ free of __pycache__
import chfront  # noqa: E402  (codec helpers; the server itself runs as a subprocess)

PY = sys.executable


# ---------------------------------------------------------------------------
# Encoders/decoders the tests use (written independently of the server where
# it matters: RowBinary, a real LZ4 compressor with matches, the crate's
# parameter escaping and multipart framing).
# ---------------------------------------------------------------------------

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def rb_string(s):
    b = s.encode() if isinstance(s, str) else s
    return varint(len(b)) + b


def rb_row(id_, name, ts, v):
    return struct.pack("<Q", id_) + rb_string(name) + struct.pack("<I", ts) + struct.pack("<d", v)


COLS = [("id", "UInt64"), ("name", "String"), ("ts", "DateTime"), ("v", "Float64")]


def rbwnat_header(cols):
    return varint(len(cols)) + b"".join(rb_string(n) for n, _ in cols) + \
        b"".join(rb_string(t) for _, t in cols)


class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def eof(self):
        return self.p >= len(self.d)

    def take(self, n):
        if self.p + n > len(self.d):
            raise ValueError("short read")
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def varint(self):
        n = sh = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << sh
            sh += 7
            if b < 0x80:
                return n

    def string(self):
        return self.take(self.varint())


def decode_rows(data, types, with_header=False):
    r = Reader(data)
    if with_header:
        n = r.varint()
        names = [r.string().decode() for _ in range(n)]
        tys = [r.string().decode() for _ in range(n)]
        assert tys == types, (names, tys, types)
    rows = []
    while not r.eof():
        row = []
        for t in types:
            if t == "UInt64":
                row.append(struct.unpack("<Q", r.take(8))[0])
            elif t == "UInt32" or t == "DateTime":
                row.append(struct.unpack("<I", r.take(4))[0])
            elif t == "Float64":
                row.append(struct.unpack("<d", r.take(8))[0])
            elif t == "String":
                row.append(r.string())
            elif t == "UInt8":
                row.append(r.take(1)[0])
            else:
                raise ValueError(t)
        rows.append(tuple(row))
    return rows


def lz4_compress(src):
    """Greedy LZ4 block compressor (emits real matches, incl. overlapping)."""
    n = len(src)
    out = bytearray()
    anchor = i = 0
    table = {}
    limit = n - 12

    def emit(lit, off, ml):
        ll = len(lit)
        tok_l = min(ll, 15)
        tok_m = 0 if ml is None else min(ml - 4, 15)
        out.append((tok_l << 4) | tok_m)
        if ll >= 15:
            r = ll - 15
            out.extend(b"\xff" * (r // 255))
            out.append(r % 255)
        out.extend(lit)
        if ml is not None:
            out.extend(struct.pack("<H", off))
            if ml - 4 >= 15:
                r = ml - 4 - 15
                out.extend(b"\xff" * (r // 255))
                out.append(r % 255)

    while i < limit:
        key = src[i:i + 4]
        cand = table.get(key)
        table[key] = i
        if cand is not None and 0 < i - cand <= 65535:
            ml = 4
            while i + ml < n - 5 and src[cand + ml] == src[i + ml]:
                ml += 1
            emit(src[anchor:i], i - cand, ml)
            i += ml
            anchor = i
        else:
            i += 1
    emit(src[anchor:], None, None)
    return bytes(out)


def native_block_lz4(raw):
    payload = lz4_compress(raw)
    block = struct.pack("<BII", 0x82, 9 + len(payload), len(raw)) + payload
    return chfront.native_checksum(block) + block


def crate_escape(s):
    """clickhouse-rs src/sql/escape.rs::escape (used for String params)."""
    out = []
    for ch in s:
        if ch in "\\'`\t\n":
            out.append("\\")
        out.append(ch)
    return "".join(out)


def crate_multipart(query, params):
    """clickhouse-rs query.rs::multipart_query_body."""
    boundary = "clickhouse-rs-boundary-" + "".join(random.choice(string.ascii_letters) for _ in range(16))
    body = bytearray()
    for name, value in [("query", query)] + [("param_" + k, v) for k, v in params.items()]:
        body += b"--" + boundary.encode() + b"\r\nContent-Disposition: form-data; name=\"" + \
            name.encode() + b"\"\r\n\r\n" + value.encode() + b"\r\n"
    body += b"--" + boundary.encode() + b"--\r\n"
    return bytes(body), "multipart/form-data; boundary=" + boundary


# ---------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------

class Front:
    n = 0

    def __init__(self, path, extra=()):
        self.path = path
        Front.n += 1
        self.pidfile = os.path.join(os.path.dirname(path), "chfront-%d.pid" % Front.n)
        self.proc = subprocess.Popen(
            [PY, os.path.join(HERE, "chfront.py"), "--port", "0", "--path", path,
             "--pidfile", self.pidfile] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("chfront listening on 127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError("chfront did not start: %r %s" % (line, self.proc.stderr.read()))
        self.port = int(line.strip().rsplit(":", 1)[1])
        self._err = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self._err.append(line)

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def request(port, method, target, body=None, headers=None, conn=None, chunks=None):
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    hdrs = dict(headers or {})
    if chunks is not None:
        hdrs["Transfer-Encoding"] = "chunked"
        conn.putrequest(method, target)
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        for c in chunks:
            conn.send(b"%x\r\n" % len(c) + c + b"\r\n")
        conn.send(b"0\r\n\r\n")
    else:
        conn.request(method, target, body=body, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    if own:
        conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def url(params):
    return "/?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def q(port, sql, fmt="TabSeparated", **params):
    p = {"default_format": fmt}
    p.update(params)
    return request(port, "POST", url(p), sql.encode())


def q_ok(port, sql, fmt="TabSeparated", **params):
    st, h, body = q(port, sql, fmt, **params)
    assert st == 200, (st, body)
    return body


PASSED, FAILED = [], []


def check(name):
    def deco(fn):
        def run(*a):
            try:
                fn(*a)
                PASSED.append(name)
                print("ok   %s" % name, flush=True)
            except Exception:
                FAILED.append(name)
                print("FAIL %s\n%s" % (name, traceback.format_exc()), flush=True)
        run.__name__ = fn.__name__
        return run
    return deco


HOSTILE = [
    "plain", "", "it's", "'", "''", "\\", "\\\\", "\\'", "a\\tb", "tab\there", "new\nline",
    "cr\rhere", "nul\x00byte", "'); DROP TABLE events; --", "\"double\"", "`back`tick`",
    "{s:String}", "?", "\\N", "NULL", "é雪🙂", "\u2028\u0085", " leading and trailing ",
    "x" * 3000, "%41%00+&=", "--boundary", "\r\n\r\n",
]


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

@check("codec: CityHash128 v1.0.2 vectors and the crate's LZ4 block vector")
def t_codec():
    vec = [(b"", 4463240938071824939, 4374473821787594281),
           (b"12345678", 2123262123519760883, 8251334461883709976),
           (b"1234567890AbcDEF", 15073733098592741404, 5913034415582713572),
           (b"this is somewhat long string", 2957911805285034456, 6923665615086076251),
           (b"DMqhuXQxgAmJ9EOkT1n2lpzu7YD6zKc6ESSDWfJfohaQDwu0ba61bfGMiuS5GXpr0bIVcCtLwRtIVGmK",
            9681404383092874918, 15631953994107571989)]
    for data, a, b in vec:
        assert chfront.cityhash128(data) == (a, b), data
    # clickhouse-rs src/compression/lz4/mod.rs it_compresses (lz4_flex + cityhash-rs)
    assert chfront.native_decompress(CRATE_BLOCK) == CRATE_SRC
    # xxh32 vectors (twox-hash)
    assert chfront.xxh32(b"") == 0x02CC5D05
    assert chfront.xxh32(bytes([42])) == 0xE0FE705F
    assert chfront.xxh32(b"Hello, world!\0") == 0x9E5E7E93
    assert chfront.xxh32(bytes(range(100))) == 0x7F89BA44
    assert chfront.xxh32(bytes(range(100)), 0x42C91977) == 0x6D2F6C17
    # LZ4 round trips (test's own compressor -> server's decoder)
    rnd = random.Random(7)
    for n in [0, 1, 5, 13, 14, 15, 16, 300, 70000]:
        src = bytes(rnd.choice(b"ab ") for _ in range(n)) + b"aaaaaaaaaaaaaaaaaaaaaaaa" * (n % 3)
        if src:
            assert bytes(chfront.lz4_block_decompress(lz4_compress(src))) == src
            assert bytes(chfront.lz4_block_decompress(chfront.lz4_block_literals(src))) == src
        assert chfront.lz4_frame_decode(chfront.lz4_frame_encode(src)) == src
        assert chfront.native_decompress(chfront.native_compress(src)) == src
    # The crate's LZ4 frame fixtures, when the crate source is around.
    import glob
    fx = glob.glob(os.path.expanduser(
        "~/.cargo/registry/src/*/clickhouse-0.15.3/src/compression/lz4/fixtures/*.lz4"))
    outs = set(chfront.lz4_frame_decode(open(f, "rb").read()) for f in fx)
    assert len(outs) <= 1, "fixtures decode differently"
    # speed: a few MB must take well under a few seconds
    big = (b"%d,some text here;" * 200000) % tuple(range(200000))
    t0 = time.time()
    blocks = b"".join(native_block_lz4(big[i:i + 262144]) for i in range(0, len(big), 262144))
    t1 = time.time()
    assert chfront.native_decompress(blocks) == big
    dt = time.time() - t1
    assert dt < 5, "decompressing %d bytes took %.1fs" % (len(big), dt)
    print("     (%d bytes: test-side compress %.2fs, server-side verify+decompress %.2fs)"
          % (len(big), t1 - t0, dt))


CRATE_SRC = bytes([1, 0, 2, 255, 255, 255, 255, 0, 1, 1, 1, 115, 6, 83, 116, 114, 105, 110,
                   103, 3, 97, 98, 99])
CRATE_BLOCK = bytes([245, 5, 222, 235, 225, 158, 59, 108, 225, 31, 65, 215, 66, 66, 36, 92, 130,
                     34, 0, 0, 0, 23, 0, 0, 0, 240, 8, 1, 0, 2, 255, 255, 255, 255, 0, 1, 1, 1,
                     115, 6, 83, 116, 114, 105, 110, 103, 3, 97, 98, 99])


@check("ping, root, unknown path")
def t_ping(port):
    st, h, b = request(port, "GET", "/ping")
    assert (st, b) == (200, b"Ok.\n"), (st, b)
    st, h, b = request(port, "GET", "/")
    assert (st, b) == (200, b"Ok.\n"), (st, b)
    st, h, b = request(port, "GET", "/nope")
    assert st == 404, st


@check("create MergeTree table; DESCRIBE as the crate's insert metadata query")
def t_create(port):
    q_ok(port, "CREATE TABLE events (id UInt64, name String, ts DateTime, v Float64) "
               "ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 1000")
    q_ok(port, "CREATE TABLE blobs (s String) ENGINE = MergeTree ORDER BY tuple()")
    body = q_ok(port, "DESCRIBE TABLE `events`", "RowBinaryWithNamesAndTypes",
                database="default", describe_include_subcolumns="0")
    r = Reader(body)
    n = r.varint()
    names = [r.string().decode() for _ in range(n)]
    assert names[:2] == ["name", "type"] and n == 7, names
    [r.string() for _ in range(n)]
    cols = []
    while not r.eof():
        row = [r.string().decode() for _ in range(n)]
        cols.append((row[0], row[1]))
    assert cols == COLS, cols


def events_count(port):
    return int(q_ok(port, "SELECT count() FROM events"))


@check("INSERT RowBinary, plain body with Content-Length")
def t_insert_plain(port):
    rows = b"".join(rb_row(i, "n%d" % i, 1700000000 + i, i / 4) for i in range(1, 11))
    st, h, b = request(port, "POST", url({"query": "INSERT INTO events(id, name, ts, v) FORMAT RowBinary"}),
                       rows)
    assert st == 200 and b == b"", (st, b)
    summary = json.loads(h["x-clickhouse-summary"])
    assert summary["written_rows"] == "10", summary
    assert events_count(port) == 10


@check("INSERT RowBinaryWithNamesAndTypes, decompress=1 LZ4 blocks, chunked body (as the crate)")
def t_insert_lz4_chunked(port):
    raw = rbwnat_header(COLS) + b"".join(
        rb_row(i, "lz4 row %d " % i + "aaaa" * (i % 9), 1700000000 + i, -i * 1.5)
        for i in range(100, 2100))
    # The crate compresses each ~256 KiB buffer into one block and sends it as a chunk.
    pieces = [raw[i:i + 20000] for i in range(0, len(raw), 20000)]
    chunks = [native_block_lz4(p) for p in pieces]
    assert sum(len(c) for c in chunks) < len(raw), "test compressor should compress"
    target = url({"database": "default",
                  "query": "INSERT INTO `events`(`id`,`name`,`ts`,`v`) FORMAT RowBinaryWithNamesAndTypes",
                  "decompress": "1"})
    st, h, b = request(port, "POST", target, chunks=chunks,
                       headers={"User-Agent": "clickhouse-rs/0.15.3", "X-ClickHouse-User": "default"})
    assert st == 200, (st, b)
    got = decode_rows(q_ok(port, "SELECT * FROM events WHERE id >= 100 ORDER BY id", "RowBinary"),
                      [t for _, t in COLS])
    assert len(got) == 2000 and got[0] == (100, b"lz4 row 100 " + b"aaaa" * 1, 1700000100, -150.0), got[:2]
    assert got[-1][0] == 2099


@check("decompress=1 with the crate's own LZ4 block (RawBLOB) and a corrupted checksum")
def t_insert_crate_block(port):
    st, h, b = request(port, "POST", url({"query": "INSERT INTO blobs FORMAT RawBLOB", "decompress": "1"}),
                       CRATE_BLOCK)
    assert st == 200, (st, b)
    assert q_ok(port, "SELECT hex(s) FROM blobs").strip() == CRATE_SRC.hex().upper().encode()
    bad = bytearray(CRATE_BLOCK)
    bad[3] ^= 1
    st, h, b = request(port, "POST", url({"query": "INSERT INTO blobs FORMAT RawBLOB", "decompress": "1"}),
                       bytes(bad))
    assert st == 500 and h.get("x-clickhouse-exception-code") == "40", (st, h, b)
    assert b.startswith(b"Code: 40. DB::Exception: Checksum doesn't match"), b
    assert q_ok(port, "SELECT count() FROM blobs").strip() == b"1"


@check("SELECT RowBinary / RowBinaryWithNamesAndTypes, plain and compress=1")
def t_select_rowbinary(port):
    sql = "SELECT id, name, ts, v FROM events WHERE id <= 10 ORDER BY id"
    types = [t for _, t in COLS]
    plain = q_ok(port, sql, "RowBinary")
    rows = decode_rows(plain, types)
    assert rows == [(i, b"n%d" % i, 1700000000 + i, i / 4) for i in range(1, 11)], rows
    st, h, comp = q(port, sql, "RowBinary", compress="1")
    assert st == 200
    # verify framing independently: checksum, method, sizes
    p, out = 0, b""
    while p < len(comp):
        ck, block = comp[p:p + 16], comp[p + 16:]
        method, csz, usz = struct.unpack_from("<BII", block)
        assert method == 0x82
        assert chfront.native_checksum(block[:csz]) == ck
        out += bytes(chfront.lz4_block_decompress(block[9:csz]))
        assert len(out) == usz or p > 0
        p += 16 + csz
    assert out == plain
    body = q_ok(port, sql, "RowBinaryWithNamesAndTypes")
    assert decode_rows(body, types, with_header=True) == rows
    big = q_ok(port, "SELECT number, toString(number) FROM numbers(300000)", "RowBinary")
    st, h, bigc = q(port, "SELECT number, toString(number) FROM numbers(300000)", "RowBinary",
                    compress="1")
    assert chfront.native_decompress(bigc) == big and bigc.count(b"\x82") >= 2


@check("SELECT JSONEachRow / JSON / TSV; compress=1; Accept-Encoding lz4 and gzip")
def t_select_json(port):
    sql = "SELECT id, name FROM events WHERE id <= 3 ORDER BY id FORMAT JSONEachRow"
    body = q_ok(port, sql)
    lines = [json.loads(x) for x in body.decode().splitlines()]
    assert lines == [{"id": i, "name": "n%d" % i} for i in (1, 2, 3)], lines
    st, h, comp = q(port, sql, compress="1")
    assert st == 200 and chfront.native_decompress(comp) == body
    assert h["x-clickhouse-format"] == "JSONEachRow"
    st, h, b = request(port, "POST", url({}), sql.encode(), {"Accept-Encoding": "lz4"})
    assert st == 200 and h.get("content-encoding") == "lz4", h
    assert b[:4] == b"\x04\x22\x4d\x18" and chfront.lz4_frame_decode(b) == body
    st, h, b = request(port, "POST", url({}), sql.encode(), {"Accept-Encoding": "gzip, deflate"})
    assert h.get("content-encoding") == "gzip" and gzip.decompress(b) == body
    st, h, b = request(port, "POST", url({"enable_http_compression": "0"}), sql.encode(),
                       {"Accept-Encoding": "lz4"})
    assert "content-encoding" not in h and b == body
    js = json.loads(q_ok(port, "SELECT count() AS c FROM events", "JSON"))
    assert js["data"] == [{"c": 2010}] and js["meta"][0]["type"] == "UInt64", js
    assert q_ok(port, "SELECT 1, 'a\tb'") == b"1\ta\\tb\n"
    st, h, b = request(port, "GET", url({"query": "SELECT 42"}))
    assert (st, b) == (200, b"42\n") and h["x-clickhouse-format"] == "TabSeparated"


def bind_roundtrip_url(port, value):
    st, h, b = request(port, "POST", url({"default_format": "RowBinary", "param_s": crate_escape(value)}),
                       b"SELECT {s:String}, length({s:String})")
    assert st == 200, (value, st, b)
    return decode_rows(b, ["String", "UInt64"])[0]


def bind_roundtrip_multipart(port, sql, params, fmt="RowBinary"):
    body, ctype = crate_multipart(sql, {k: crate_escape(v) for k, v in params.items()})
    return request(port, "POST", url({"default_format": fmt, "database": "default"}), body,
                   {"Content-Type": ctype, "Accept-Encoding": "lz4"})


@check("query parameters: hostile strings round-trip exactly (URL and multipart)")
def t_params(port):
    for v in HOSTILE:
        got, n = bind_roundtrip_url(port, v)
        assert got == v.encode(), (v, got)
        assert n == len(v.encode())
        st, h, b = bind_roundtrip_multipart(port, "SELECT {s:String}, {n:UInt64}", {"s": v, "n": "7"})
        assert st == 200, (v, st, b)
        b = chfront.lz4_frame_decode(b)
        assert decode_rows(b, ["String", "UInt64"]) == [(v.encode(), 7)], (v, b)
    # store them as data, then find each by a bound parameter
    rows = b"".join(rb_row(10000 + i, v, 0, 0.0) for i, v in enumerate(HOSTILE))
    st, h, b = request(port, "POST", url({"query": "INSERT INTO events FORMAT RowBinary"}), rows)
    assert st == 200, b
    for i, v in enumerate(HOSTILE):
        st, h, b = bind_roundtrip_multipart(port, "SELECT id FROM events WHERE name = {s:String} "
                                                  "AND id >= 10000 ORDER BY id", {"s": v})
        ids = [r[0] for r in decode_rows(chfront.lz4_frame_decode(b), ["UInt64"])]
        assert ids == [10000 + i], (v, ids)
    assert events_count(port) == 2010 + len(HOSTILE)
    # Identifier, Array, Nullable parameters; missing / malformed ones
    st, h, b = bind_roundtrip_multipart(port, "SELECT count() FROM {t:Identifier} WHERE id IN {ids:Array(UInt64)}",
                                        {"t": "events", "ids": "[1,2,3]"}, "TabSeparated")
    assert (st, chfront.lz4_frame_decode(b)) == (200, b"3\n"), (st, b)
    st, h, b = request(port, "POST", url({"param_x": "\\N"}), b"SELECT isNull({x:Nullable(Int32)})")
    assert (st, b) == (200, b"1\n"), (st, b)
    st, h, b = request(port, "POST", url({}), b"SELECT {missing:String}")
    assert st != 200 and h["x-clickhouse-exception-code"] == "456", (st, h, b)
    st, h, b = request(port, "POST", url({"param_n": "12x"}), b"SELECT {n:UInt8}")
    assert st != 200 and h["x-clickhouse-exception-code"] == "457", (st, h, b)
    st, h, b = request(port, "POST", url({"param_s": "raw\ttab"}), b"SELECT {s:String}")
    assert h.get("x-clickhouse-exception-code") == "457", "unescaped tab must be rejected like ClickHouse"
    assert q_ok(port, "EXISTS TABLE events").strip() == b"1"


@check("errors: code header, status and ClickHouse text")
def t_errors(port):
    st, h, b = q(port, "SELECT * FROM no_such_table")
    assert st == 404 and h["x-clickhouse-exception-code"] == "60", (st, h)
    assert b.startswith(b"Code: 60. DB::Exception: ") and b"(UNKNOWN_TABLE)" in b and b"(version " in b, b
    assert b.endswith(b"\n")
    st, h, b = q(port, "SELEC 1")
    assert st == 400 and h["x-clickhouse-exception-code"] == "62", (st, h, b)
    st, h, b = q(port, "SELECT 1; SELECT 2")
    assert st == 400 and h["x-clickhouse-exception-code"] == "62", (st, b)
    st, h, b = q(port, "")
    assert st == 400 and b"Empty query" in b, (st, b)
    st, h, b = q(port, "SELECT 1", no_such_setting_xyz="1")
    assert st == 404 and h["x-clickhouse-exception-code"] == "115", (st, b)
    st, h, b = request(port, "POST", url({"query": "INSERT INTO events FORMAT RowBinary"}), b"\x01\x02")
    assert st != 200 and h["x-clickhouse-exception-code"] == "33", (st, h, b)
    st, h, b = q(port, "SELECT throwIf(1, 'boom')")
    assert st == 500 and h["x-clickhouse-exception-code"] == "395" and b"boom" in b, (st, b)
    st, h, b = q(port, "SELECT 1", database="no_such_db")
    assert st == 404 and h["x-clickhouse-exception-code"] == "81", (st, b)
    # readonly: GET and readonly=1 refuse writes
    st, h, b = request(port, "GET", url({"query": "INSERT INTO blobs VALUES ('x')"}))
    assert h.get("x-clickhouse-exception-code") == "164", (st, b)
    st, h, b = request(port, "POST", url({"query": "INSERT INTO blobs FORMAT RawBLOB", "readonly": "1"}), b"x")
    assert h.get("x-clickhouse-exception-code") == "164", (st, b)
    st, h, b = q(port, "SELECT 1", readonly="1")
    assert st == 200
    assert q_ok(port, "SELECT count() FROM blobs").strip() == b"1"
    # POST without Content-Length or chunking -> 411
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    resp = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        resp += d
    s.close()
    assert resp.startswith(b"HTTP/1.1 411") and b"X-ClickHouse-Exception-Code: 381" in resp, resp[:200]


@check("settings from URL params apply to that query only (SET + reset)")
def t_settings(port):
    assert q_ok(port, "SELECT getSetting('max_block_size')", max_block_size="1234") == b"1234\n"
    default = q_ok(port, "SELECT getSetting('max_block_size')")
    assert default != b"1234\n", default
    assert q_ok(port, "SELECT number FROM numbers(10)", max_result_rows="3",
                result_overflow_mode="break", max_block_size="1").count(b"\n") <= 4
    assert q_ok(port, "SELECT toUInt64(1) FORMAT JSONEachRow",
                output_format_json_quote_64bit_integers="1") == b'{"toUInt64(1)":"1"}\n'
    assert q_ok(port, "SELECT getSetting('log_comment')", log_comment="it's \\ 'odd'") == \
        b"it\\'s \\\\ \\'odd\\'\n"
    assert q_ok(port, "SELECT getSetting('log_comment')") == b"\n"
    # ignored reserved params
    assert q_ok(port, "SELECT 1", query_id="qid-1", session_id="s", compress="0", user="default",
                password="", wait_end_of_query="1", role="r", buffer_size="10") == b"1\n"
    st, h, b = q(port, "SELECT 2", query_id="my-query-id")
    assert h["x-clickhouse-query-id"] == "my-query-id"
    # settings also apply to INSERT ... FORMAT (parsing of the inline data)
    q_ok(port, "CREATE TABLE dt (t DateTime) ENGINE = MergeTree ORDER BY t")
    ins = url({"query": "INSERT INTO dt FORMAT JSONEachRow", "date_time_input_format": "basic"})
    st, h, b = request(port, "POST", ins, b'{"t":"2024-01-02T03:04:05Z"}\n')
    assert st != 200, "date_time_input_format=basic must reject an ISO 8601 value"
    ins = url({"query": "INSERT INTO dt FORMAT JSONEachRow", "date_time_input_format": "best_effort"})
    st, h, b = request(port, "POST", ins, b'{"t":"2024-01-02T03:04:05Z"}\n')
    assert st == 200, b
    assert q_ok(port, "SELECT toUnixTimestamp(t) FROM dt") == b"1704164645\n"
    # standalone SET does not leak into the shared session
    assert q_ok(port, "SET max_block_size = 77") == b""
    assert q_ok(port, "SELECT getSetting('max_block_size')") == default


@check("database param and X-ClickHouse-Database header")
def t_database(port):
    q_ok(port, "CREATE DATABASE IF NOT EXISTS db2")
    q_ok(port, "CREATE TABLE t2 (a UInt8) ENGINE = MergeTree ORDER BY a", database="db2")
    st, h, b = request(port, "POST", url({"query": "INSERT INTO t2 FORMAT RowBinary", "database": "db2"}),
                       b"\x05\x06")
    assert st == 200, b
    assert q_ok(port, "SELECT sum(a) FROM t2", database="db2") == b"11\n"
    st, h, b = request(port, "POST", url({}), b"SELECT currentDatabase()", {"X-ClickHouse-Database": "db2"})
    assert b == b"db2\n", b
    assert q_ok(port, "SELECT currentDatabase()") == b"default\n"
    assert q_ok(port, "USE db2") == b""
    assert q_ok(port, "SELECT currentDatabase()") == b"default\n"


@check("insert_deduplication_token: same token stored once, different token twice")
def t_dedup(port):
    q_ok(port, "CREATE TABLE dedup (id UInt64, s String) ENGINE = MergeTree ORDER BY id "
               "SETTINGS non_replicated_deduplication_window = 1000")
    block = b"".join(struct.pack("<Q", i) + rb_string("d%d" % i) for i in range(5))

    def ins(token, compressed=False):
        p = {"query": "INSERT INTO dedup(id, s) FORMAT RowBinary"}
        if token is not None:
            p["insert_deduplication_token"] = token
        body = block
        if compressed:
            p["decompress"] = "1"
            body = native_block_lz4(block)
        st, h, b = request(port, "POST", url(p), chunks=[body])
        assert st == 200, b

    def count():
        return int(q_ok(port, "SELECT count() FROM dedup"))

    ins("tok-1")
    assert count() == 5
    ins("tok-1")
    assert count() == 5, "same token must deduplicate"
    ins("tok-1", compressed=True)
    assert count() == 5, "same token, compressed body must deduplicate"
    ins("tok-2")
    assert count() == 10, "different token must be stored"
    ins("tok-3", compressed=True)
    assert count() == 15
    # the token must not stick to the session
    assert q_ok(port, "SELECT getSetting('insert_deduplication_token')") == b"\n"


@check("keep-alive: many requests (ok, error, chunked insert) on one connection")
def t_keepalive(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.connect()
    sock = conn.sock
    for i in range(5):
        st, h, b = request(port, "POST", url({}), b"SELECT %d" % i, conn=conn)
        assert (st, b) == (200, b"%d\n" % i)
        st, h, b = request(port, "POST", url({}), b"SELECT * FROM nope", conn=conn)
        assert st == 404
        st, h, b = request(port, "POST", url({"query": "INSERT INTO blobs FORMAT RawBLOB"}),
                           conn=conn, chunks=[b"ka", b"-%d" % i])
        assert st == 200, b
        st, h, b = request(port, "GET", "/ping", conn=conn)
        assert b == b"Ok.\n"
    assert conn.sock is sock, "connection was not kept alive"
    conn.close()
    assert q_ok(port, "SELECT count() FROM blobs WHERE startsWith(s, 'ka-')") == b"5\n"


@check("an aborted chunked insert (client drops mid-body) stores nothing")
def t_aborted_insert(port):
    before = int(q_ok(port, "SELECT count() FROM blobs"))
    s = socket.create_connection(("127.0.0.1", port))
    target = url({"query": "INSERT INTO blobs FORMAT RawBLOB"})
    s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % target).encode())
    s.sendall(b"5\r\nhello\r\n6\r\nwor")
    time.sleep(0.2)
    s.close()
    time.sleep(0.3)
    assert int(q_ok(port, "SELECT count() FROM blobs")) == before
    assert q_ok(port, "SELECT 1") == b"1\n"


@check("two concurrent clients")
def t_concurrent(port):
    q_ok(port, "CREATE TABLE conc (c UInt8, i UInt32) ENGINE = MergeTree ORDER BY (c, i)")
    errors = []

    def client(cid):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for i in range(25):
                st, h, b = request(port, "POST", url({"query": "INSERT INTO conc FORMAT RowBinary",
                                                      "insert_deduplication_token": "%d-%d" % (cid, i)}),
                                   conn=conn, chunks=[bytes([cid]) + struct.pack("<I", i)])
                assert st == 200, b
                st, h, b = request(port, "POST", url({"param_c": str(cid)}),
                                   b"SELECT count() FROM conc WHERE c = {c:UInt8}", conn=conn)
                assert st == 200 and int(b) == i + 1, (cid, i, b)
            conn.close()
        except Exception as e:
            errors.append(repr(e))

    ts = [threading.Thread(target=client, args=(c,)) for c in (1, 2)]
    [t.start() for t in ts]
    [t.join(120) for t in ts]
    assert not errors, errors
    assert q_ok(port, "SELECT c, count() FROM conc GROUP BY c ORDER BY c") == b"1\t25\n2\t25\n"


def run_restart_tests(front, datadir):
    before = events_count(front.port)

    @check("SIGTERM stops cleanly (exit 0, pidfile removed); restart keeps the data; "
           "SIGKILL + restart too; --user/--password")
    def t_restart():
        assert os.path.exists(front.pidfile)
        front.proc.send_signal(signal.SIGTERM)
        # start the next one right away: it waits for the old one's lock on DATA_DIR
        f2 = Front(datadir)
        # Wait, not signal again: a second SIGTERM that lands while the first one's
        # clean exit is already in the interpreter's shutdown (handlers reset) kills it
        # with -15 (seen once in CI on a busy machine).
        try:
            rc = front.proc.wait(20)
        except subprocess.TimeoutExpired:
            front.proc.kill()
            raise
        assert rc == 0, rc
        assert not os.path.exists(front.pidfile)
        assert os.path.exists(f2.pidfile)
        try:
            assert events_count(f2.port) == before
            assert q_ok(f2.port, "SELECT count() FROM dedup") == b"15\n"
            assert q_ok(f2.port, "SELECT sum(a) FROM t2", database="db2") == b"11\n"
            # write after restart, then kill -9 and restart again: data survives
            st, h, b = request(f2.port, "POST", url({"query": "INSERT INTO events FORMAT RowBinary"}),
                               rb_row(99999, "after restart", 0, 1.0))
            assert st == 200, b
            f2.stop(signal.SIGKILL)
        except Exception:
            f2.stop(signal.SIGKILL)
            raise
        f3 = Front(datadir, ["--user", "u1", "--password", "p'w"])
        try:
            st, h, b = q(f3.port, "SELECT 1")
            assert st == 403 and h["x-clickhouse-exception-code"] == "516", (st, b)
            st, h, b = request(f3.port, "POST", url({}), b"SELECT count() FROM events",
                               {"X-ClickHouse-User": "u1", "X-ClickHouse-Key": "p'w"})
            assert st == 200 and int(b) == before + 1, (st, b)
            import base64
            st, h, b = request(f3.port, "POST", url({}), b"SELECT 1",
                               {"Authorization": "Basic " + base64.b64encode(b"u1:p'w").decode()})
            assert st == 200, b
        finally:
            assert f3.stop(signal.SIGINT) == 0

    t_restart()


def main():
    tmp = tempfile.mkdtemp(prefix="chfront-test-")
    datadir = os.path.join(tmp, "data")
    front = None
    try:
        t_codec()
        front = Front(datadir)
        port = front.port
        for t in (t_ping, t_create, t_insert_plain, t_insert_lz4_chunked, t_insert_crate_block,
                  t_select_rowbinary, t_select_json, t_params, t_errors, t_settings, t_database,
                  t_dedup, t_keepalive, t_aborted_insert, t_concurrent):
            t(port)
        run_restart_tests(front, datadir)
    finally:
        if front and front.proc.poll() is None:
            front.stop(signal.SIGKILL)
        if FAILED and front:
            sys.stderr.write("chfront stderr:\n" + "".join(front._err[-50:]))
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (len(PASSED), len(FAILED)))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
