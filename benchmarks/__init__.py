"""The twinport benchmark lab: `python -m benchmarks --help`."""
