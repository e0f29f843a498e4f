"""Benchmarks of the kit on the lab: deploy time by phase, the floor, no-op runs, upgrades, job throughput."""
