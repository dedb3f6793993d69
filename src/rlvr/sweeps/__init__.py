"""Comparing finished (and unfinished) runs offline: find run directories, group them by what differs, pair
seeds, and write tables, a CSV and curves (``exp/report.py``; the benchmarks use it too)."""
