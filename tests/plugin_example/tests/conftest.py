"""Collected only where the plugin is installed (tests/integration/test_plugin.py installs it into a
temporary folder and runs these tests in a subprocess); a plain `pytest` of llmpilot skips them."""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("llmpilot_paragraph") is None:
    collect_ignore_glob = ["test_*.py"]
