"""Scaling studies: throughput of the real training step against the number of devices.

point.py (one point: a config's step on synthetic data, compiled and timed in its own process),
report.py (the study's plan, scaling efficiencies, table and plot). `cnnjax scale` drives both.
"""
