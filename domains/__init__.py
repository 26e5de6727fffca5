"""Domain suites: sources, task specs, and the benchmark builder."""
