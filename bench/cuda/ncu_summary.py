#!/usr/bin/env python3
"""Per-kernel GPU time from an Nsight Compute CSV (`ncu --csv --page raw --metrics
gpu__time_duration.sum[,dram__bytes_read.sum]`), grouped by kernel name: where a decode step's
time goes, and (with the second metric) each kernel's DRAM read rate.
Usage: ncu_summary.py FILE.csv --per N   (N: tokens or steps the profiled launches cover)
"""
import argparse
import csv
import re
from collections import defaultdict


def short_name(name: str) -> str:
    name = re.sub(r"\(.*$", "", name)  # drop the argument list
    return name.replace("strata::cuda::", "").replace("(anonymous namespace)::", "")[:90]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--per", type=float, default=1.0)
    args = ap.parse_args()
    with open(args.csv, newline="") as f:
        lines = [l for l in f if l.startswith('"')]  # ncu's own messages are not quoted
    rows = list(csv.DictReader(lines))
    total_ns, count, read = defaultdict(float), defaultdict(int), defaultdict(float)
    units = rows[0] if rows else {}
    scale = {"byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9}.get(units.get("dram__bytes_read.sum", ""), 1)
    for r in rows:
        value = r.get("gpu__time_duration.sum", "")
        try:
            ns = float(value.replace(",", ""))
        except ValueError:
            continue  # the units row
        name = short_name(r.get("Kernel Name", "?"))
        total_ns[name] += ns
        count[name] += 1
        try:
            read[name] += float(r.get("dram__bytes_read.sum", "").replace(",", "")) * scale
        except ValueError:
            pass
    grand = sum(total_ns.values())
    print(f"{sum(count.values())} kernels, {grand / 1e3:.1f} us in all, {grand / 1e3 / args.per:.1f} us per unit "
          f"({args.per:g} units)")
    print("| kernel | launches per unit | us per unit | mean us | share | DRAM read GB/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, ns in sorted(total_ns.items(), key=lambda kv: -kv[1]):
        rate = f"{read[name] / ns:,.0f}" if read else ""  # bytes per ns = GB/s
        print(f"| {name} | {count[name] / args.per:.1f} | {ns / 1e3 / args.per:.1f} | {ns / 1e3 / count[name]:.2f} "
              f"| {100 * ns / grand:.1f}% | {rate} |")


if __name__ == "__main__":
    main()
