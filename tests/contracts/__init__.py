"""Contract suites: every registered implementation of a protocol must pass the same tests."""
