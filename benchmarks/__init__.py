"""Benchmarks of taxi_platform against the course pipeline: `python -m benchmarks.run`."""
