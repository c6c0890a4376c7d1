#!/usr/bin/env python3
"""chfront: a small HTTP front over chDB (embedded ClickHouse) that speaks
enough of ClickHouse's HTTP interface for the Rust `clickhouse` crate (0.15.x).

    python chfront.py --port P --path DATA_DIR [--pidfile F] [--user U --password W]

One chDB session, data persisted in DATA_DIR; every chDB call is serialized
with one lock. See README.md beside this file for what is (not) supported.
Pure Python apart from chDB: CityHash128 v1.0.2, LZ4 (block + frame) and
XXH32 are implemented below.
"""

import argparse
import base64
import bz2
import json
import lzma
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# ---------------------------------------------------------------------------
# CityHash128 v1.0.2 (the variant ClickHouse uses for its native compression
# checksums; the crate uses `cityhash-rs`'s `cityhash_102_128`).
# ---------------------------------------------------------------------------

_M64 = 0xFFFFFFFFFFFFFFFF
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F
_K3 = 0xC949D7C7509E6557
_KMUL = 0x9DDFEA08EB382D69
_u64 = struct.Struct("<Q").unpack_from
_u32 = struct.Struct("<I").unpack_from


def _rot64(v, n):
    return ((v >> n) | (v << (64 - n))) & _M64


def _hash16(u, v):
    a = ((v ^ u) * _KMUL) & _M64
    a ^= a >> 47
    b = ((v ^ a) * _KMUL) & _M64
    b ^= b >> 47
    return (b * _KMUL) & _M64


def _hash_len0to16(s, off, n):
    if n > 8:
        a = _u64(s, off)[0]
        b = _u64(s, off + n - 8)[0]
        return b ^ _hash16(a, _rot64((b + n) & _M64, n))
    if n >= 4:
        a = _u32(s, off)[0]
        return _hash16((n + (a << 3)) & _M64, _u32(s, off + n - 4)[0])
    if n > 0:
        a = s[off]
        b = s[off + (n >> 1)]
        c = s[off + n - 1]
        y = (a + (b << 8)) & _M64
        z = (n + (c << 2)) & _M64
        v = ((y * _K2) ^ (z * _K3)) & _M64
        return ((v ^ (v >> 47)) * _K2) & _M64
    return _K2


def _city_murmur(s, off, n, lo, hi):
    a, b = lo, hi
    left = n - 16
    if left <= 0:
        a = (a * _K1) & _M64
        a = ((a ^ (a >> 47)) * _K1) & _M64
        c = (b * _K1 + _hash_len0to16(s, off, n)) & _M64
        t = (a + (_u64(s, off)[0] if n >= 8 else c)) & _M64
        d = t ^ (t >> 47)
    else:
        c = _hash16((_u64(s, off + n - 8)[0] + _K1) & _M64, a)
        d = _hash16((b + n) & _M64, (c + _u64(s, off + n - 16)[0]) & _M64)
        a = (a + d) & _M64
        p = off
        while True:
            t = (_u64(s, p)[0] * _K1) & _M64
            a ^= ((t ^ (t >> 47)) * _K1) & _M64
            a = (a * _K1) & _M64
            b ^= a
            t = (_u64(s, p + 8)[0] * _K1) & _M64
            c ^= ((t ^ (t >> 47)) * _K1) & _M64
            c = (c * _K1) & _M64
            d ^= c
            p += 16
            left -= 16
            if left <= 0:
                break
    a = _hash16(a, c)
    b = _hash16(d, b)
    return a ^ b, _hash16(b, a)


def _weak_hash32(w, x, y, z, a, b):
    a = (a + w) & _M64
    b = _rot64((b + a + z) & _M64, 21)
    c = a
    a = (a + x + y) & _M64
    b = (b + _rot64(a, 44)) & _M64
    return (a + z) & _M64, (b + c) & _M64


def _city128_with_seed(s, off, n, lo, hi):
    if n < 128:
        return _city_murmur(s, off, n, lo, hi)
    M, K1 = _M64, _K1
    x, y = lo, hi
    z = (n * K1) & M
    v0 = (_rot64(y ^ K1, 49) * K1 + _u64(s, off)[0]) & M
    v1 = (_rot64(v0, 42) * K1 + _u64(s, off + 8)[0]) & M
    w0 = (_rot64((y + z) & M, 35) * K1 + x) & M
    w1 = (_rot64((x + _u64(s, off + 88)[0]) & M, 53) * K1) & M
    nblk = n // 128
    words = struct.unpack_from("<%dQ" % (nblk * 16), s, off)
    i = 0
    for _ in range(nblk * 2):  # two 64-byte rounds per 128-byte block
        f0, f1, f2, f3, f4, f5, f6, f7 = words[i:i + 8]
        t = (x + y + v0 + f2) & M
        x = ((((t >> 37) | (t << 27)) & M) * K1) & M
        t = (y + v1 + f6) & M
        y = ((((t >> 42) | (t << 22)) & M) * K1) & M
        x ^= w1
        y ^= v0
        t = z ^ w0
        z = ((t >> 33) | (t << 31)) & M
        a = (v1 * K1 + f0) & M
        t = (x + w0 + a + f3) & M
        b = ((t >> 21) | (t << 43)) & M
        c = a
        a = (a + f1 + f2) & M
        b = (b + (((a >> 44) | (a << 20)) & M)) & M
        nv0 = (a + f3) & M
        nv1 = (b + c) & M
        a = (z + w1 + f4) & M
        t = (y + a + f7) & M
        b = ((t >> 21) | (t << 43)) & M
        c = a
        a = (a + f5 + f6) & M
        b = (b + (((a >> 44) | (a << 20)) & M)) & M
        w0 = (a + f7) & M
        w1 = (b + c) & M
        v0, v1 = nv0, nv1
        z, x = x, z
        i += 8
    off += nblk * 128
    n -= nblk * 128
    y = (y + _rot64(w0, 37) * _K0 + z) & M
    x = (x + _rot64((v0 + z) & M, 49) * _K0) & M
    done = 0
    while done < n:
        done += 32
        y = (_rot64((y - x) & M, 42) * _K0 + v1) & M
        w0 = (w0 + _u64(s, off + n - done + 16)[0]) & M
        x = (_rot64(x, 49) * _K0 + w0) & M
        w0 = (w0 + v0) & M
        p = off + n - done
        v0, v1 = _weak_hash32(_u64(s, p)[0], _u64(s, p + 8)[0], _u64(s, p + 16)[0],
                              _u64(s, p + 24)[0], v0, v1)
    x = _hash16(x, v0)
    y = _hash16(y, w0)
    return (_hash16((x + v1) & M, w1) + y) & M, _hash16((x + w1) & M, (y + v1) & M)


def cityhash128(data):
    """CityHash128 v1.0.2. Returns the pair (first, second) of uint64."""
    s = bytes(data)
    n = len(s)
    if n >= 16:
        return _city128_with_seed(s, 16, n - 16, _u64(s, 0)[0] ^ _K3, _u64(s, 8)[0])
    if n >= 8:
        return _city128_with_seed(b"", 0, 0, _u64(s, 0)[0] ^ ((n * _K0) & _M64),
                                  _u64(s, n - 8)[0] ^ _K1)
    return _city128_with_seed(s, 0, n, _K0, _K1)


def native_checksum(block):
    """The 16 checksum bytes ClickHouse puts before a compressed block."""
    first, second = cityhash128(block)
    return struct.pack("<QQ", first, second)


# ---------------------------------------------------------------------------
# XXH32 (only for LZ4 frame header/block/content checksums)
# ---------------------------------------------------------------------------

_P1, _P2, _P3, _P4, _P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
_M32 = 0xFFFFFFFF


def _rotl32(v, n):
    return ((v << n) | (v >> (32 - n))) & _M32


def xxh32(data, seed=0):
    data = bytes(data)
    n = len(data)
    i = 0
    if n >= 16:
        v1 = (seed + _P1 + _P2) & _M32
        v2 = (seed + _P2) & _M32
        v3 = seed & _M32
        v4 = (seed - _P1) & _M32
        nw = (n // 16) * 4
        w = struct.unpack_from("<%dI" % nw, data, 0)
        for j in range(0, nw, 4):
            t = (v1 + w[j] * _P2) & _M32
            v1 = (((t << 13) | (t >> 19)) & _M32) * _P1 & _M32
            t = (v2 + w[j + 1] * _P2) & _M32
            v2 = (((t << 13) | (t >> 19)) & _M32) * _P1 & _M32
            t = (v3 + w[j + 2] * _P2) & _M32
            v3 = (((t << 13) | (t >> 19)) & _M32) * _P1 & _M32
            t = (v4 + w[j + 3] * _P2) & _M32
            v4 = (((t << 13) | (t >> 19)) & _M32) * _P1 & _M32
        h = (_rotl32(v1, 1) + _rotl32(v2, 7) + _rotl32(v3, 12) + _rotl32(v4, 18)) & _M32
        i = nw * 4
    else:
        h = (seed + _P5) & _M32
    h = (h + n) & _M32
    while i + 4 <= n:
        h = (h + _u32(data, i)[0] * _P3) & _M32
        h = (_rotl32(h, 17) * _P4) & _M32
        i += 4
    while i < n:
        h = (h + data[i] * _P5) & _M32
        h = (_rotl32(h, 11) * _P1) & _M32
        i += 1
    h ^= h >> 15
    h = (h * _P2) & _M32
    h ^= h >> 13
    h = (h * _P3) & _M32
    h ^= h >> 16
    return h


# ---------------------------------------------------------------------------
# LZ4: block decoder, literal-only block encoder, frame decoder/encoder
# ---------------------------------------------------------------------------


class LZ4Error(Exception):
    pass


def lz4_block_decompress(src, out=None, base=None, limit=None):
    """Decode one LZ4 block, appending to bytearray ``out``. Matches may reach
    back to ``out[base:]`` (history of linked blocks); default: this block only."""
    if out is None:
        out = bytearray()
    start = len(out)
    if base is None:
        base = start
    src = memoryview(src)
    n = len(src)
    i = 0
    while True:
        if i >= n:
            raise LZ4Error("truncated LZ4 block")
        token = src[i]
        i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                if i >= n:
                    raise LZ4Error("truncated LZ4 literal length")
                b = src[i]
                i += 1
                lit += b
                if b != 255:
                    break
        if lit:
            if i + lit > n:
                raise LZ4Error("LZ4 literals run past the end of the block")
            out += src[i:i + lit]
            i += lit
        if i >= n:
            break  # the last sequence has literals only
        if i + 2 > n:
            raise LZ4Error("truncated LZ4 match offset")
        off = src[i] | (src[i + 1] << 8)
        i += 2
        ml = token & 15
        if ml == 15:
            while True:
                if i >= n:
                    raise LZ4Error("truncated LZ4 match length")
                b = src[i]
                i += 1
                ml += b
                if b != 255:
                    break
        ml += 4
        olen = len(out)
        if off == 0 or off > olen - base:
            raise LZ4Error("invalid LZ4 match offset")
        pos = olen - off
        if ml <= off:
            out += out[pos:pos + ml]
        else:
            pat = bytes(out[pos:])
            reps, rem = divmod(ml, off)
            out += pat * reps
            if rem:
                out += pat[:rem]
        if limit is not None and len(out) - start > limit:
            raise LZ4Error("LZ4 block decompresses past its declared size")
    return out


def lz4_block_literals(data):
    """A valid LZ4 block holding ``data`` as one literal run (no matches)."""
    n = len(data)
    if n < 15:
        return bytes([n << 4]) + bytes(data)
    rest = n - 15
    return b"\xf0" + b"\xff" * (rest // 255) + bytes([rest % 255]) + bytes(data)


_LZ4F_MAGIC = 0x184D2204


def lz4_frame_decode(buf):
    """Decode concatenated LZ4 frames (lz4 CLI / liblz4 frame format)."""
    buf = bytes(buf)
    out = bytearray()
    p = 0
    n = len(buf)
    while p < n:
        if p + 4 > n:
            raise LZ4Error("truncated LZ4 frame magic")
        magic = _u32(buf, p)[0]
        if 0x184D2A50 <= magic <= 0x184D2A5F:  # skippable frame
            if p + 8 > n:
                raise LZ4Error("truncated skippable frame")
            p += 8 + _u32(buf, p + 4)[0]
            continue
        if magic != _LZ4F_MAGIC:
            raise LZ4Error("not an LZ4 frame (magic %#x)" % magic)
        if p + 7 > n:
            raise LZ4Error("truncated LZ4 frame header")
        hstart = p + 4
        flg, bd = buf[p + 4], buf[p + 5]
        p += 6
        if flg >> 6 != 1 or flg & 0x02 or bd & 0x8F:
            raise LZ4Error("unsupported LZ4 frame descriptor")
        if flg & 0x08:
            p += 8
        if flg & 0x01:
            raise LZ4Error("LZ4 frames with a dictionary are not supported")
        if p >= n or (xxh32(buf[hstart:p]) >> 8) & 0xFF != buf[p]:
            raise LZ4Error("LZ4 frame header checksum mismatch")
        p += 1
        frame_start = len(out)
        independent = bool(flg & 0x20)
        while True:
            if p + 4 > n:
                raise LZ4Error("truncated LZ4 frame")
            word = _u32(buf, p)[0]
            p += 4
            if word == 0:
                break
            size = word & 0x7FFFFFFF
            if p + size > n:
                raise LZ4Error("truncated LZ4 frame block")
            data = buf[p:p + size]
            p += size
            if flg & 0x10:
                if p + 4 > n or xxh32(data) != _u32(buf, p)[0]:
                    raise LZ4Error("LZ4 block checksum mismatch")
                p += 4
            if word & 0x80000000:
                out += data
            else:
                lz4_block_decompress(data, out, None if independent else frame_start)
        if flg & 0x04:
            if p + 4 > n or xxh32(out[frame_start:]) != _u32(buf, p)[0]:
                raise LZ4Error("LZ4 content checksum mismatch")
            p += 4
    return bytes(out)


_LZ4F_HEADER = struct.pack("<I", _LZ4F_MAGIC) + bytes([0x60, 0x40])  # v1, independent, 64 KiB
_LZ4F_HEADER += bytes([(xxh32(_LZ4F_HEADER[4:]) >> 8) & 0xFF])


def lz4_frame_encode(data):
    """An LZ4 frame whose blocks are stored uncompressed (legal and fast)."""
    parts = [_LZ4F_HEADER]
    mv = memoryview(data)
    for i in range(0, len(mv), 65536):
        chunk = mv[i:i + 65536]
        parts.append(struct.pack("<I", len(chunk) | 0x80000000))
        parts.append(chunk)
    parts.append(b"\0\0\0\0")
    return b"".join(parts)


# ---------------------------------------------------------------------------
# ClickHouse native compression framing (compress=1 / decompress=1)
# ---------------------------------------------------------------------------

METHOD_NONE, METHOD_LZ4, METHOD_ZSTD = 0x02, 0x82, 0x90


def native_compress(data, block_size=1 << 20):
    """Frame ``data`` as ClickHouse compressed blocks (LZ4, literal runs)."""
    out = []
    mv = memoryview(data)
    for i in range(0, len(mv), block_size):
        chunk = mv[i:i + block_size]
        payload = lz4_block_literals(chunk)
        block = struct.pack("<BII", METHOD_LZ4, 9 + len(payload), len(chunk)) + payload
        out.append(native_checksum(block))
        out.append(block)
    return b"".join(out)


def native_decompress(buf, verify=True):
    buf = bytes(buf)
    out = bytearray()
    p = 0
    n = len(buf)
    while p < n:
        if p + 25 > n:
            raise CHError(33, "Cannot read all data. Bytes read: %d. Bytes expected: 25" % (n - p))
        method = buf[p + 16]
        csize, usize = struct.unpack_from("<II", buf, p + 17)
        if csize < 9:
            raise CHError(271, "Can't decompress data: compressed block size %d is too small" % csize)
        if csize > 0x40000000 or usize > 0x40000000:
            raise CHError(39, "Too large size_compressed_without_checksum: %d. Most likely corrupted data" % csize)
        end = p + 16 + csize
        if end > n:
            raise CHError(33, "Cannot read all data. Bytes read: %d. Bytes expected: %d" % (n - p - 16, csize))
        block = buf[p + 16:end]
        if verify:
            ref = buf[p:p + 16]
            act = native_checksum(block)
            if ref != act:
                raise CHError(40, "Checksum doesn't match: corrupted data. Reference: %s. Actual: %s. "
                                  "Size of compressed block: %d" % (_ck_hex(ref), _ck_hex(act), csize))
        payload = block[9:]
        if method == METHOD_LZ4:
            before = len(out)
            try:
                lz4_block_decompress(payload, out, limit=usize)
            except LZ4Error as e:
                raise CHError(271, "Cannot decompress LZ4-encoded data: %s" % e)
            if len(out) - before != usize:
                raise CHError(271, "Cannot decompress LZ4-encoded data: got %d bytes, expected %d"
                              % (len(out) - before, usize))
        elif method == METHOD_NONE:
            if len(payload) != usize:
                raise CHError(271, "Cannot decompress: uncompressed block of %d bytes declares %d"
                              % (len(payload), usize))
            out += payload
        elif method == METHOD_ZSTD:
            raise CHError(48, "ZSTD native compression (decompress=1 with Compression::Zstd) "
                              "is not supported by chfront; use LZ4 or no compression")
        else:
            raise CHError(89, "Unknown compression method: %d" % method)
        p = end
    return bytes(out)


def _ck_hex(ck):
    a, b = struct.unpack("<QQ", ck)
    return "(%#018x, %#018x)" % (a, b)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

ERROR_NAMES = {
    6: "CANNOT_PARSE_TEXT", 8: "THERE_IS_NO_COLUMN", 15: "DUPLICATE_COLUMN",
    25: "CANNOT_PARSE_ESCAPE_SEQUENCE", 26: "CANNOT_PARSE_QUOTED_STRING",
    27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED", 33: "CANNOT_READ_ALL_DATA", 36: "BAD_ARGUMENTS",
    37: "UNKNOWN_ELEMENT_IN_AST", 38: "CANNOT_PARSE_DATE", 39: "TOO_LARGE_SIZE_COMPRESSED",
    40: "CHECKSUM_DOESNT_MATCH", 41: "CANNOT_PARSE_DATETIME", 44: "ILLEGAL_COLUMN",
    46: "UNKNOWN_FUNCTION", 47: "UNKNOWN_IDENTIFIER", 48: "NOT_IMPLEMENTED", 49: "LOGICAL_ERROR",
    50: "UNKNOWN_TYPE", 53: "TYPE_MISMATCH", 56: "UNKNOWN_STORAGE", 60: "UNKNOWN_TABLE",
    62: "SYNTAX_ERROR", 63: "UNKNOWN_AGGREGATE_FUNCTION", 72: "CANNOT_PARSE_NUMBER",
    73: "UNKNOWN_FORMAT", 76: "CANNOT_OPEN_FILE", 78: "UNKNOWN_TYPE_OF_QUERY",
    81: "UNKNOWN_DATABASE", 89: "UNKNOWN_COMPRESSION_METHOD", 115: "UNKNOWN_SETTING",
    117: "INCORRECT_DATA", 123: "UNKNOWN_TYPE_OF_AST_NODE", 152: "UNKNOWN_DIRECTION_OF_SORTING",
    159: "TIMEOUT_EXCEEDED", 164: "READONLY", 167: "TOO_DEEP_AST", 168: "TOO_BIG_AST",
    192: "UNKNOWN_USER", 193: "WRONG_PASSWORD", 194: "REQUIRED_PASSWORD", 209: "SOCKET_TIMEOUT",
    223: "UNEXPECTED_AST_STRUCTURE", 229: "QUERY_IS_TOO_LARGE", 246: "CORRUPTED_DATA",
    271: "CANNOT_DECOMPRESS", 321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
    336: "UNKNOWN_DATABASE_ENGINE", 376: "CANNOT_PARSE_UUID", 381: "HTTP_LENGTH_REQUIRED",
    427: "CANNOT_COMPILE_REGEXP", 439: "CANNOT_SCHEDULE_TASK",
    441: "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", 456: "UNKNOWN_QUERY_PARAMETER",
    457: "BAD_QUERY_PARAMETER", 511: "UNKNOWN_ROLE", 512: "SET_NON_GRANTED_ROLE",
    516: "AUTHENTICATION_FAILED", 675: "CANNOT_PARSE_IPV4", 676: "CANNOT_PARSE_IPV6",
    210: "NETWORK_ERROR", 1001: "STD_EXCEPTION", 1002: "UNKNOWN_EXCEPTION",
}

# src/Server/HTTP/exceptionCodeToHTTPStatus.cpp
_STATUS_400 = {36, 427, 6, 25, 26, 38, 41, 72, 441, 675, 676, 27, 376, 15, 44, 37, 123, 8, 167,
               168, 223, 62, 117, 53, 321}
_STATUS_404 = {60, 46, 47, 50, 56, 81, 115, 152, 63, 73, 336, 78, 511}
_STATUS_OTHER = {194: 401, 192: 403, 193: 403, 516: 403, 512: 403, 229: 413, 48: 501, 209: 503,
                 76: 503, 381: 411, 159: 408, 439: 503}


def http_status_for(code):
    if code in _STATUS_400:
        return 400
    if code in _STATUS_404:
        return 404
    return _STATUS_OTHER.get(code, 500)


VERSION = "26.9"  # replaced by the engine's version() at startup


class CHError(Exception):
    """An exception with a ClickHouse error code and its message text."""

    def __init__(self, code, message, text=None):
        super().__init__(message)
        self.code = int(code)
        self.message = message
        self.text = text  # full "Code: N. DB::Exception: ..." text when known

    def render(self):
        if self.text:
            t = self.text.rstrip("\n")
            if "(version " not in t:
                t += " (version %s)" % VERSION
            return t + "\n"
        name = ERROR_NAMES.get(self.code, "UNKNOWN_EXCEPTION")
        msg = self.message.rstrip()
        if not msg.endswith("."):
            msg += "."
        return "Code: %d. DB::Exception: %s (%s) (version %s)\n" % (self.code, msg, name, VERSION)


_CODE_RE = re.compile(r"Code: (\d+)\. ")


def error_from_chdb(exc):
    text = str(exc)
    m = _CODE_RE.search(text)
    if not m:
        return CHError(1002, text or exc.__class__.__name__)
    return CHError(int(m.group(1)), text[m.end():], text[m.start():])


# ---------------------------------------------------------------------------
# The chDB engine: one session, one lock
# ---------------------------------------------------------------------------

# URL parameters that are not settings (HTTPHandler's reserved names and the
# ones it consumes itself). `readonly` is emulated, see Engine.check_readonly.
RESERVED_PARAMS = {
    "query", "database", "default_format", "compress", "decompress", "user", "password",
    "quota_key", "query_id", "stacktrace", "role", "buffer_size", "wait_end_of_query",
    "session_id", "session_timeout", "session_check", "client_protocol_version",
    "close_session", "readonly",
}
_SETTING_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def sql_string(value):
    """A ClickHouse string literal for ``value`` (backslash escaping)."""
    out = value.replace("\\", "\\\\").replace("'", "\\'")
    return "'" + out + "'"


def sql_ident(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


class Engine:
    def __init__(self, path):
        import chdb.session  # imported here so --help works without chDB
        self.lock = threading.Lock()
        self.session = chdb.session.Session(path)
        self.conn = self.session._conn._conn  # the raw _chdb connection object
        self.current_db = None
        self.closed = False
        info = self.conn.query("SELECT version(), timezone()", "TabSeparated").bytes()
        version, tz = info.decode().rstrip("\n").split("\t")
        global VERSION
        VERSION = version
        self.version = version
        self.timezone = tz
        try:
            self.query_class = __import__("chdb._chdb", fromlist=["query_class"]).query_class
        except Exception:  # older chDB without classify_query
            self.query_class = None

    def close(self):
        with self.lock:
            if not self.closed:
                self.closed = True
                self.session.close()

    # --- helpers; all called with self.lock held ---

    def _check_open(self):
        if self.closed:
            raise CHError(210, "chfront is shutting down")

    def _use(self, database):
        if database != self.current_db:
            self.current_db = None
            try:
                self.conn.query("USE " + sql_ident(database), "TabSeparated")
            except RuntimeError as e:
                raise error_from_chdb(e)
            self.current_db = database

    def _set(self, settings):
        if not settings:
            return
        stmt = "SET " + ", ".join("%s = %s" % (n, sql_string(v)) for n, v in settings)
        try:
            self.conn.query(stmt, "TabSeparated")
        except RuntimeError as e:
            self._reset(settings)
            raise error_from_chdb(e)

    def _reset(self, settings):
        if not settings:
            return
        names = list(dict.fromkeys(n for n, _ in settings))
        try:
            self.conn.query("SET " + ", ".join("%s = DEFAULT" % n for n in names), "TabSeparated")
        except RuntimeError:
            for n in names:  # e.g. one name was unknown: reset the others one by one
                try:
                    self.conn.query("SET %s = DEFAULT" % n, "TabSeparated")
                except RuntimeError:
                    pass

    def classify(self, sql):
        if self.query_class is None:
            return None, 1
        try:
            info = self.conn.classify_query(sql)
        except Exception:
            return None, 1
        return info.get("query_class"), info.get("statement_count", 1)

    def is_read_only(self, cls):
        return cls is None or cls in (self.query_class.READ_ONLY, self.query_class.UNKNOWN)

    # --- public operations ---

    def run_query(self, sql, fmt, params, database, settings, mutating):
        with self.lock:
            self._check_open()
            self._use(database)
            self._set(settings)
            try:
                res = self.conn.query(sql, fmt, params=params)
            except RuntimeError as e:
                raise error_from_chdb(e)
            finally:
                self._reset(settings)
                if mutating:
                    self.current_db = None  # the query may have dropped/renamed it
            if res.has_error():
                raise error_from_chdb(RuntimeError(res.error_message()))
            data = res.bytes() or b""
            summary = {
                "read_rows": res.rows_read(), "read_bytes": res.bytes_read(),
                "written_rows": res.rows_written(), "written_bytes": res.bytes_written(),
                "total_rows_to_read": res.rows_read(),
                "result_bytes": len(data),
                "elapsed_ns": int(res.elapsed() * 1e9),
            }
            return data, summary

    def run_insert(self, statement, fmt, data, database, settings):
        with self.lock:
            self._check_open()
            self._use(database)
            self._set(settings)
            try:
                try:
                    ins = self.conn.send_insert(statement, fmt)
                except RuntimeError as e:
                    raise error_from_chdb(e)
                finished = False
                try:
                    mv = memoryview(data)
                    step = 4 << 20
                    for i in range(0, len(mv), step):
                        self.conn.insert_append(ins, bytes(mv[i:i + step]))
                    finished = True  # insert_done consumes the handle even when it fails
                    res = self.conn.insert_done(ins)
                except RuntimeError as e:
                    raise error_from_chdb(e)
                finally:
                    if not finished:
                        try:
                            self.conn.insert_cancel(ins)
                        except Exception:
                            pass
            finally:
                self._reset(settings)
            rows = res.rows_written()
            return {
                "read_rows": rows, "read_bytes": res.bytes_written(),
                "written_rows": rows, "written_bytes": res.bytes_written(),
                "total_rows_to_read": 0, "result_rows": rows, "result_bytes": res.bytes_written(),
                "elapsed_ns": int(res.elapsed() * 1e9),
            }


# ---------------------------------------------------------------------------
# Request parsing helpers
# ---------------------------------------------------------------------------

# INSERT INTO <target> [(cols)] [SETTINGS ...] FORMAT <name><data>
_INSERT_RE = re.compile(
    rb"\A(?P<stmt>\s*(?:(?:--|#)[^\n]*\n\s*|/\*.*?\*/\s*)*INSERT\s+INTO\s+.*?)"
    rb"\bFORMAT\s+(?P<fmt>[A-Za-z_][A-Za-z0-9_]*)",
    re.S | re.I)
_NOT_INLINE_RE = re.compile(r"\b(SELECT|WITH|VALUES)\b", re.I)
_SET_USE_RE = re.compile(r"\A\s*(SET|USE)\b", re.I)
_FORMAT_RE = re.compile(r"\bFORMAT\s+([A-Za-z_][A-Za-z0-9_]*)", re.I)


def split_insert(full):
    """If ``full`` is INSERT ... FORMAT X followed by inline data, return
    (statement, format, data_offset), else None. Data starts after the first
    newline following the format name, or after spaces/tabs (ClickHouse rule)."""
    m = _INSERT_RE.match(full[:1 << 20])
    if not m:
        return None
    stmt = m.group("stmt").decode("utf-8", "replace").strip()
    if _NOT_INLINE_RE.search(_outside_parens(stmt)):
        return None  # INSERT ... SELECT/VALUES: no inline data, run as plain SQL
    p = m.end()
    while p < len(full) and full[p] in b" \t\f":
        p += 1
    if p < len(full) and full[p] == 0x0D:
        p += 1
    if p < len(full) and full[p] == 0x0A:
        p += 1
    return stmt, m.group("fmt").decode(), p


def _strip_strings(sql):
    return re.sub(r"'(?:[^'\\]|\\.)*'", "''", sql)


def _outside_parens(sql):
    s = re.sub(r"`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"", "x", _strip_strings(sql))
    while True:
        t = re.sub(r"\([^()]*\)", " ", s)
        if t == s:
            return s
        s = t


def parse_multipart(body, content_type):
    m = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type)
    if not m:
        raise CHError(36, "multipart/form-data without boundary")
    boundary = (m.group(1) or m.group(2)).encode("latin-1")
    fields = []
    segments = (b"\r\n" + body).split(b"\r\n--" + boundary)
    for seg in segments[1:]:
        if seg.startswith(b"--"):
            break
        if seg.startswith(b"\r\n"):
            seg = seg[2:]
        hend = seg.find(b"\r\n\r\n")
        if hend < 0:
            headers, content = seg.decode("latin-1"), b""
            if headers.endswith("\r\n"):
                headers = headers[:-2]
        else:
            headers, content = seg[:hend].decode("latin-1"), seg[hend + 4:]
        name = filename = None
        for line in headers.split("\r\n"):
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-disposition":
                nm = re.search(r'(?:^|;)\s*name="((?:[^"\\]|\\.)*)"|(?:^|;)\s*name=([^;\s]+)', v)
                if nm:
                    name = nm.group(1) if nm.group(1) is not None else nm.group(2)
                fm = re.search(r';\s*filename="?([^";]*)"?', v)
                if fm:
                    filename = fm.group(1)
        fields.append((name, filename, content))
    return fields


CONTENT_TYPES = [
    ("TabSeparated", "text/tab-separated-values; charset=UTF-8"),
    ("TSV", "text/tab-separated-values; charset=UTF-8"),
    ("CSV", "text/csv; charset=UTF-8; header=absent"),
    ("JSON", "application/json; charset=UTF-8"),
    ("XML", "application/xml; charset=UTF-8"),
    ("Pretty", "text/plain; charset=UTF-8"),
    ("Markdown", "text/markdown; charset=UTF-8"),
]


def content_type_for(fmt):
    for prefix, ct in CONTENT_TYPES:
        if fmt.startswith(prefix):
            if prefix == "CSV" and "WithNames" in fmt:
                return "text/csv; charset=UTF-8; header=present"
            return ct
    if fmt in ("Values", "Vertical", "LineAsString", "Raw", "TSKV"):
        return "text/plain; charset=UTF-8"
    return "application/octet-stream"


def decode_content_encoding(body, encoding):
    enc = encoding.strip().lower()
    if not enc or enc in ("identity", "none"):
        return body
    try:
        if enc in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if enc == "deflate":
            return zlib.decompress(body)
        if enc in ("xz", "lzma"):
            return lzma.decompress(body)
        if enc in ("bz2", "bzip2"):
            return bz2.decompress(body)
        if enc == "lz4":
            return lz4_frame_decode(body)
    except (zlib.error, lzma.LZMAError, OSError, ValueError, LZ4Error) as e:
        raise CHError(271, "Cannot decompress %s-encoded request body: %s" % (enc, e))
    raise CHError(36, "Unknown compression method '%s'. Only 'gzip', 'deflate', 'xz', "
                      "'bz2', 'lz4' and 'none' are supported by chfront" % encoding)


def encode_response(data, accept_encoding, level):
    """Pick an HTTP response compression the way ClickHouse does (first match)."""
    ae = accept_encoding.lower()
    if not ae:
        return data, None
    if "gzip" in ae:
        c = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return c.compress(data) + c.flush(), "gzip"
    if "deflate" in ae:
        return zlib.compress(data, level), "deflate"
    if "xz" in ae:
        return lzma.compress(data), "xz"
    if "lz4" in ae:
        return lz4_frame_encode(data), "lz4"
    if "bz2" in ae:
        return bz2.compress(data), "bz2"
    return data, None


# ---------------------------------------------------------------------------
# HTTP handler
# ---------------------------------------------------------------------------

IDLE_TIMEOUT = 30


class Response:
    def __init__(self, status, body=b"", headers=None):
        self.status = status
        self.body = body
        self.headers = headers or []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chfront"
    sys_version = ""
    timeout = IDLE_TIMEOUT

    def version_string(self):
        return "chfront"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            _log("chfront: %s %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def do_HEAD(self):
        self._serve(head=True)

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("client closed the connection mid-body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(65537)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    break
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    raise ConnectionError("client closed the connection mid-chunk")
                parts.append(chunk)
                self.rfile.readline(65537)  # CRLF after the chunk
            return b"".join(parts), True
        cl = self.headers.get("Content-Length")
        if cl is not None:
            n = int(cl)
            body = self.rfile.read(n) if n else b""
            if len(body) != n:
                raise ConnectionError("client closed the connection mid-body")
            return body, True
        return b"", False

    def _serve(self, head=False):
        started = time.time()
        query_id = None
        try:
            try:
                body, framed = self._read_body()
            except (ValueError, ConnectionError, socket.timeout, OSError):
                self.close_connection = True
                return
            u = urlsplit(self.path)
            params = parse_qsl(u.query, keep_blank_values=True)
            query_id = next((v for k, v in params if k == "query_id"), None) \
                or self.headers.get("X-ClickHouse-Query-Id") or str(uuid.uuid4())
            if self.command == "POST" and not framed:
                raise CHError(381, "The Transfer-Encoding is not chunked and there is no "
                                   "Content-Length header for POST request")
            resp = self._dispatch(u.path, params, body, query_id)
        except CHError as e:
            resp = self._error(e, query_id)
        except Exception as e:  # a bug in chfront: report it ClickHouse-style
            resp = self._error(CHError(1001, "chfront: %s: %s" % (e.__class__.__name__, e)), query_id)
        if self.server.verbose:
            _log("chfront: %s %s -> %d (%.1f ms)\n" % (
                self.command, self.path[:200], resp.status, (time.time() - started) * 1000))
        self._send(resp, head)

    def _error(self, err, query_id):
        headers = [("Content-Type", "text/plain; charset=UTF-8"),
                   ("X-ClickHouse-Exception-Code", str(err.code))]
        if query_id:
            headers.append(("X-ClickHouse-Query-Id", query_id))
        return Response(http_status_for(err.code), err.render().encode("utf-8", "replace"), headers)

    def _send(self, resp, head):
        try:
            self.send_response(resp.status)
            self.send_header("X-ClickHouse-Server-Display-Name", self.server.display_name)
            for k, v in resp.headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(resp.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            else:
                self.send_header("Connection", "Keep-Alive")
                self.send_header("Keep-Alive", "timeout=%d" % IDLE_TIMEOUT)
            self.end_headers()
            if not head and resp.body:
                self.wfile.write(resp.body)
            self.wfile.flush()
        except (ConnectionError, socket.timeout, OSError):
            self.close_connection = True

    # --- the ClickHouse HTTP semantics ---

    def _dispatch(self, path, params, body, query_id):
        hdr = self.headers
        if path in ("/ping", "/replicas_status"):
            return Response(200, b"Ok.\n", [("Content-Type", "text/html; charset=UTF-8")])
        if path not in ("/", ""):
            return Response(404, ("There is no handle %s\n\nUse / or /ping for health checks.\n"
                                  "Send queries with POST or GET /?query=...\n" % path).encode(),
                            [("Content-Type", "text/plain; charset=UTF-8")])
        has_query = any(k == "query" for k, _ in params)
        if self.command in ("GET", "HEAD") and not has_query and not body:
            return Response(200, b"Ok.\n", [("Content-Type", "text/html; charset=UTF-8")])

        self._authenticate(params)

        database = hdr.get("X-ClickHouse-Database") or ""
        default_format = hdr.get("X-ClickHouse-Format") or ""
        settings = []
        qparams = {}
        readonly = 0
        content_type = hdr.get("Content-Type") or ""
        multipart = content_type.lower().startswith("multipart/form-data")
        url_query = None
        decompress = False
        for k, v in params:
            if k == "query":
                if url_query is None:
                    url_query = v
            elif k == "database":
                database = database or v
            elif k == "default_format":
                default_format = default_format or v
            elif k.startswith("param_"):
                qparams.setdefault(k[6:], v)
            elif k == "decompress":
                decompress = v.strip() not in ("", "0", "false")
            elif k == "readonly":
                try:
                    readonly = int(v)
                except ValueError:
                    raise CHError(72, "Cannot parse readonly value '%s'" % v)
            elif k in RESERVED_PARAMS or not k:
                pass
            elif multipart and k.endswith(("_format", "_types", "_structure")):
                pass  # ClickHouse skips these for multipart (external table) requests
            else:
                if not _SETTING_NAME_RE.match(k):
                    raise CHError(115, "Unknown setting '%s'" % k)
                settings.append((k, v))
        if self.command in ("GET", "HEAD") and readonly == 0:
            readonly = 2
        database = database or "default"
        default_format = default_format or "TabSeparated"

        # Assemble the query text (and the inline data of INSERT ... FORMAT).
        body = decode_content_encoding(body, hdr.get("Content-Encoding") or "")
        if multipart:
            pieces = [url_query.encode("utf-8")] if url_query else []
            for name, filename, content in parse_multipart(body, content_type):
                if filename is not None:
                    raise CHError(48, "External tables (multipart file parts) are not supported "
                                      "by chfront")
                if name == "query":
                    pieces.append(content)
                elif name and name.startswith("param_"):
                    qparams.setdefault(name[6:], content.decode("utf-8", "replace"))
            full = b"".join(pieces)
            insert = split_insert(full)
            data_offset = insert[2] if insert else None
            data = full[data_offset:] if insert else b""
        else:
            if decompress:
                skip = dict(settings).get("http_native_compression_disable_checksumming_on_decompress", "0")
                body = native_decompress(body, verify=skip.strip().lower() in ("0", "false", ""))
            uq = url_query.encode("utf-8") if url_query else b""
            insert = split_insert(uq) if uq else None
            if insert and not uq[insert[2]:].strip():
                data = body  # statement in the URL, data in the body
            else:
                full = (uq + b"\n" if uq else b"") + body
                insert = split_insert(full)
                data = full[insert[2]:] if insert else b""
        engine = self.server.engine

        if insert:
            stmt, fmt, _ = insert
            if readonly:
                raise CHError(164, "%s: Cannot execute query in readonly mode" % self._user(params))
            if qparams and "{" in stmt:
                raise CHError(48, "Query parameters in INSERT ... FORMAT statements are not "
                                  "supported by chfront")
            summary = engine.run_insert(stmt, fmt, data, database, settings)
            return self._ok(b"", summary, None, query_id, params)

        sql = full.decode("utf-8", "replace")
        if not _strip_comments(sql).strip(" \t\r\n;"):
            raise CHError(62, "Empty query")
        cls, count = engine.classify(sql)
        if count and count > 1:
            raise CHError(62, "Syntax error (Multi-statements are not allowed)")
        m = _SET_USE_RE.match(_strip_comments(sql))
        if m and cls == getattr(engine.query_class, "CONTROL", cls):
            # Without a session, ClickHouse's HTTP SET/USE only affect that one
            # request; here they would leak into the shared chDB session.
            if m.group(1).upper() == "SET" and readonly == 1:
                raise CHError(164, "Cannot modify settings in readonly mode")
            return self._ok(b"", _empty_summary(), None, query_id, params)
        if readonly and not engine.is_read_only(cls):
            raise CHError(164, "%s: Cannot execute query in readonly mode" % self._user(params))
        fm = None
        for fm in _FORMAT_RE.finditer(_strip_strings(sql)):
            pass
        out_fmt = fm.group(1) if fm else default_format
        mutating = not engine.is_read_only(cls)
        data, summary = engine.run_query(sql, default_format, qparams, database, settings, mutating)
        return self._ok(data, summary, out_fmt, query_id, params)

    def _ok(self, data, summary, fmt, query_id, params):
        headers = [("X-ClickHouse-Query-Id", query_id)]
        if fmt:
            headers.append(("X-ClickHouse-Format", fmt))
            headers.append(("Content-Type", content_type_for(fmt)))
        else:
            headers.append(("Content-Type", "text/plain; charset=UTF-8"))
        headers.append(("X-ClickHouse-Timezone", self.server.engine.timezone))
        headers.append(("X-ClickHouse-Summary",
                        json.dumps({k: str(v) for k, v in summary.items()}, separators=(",", ":"))))
        pv = {k: v for k, v in params}
        if pv.get("compress", "0").strip() not in ("", "0", "false"):
            data = native_compress(data)
        elif pv.get("enable_http_compression", "1").strip() not in ("0", "false") and \
                not self.server.no_http_compression:
            try:
                level = int(pv.get("http_zlib_compression_level", "3"))
            except ValueError:
                level = 3
            data, enc = encode_response(data, self.headers.get("Accept-Encoding") or "",
                                        max(1, min(level, 9)))
            if enc:
                headers.append(("Content-Encoding", enc))
        return Response(200, data, headers)

    def _user(self, params):
        user = self.headers.get("X-ClickHouse-User")
        if not user:
            auth = self.headers.get("Authorization") or ""
            if auth.lower().startswith("basic "):
                try:
                    user = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")[0]
                except Exception:
                    user = None
        if not user:
            user = next((v for k, v in params if k == "user"), None)
        return user or "default"

    def _authenticate(self, params):
        want_user, want_pw = self.server.auth
        if want_user is None:
            return
        user = self.headers.get("X-ClickHouse-User")
        pw = self.headers.get("X-ClickHouse-Key")
        auth = self.headers.get("Authorization") or ""
        if user is None and pw is None and auth.lower().startswith("basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
            except Exception:
                raise CHError(516, "Invalid Basic authorization header")
        if user is None and pw is None:
            pv = {k: v for k, v in params}
            user, pw = pv.get("user"), pv.get("password")
        user = user or "default"
        pw = pw or ""
        if user != want_user or pw != want_pw:
            raise CHError(516, "%s: Authentication failed: password is incorrect, or there is "
                               "no user with such name" % user)


def _log(line):
    try:
        sys.stderr.write(line)
        sys.stderr.flush()
    except Exception:
        pass


def _strip_comments(sql):
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"(?m)(--|#!|# )[^\n]*$", " ", sql)


def _empty_summary():
    return {"read_rows": 0, "read_bytes": 0, "written_rows": 0, "written_bytes": 0,
            "total_rows_to_read": 0, "result_rows": 0, "result_bytes": 0, "elapsed_ns": 0}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main(argv=None):
    ap = argparse.ArgumentParser(description="ClickHouse-HTTP front over chDB")
    ap.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (0: pick one)")
    ap.add_argument("--path", required=True, help="chDB data directory (persistent)")
    ap.add_argument("--pidfile", help="write the process id here once listening")
    ap.add_argument("--user", help="require this user name (default: accept any credentials)")
    ap.add_argument("--password", default="", help="password for --user")
    ap.add_argument("--no-http-compression", action="store_true",
                    help="never compress responses per Accept-Encoding")
    ap.add_argument("--open-timeout", type=float, default=20.0,
                    help="keep retrying to open DATA_DIR this long (a previous instance may "
                         "still hold its lock)")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM; with --tls-key)")
    ap.add_argument("--tls-key", help="the certificate's private key (PEM)")
    args = ap.parse_args(argv)

    os.makedirs(args.path, exist_ok=True)
    deadline = time.time() + args.open_timeout
    while True:
        try:
            engine = Engine(os.path.abspath(args.path))
            break
        except Exception as e:
            if time.time() >= deadline:
                _log("chfront: cannot open chDB at %s: %s\n" % (args.path, e))
                return 1
            time.sleep(0.5)
    try:
        server = Server(("127.0.0.1", args.port), Handler)
    except OSError as e:
        _log("chfront: cannot listen on 127.0.0.1:%d: %s\n" % (args.port, e))
        engine.close()
        return 1
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.engine = engine
    server.verbose = args.verbose
    server.no_http_compression = args.no_http_compression
    server.auth = (args.user, args.password or "")
    server.display_name = socket.gethostname()
    port = server.server_address[1]

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                               name="chfront-accept", daemon=True)
    serving.start()
    print("chfront listening on 127.0.0.1:%d" % port, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        engine.close()  # waits for a running query, then flushes/closes chDB
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
        _log("chfront: stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
