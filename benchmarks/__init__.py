"""envoylog benchmarks: `python benchmarks/run.py --out report.md` (see docs/performance.md)."""
