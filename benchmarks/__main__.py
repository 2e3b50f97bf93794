"""`python -m benchmarks run|list|report`."""

from benchmarks.cli import main

main()
