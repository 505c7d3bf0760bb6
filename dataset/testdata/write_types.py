"""Writes Parquet files with pyarrow covering every type and codec that
package dataset reads, plus the expected values as JSON.

usage: write_types.py OUTDIR

OUTDIR/manifest.json lists the files and the options each was written with;
OUTDIR/expected.json holds, per column, the values in a canonical form:
integers (also dates as days, timestamps in their unit, INT96 as ns),
floats, strings, binary as hex, decimals as float(Decimal), lists as lists,
null as null.
"""
import datetime
import decimal
import json
import os
import random
import sys

import pyarrow as pa
import pyarrow.parquet as pq

N = 3000
rng = random.Random(20261122)


def maybe_null(v, p=0.1):
    return None if rng.random() < p else v


def column(gen, p=0.1):
    return [maybe_null(gen(i), p) for i in range(N)]


words = ["fr", "de", "us", "", "日本", "naïve", "a" * 40, "x'y"]
cols = {
    "b": (pa.bool_(), column(lambda i: rng.random() < 0.5)),
    "i8": (pa.int8(), column(lambda i: rng.randint(-128, 127))),
    "i16": (pa.int16(), column(lambda i: rng.randint(-32768, 32767))),
    "i32": (pa.int32(), column(lambda i: rng.randint(-2**31, 2**31 - 1))),
    "i64": (pa.int64(), column(lambda i: rng.randint(-2**63, 2**63 - 1))),
    "u8": (pa.uint8(), column(lambda i: rng.randint(0, 255))),
    "u16": (pa.uint16(), column(lambda i: rng.randint(0, 65535))),
    "u32": (pa.uint32(), column(lambda i: rng.randint(0, 2**32 - 1))),
    "u64": (pa.uint64(), column(lambda i: rng.randint(0, 2**64 - 1))),
    "f32": (pa.float32(), column(lambda i: rng.uniform(-1e6, 1e6))),
    "f64": (pa.float64(), column(lambda i: rng.uniform(-1e300, 1e300))),
    "s": (pa.string(), column(lambda i: rng.choice(words) + str(i % 7))),
    "bin": (pa.binary(), column(lambda i: bytes(rng.randint(0, 255) for _ in range(i % 5)))),
    "fsb": (pa.binary(3), column(lambda i: bytes(rng.randint(0, 255) for _ in range(3)))),
    "d": (pa.date32(), column(lambda i: datetime.date(1960, 1, 1) + datetime.timedelta(days=rng.randint(0, 40000)))),
    "ts_ms": (pa.timestamp("ms"), column(lambda i: rng.randint(-2**40, 2**40))),
    "ts_us": (pa.timestamp("us"), column(lambda i: rng.randint(-2**50, 2**50))),
    "ts_ns": (pa.timestamp("ns"), column(lambda i: rng.randint(-2**62, 2**62))),
    "ts_utc": (pa.timestamp("us", tz="UTC"), column(lambda i: rng.randint(0, 2**50))),
    "dec": (pa.decimal128(9, 3), column(lambda i: decimal.Decimal(rng.randint(-10**9 + 1, 10**9 - 1)).scaleb(-3))),
    "dec_big": (pa.decimal128(30, 5), column(lambda i: decimal.Decimal(rng.randint(-10**29, 10**29)).scaleb(-5))),
    "req": (pa.int64(), list(range(N))),
    "lst": (pa.list_(pa.int64()), column(lambda i: [maybe_null(rng.randint(-5, 5), 0.2) for _ in range(i % 4)])),
    "lst_s": (pa.list_(pa.string()), column(lambda i: [rng.choice(words) for _ in range(i % 3)])),
}

fields = [pa.field(k, t, nullable=(k != "req")) for k, (t, _) in cols.items()]
table = pa.table({k: pa.array(v, type=t) for k, (t, v) in cols.items()}, schema=pa.schema(fields))


def canon(t, v):
    if v is None:
        return None
    if pa.types.is_list(t):
        return [canon(t.value_type, x) for x in v]
    if pa.types.is_date32(t):
        return (v - datetime.date(1970, 1, 1)).days
    if pa.types.is_decimal(t):
        return float(v)
    if pa.types.is_binary(t) or pa.types.is_fixed_size_binary(t):
        return v.hex()
    return v


expected = {}
for k, (t, v) in cols.items():
    expected[k] = [canon(t, x) for x in v]

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
files = []
for codec in ["NONE", "SNAPPY", "GZIP", "ZSTD", "LZ4"]:
    for dictionary in [True, False]:
        for version in ["1.0", "2.0"]:
            name = f"{codec.lower()}-{'dict' if dictionary else 'plain'}-v{version[0]}.parquet"
            pq.write_table(table, os.path.join(out, name), compression=codec,
                           use_dictionary=dictionary, data_page_version=version,
                           row_group_size=1000, data_page_size=2048)
            files.append({"file": name, "codec": codec, "dictionary": dictionary, "page_version": version})

# The other encodings pyarrow writes: delta and byte-stream-split.
encodings = {"i32": "DELTA_BINARY_PACKED", "i64": "DELTA_BINARY_PACKED", "req": "DELTA_BINARY_PACKED",
             "ts_us": "DELTA_BINARY_PACKED", "s": "DELTA_BYTE_ARRAY", "bin": "DELTA_LENGTH_BYTE_ARRAY",
             "f32": "BYTE_STREAM_SPLIT", "f64": "BYTE_STREAM_SPLIT"}
name = "zstd-delta-v2.parquet"
pq.write_table(table, os.path.join(out, name), compression="ZSTD", use_dictionary=False,
               column_encoding=encodings, data_page_version="2.0", row_group_size=1000, data_page_size=2048)
files.append({"file": name, "codec": "ZSTD", "dictionary": False, "page_version": "2.0", "encodings": encodings})

# INT96: the legacy timestamp encoding (Impala, old Spark). Every timestamp
# column of this file is INT96 and reads as timestamp[ns].
ts = table.select(["ts_ms", "ts_us", "ts_ns"])
pq.write_table(ts, os.path.join(out, "int96.parquet"), use_deprecated_int96_timestamps=True,
               compression="SNAPPY", row_group_size=1000)
ns = {"ts_ms": 10**6, "ts_us": 10**3, "ts_ns": 1}
for k, mul in ns.items():
    expected["int96_" + k] = [None if x is None else x * mul for x in cols[k][1]]
files.append({"file": "int96.parquet", "codec": "SNAPPY", "int96": True})

with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f)
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(files, f)
