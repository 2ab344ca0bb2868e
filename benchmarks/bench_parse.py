"""Parse CPU per body on the largest real capture pages, and peak RSS of hostile bodies.

    python benchmarks/bench_parse.py [--rounds 7] [--hostile-mib 4]

CPU: for each endpoint, the largest body among ../shared/envoy-captures is parsed over
and over in this process; the figure is the best of ``--rounds`` rounds of process CPU
time per body (µs). Memory: each hostile body (``[{},{},...]``, ``[[],[],...]``, an
object of that many keys, ...) of ``--hostile-mib`` MiB is built in a fresh child
process, whose peak RSS (VmHWM) is then reset; the peak while parsing is reported next
to the RSS before parsing (the body included).
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO
from envoylog import parse
from envoylog.errors import ParseError
from envoylog.parse import bounds
from envoylog.parse.context import ParseContext
from envoylog.records import Record

CAPTURES = REPO.parent / "shared" / "envoy-captures"
Parser = Callable[[bytes, ParseContext], tuple[Record, ...]]
ENDPOINTS: dict[str, tuple[Parser, str]] = {
    "info": (parse.parse_info, "info"),
    "production_json": (parse.parse_production_json, "production.json_details_1"),
    "api_v1_inverters": (parse.parse_api_v1_inverters, "api_v1_production_inverters"),
    "meter_readings": (parse.parse_meter_readings, "ivp_meters_readings"),
    "device_data": (parse.parse_device_data, "ivp_pdm_device_data"),
}


def _listed(item: bytes, size: int) -> bytes:
    """A JSON list of copies of `item`, about `size` bytes long."""
    return b"[" + b",".join([item] * (size // (len(item) + 1))) + b"]"


def _devices(size: int | None) -> bytes:
    """device_data of copies of a real microinverter: about `size` bytes, or MAX_DEVICES."""
    real = json.loads(largest("ivp_pdm_device_data").read_bytes())
    pcu = next(v for v in real.values() if isinstance(v, dict) and v.get("devName") == "pcu")
    device = json.dumps(pcu).encode()
    count = bounds.MAX_DEVICES if size is None else size // (len(device) + 10)
    return b"{" + b",".join(b'"%d":%s' % (i, device) for i in range(count)) + b"}"


# name -> (parser, body of about `size` bytes)
HOSTILE: dict[str, tuple[Parser, Callable[[int], bytes]]] = {
    "empty objects in a list": (parse.parse_api_v1_inverters, lambda n: _listed(b"{}", n)),
    "empty lists in a list": (parse.parse_api_v1_inverters, lambda n: _listed(b"[]", n)),
    "zeros in a list": (parse.parse_api_v1_inverters, lambda n: _listed(b"0", n)),
    "empty devices in device_data": (
        parse.parse_device_data,
        lambda n: b"{" + b",".join(b'"%d":{}' % i for i in range(n // 9)) + b"}",
    ),
    "objects holding a long string": (
        parse.parse_api_v1_inverters,
        lambda n: _listed(b'{"serialNumber":"' + b"9" * 1000 + b'"}', n),
    ),
    "the most empty objects allowed": (
        parse.parse_api_v1_inverters,
        lambda n: _listed(b"{}", bounds.MAX_JSON_VALUES),
    ),
    "real microinverters, as many as fit": (parse.parse_device_data, _devices),
    "real microinverters, the most allowed": (parse.parse_device_data, lambda n: _devices(None)),
}


def largest(file_name: str) -> Path:
    found = [p for p in CAPTURES.glob(f"*/{file_name}") if p.is_file()]
    if not found:
        raise SystemExit(f"no {file_name} under {CAPTURES}: the captures are needed")
    return max(found, key=lambda p: p.stat().st_size)


def cpu_per_body(rounds: int) -> dict[str, dict[str, object]]:
    from support import recorded_context  # tests/, on the path once benchmarks.common is in

    results: dict[str, dict[str, object]] = {}
    for name, (parser, file_name) in ENDPOINTS.items():
        path = largest(file_name)
        body = path.read_bytes()
        ctx = recorded_context(path.parent)  # on the capture's own clock
        parser(body, ctx)
        count = max(50, 2_000_000 // max(len(body), 1))
        best = float("inf")
        for _ in range(rounds):
            started = time.process_time()
            for _ in range(count):
                parser(body, ctx)
            best = min(best, (time.process_time() - started) / count)
        results[name] = {"capture": path.parent.name, "bytes": len(body), "us": best * 1e6}
    return results


def child(kind: str, mib: float) -> None:
    """Parse one hostile body; print RSS before and the peak (VmHWM) after, in MB."""
    size = int(mib * 1024 * 1024)
    parser, make = HOSTILE[kind]
    body = make(size)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from here
    before = _status("VmRSS")
    ctx = ParseContext(fetched_at=datetime.now(UTC))
    outcome = "records"
    started = time.process_time()
    try:
        outcome = f"{len(parser(body, ctx)):,} records"
    except ParseError as exc:
        outcome = f"ParseError: {exc.problem[:70]}"
    cpu_ms = (time.process_time() - started) * 1e3
    print(json.dumps({"before_mb": before, "peak_mb": _status("VmHWM"), "cpu_ms": cpu_ms,
                      "bytes": len(body), "outcome": outcome}))  # fmt: skip


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--hostile-mib", type=float, default=4.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.hostile_mib)
        return
    print("parse CPU per body (best of rounds, process time)")
    for name, row in cpu_per_body(args.rounds).items():
        print(f"  {name:18} {row['us']:8.1f} us  {row['bytes']:>7,} B  {row['capture']}")
    print(f"hostile bodies of {args.hostile_mib:g} MiB, each in a fresh process")
    for kind in HOSTILE:
        command = [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--hostile-mib",
            str(args.hostile_mib),
        ]
        found = json.loads(subprocess.run(command, check=True, capture_output=True).stdout)
        grew = found["peak_mb"] - found["before_mb"]
        print(
            f"  {kind:30} peak {found['peak_mb']:6.1f} MB (+{grew:5.1f} MB over "
            f"{found['before_mb']:.1f}), {found['cpu_ms']:7.1f} ms CPU: {found['outcome']}"
        )


if __name__ == "__main__":
    main()
