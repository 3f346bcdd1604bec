"""Contract suites (llmpilot.testing) run on every built-in component; test_coverage.py checks that
no registered built-in is left out."""
