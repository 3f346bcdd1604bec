"""Skip reasons tell the reader what to run: every script they name must exist (audit item 9:
they pointed at an "install_browser" script that never existed)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = re.compile(r"\bscripts/[\w./-]+\.(?:sh|py)\b")


def test_scripts_named_in_tests_exist() -> None:
    named: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for match in SCRIPT.finditer(path.read_text(encoding="utf-8")):
            named.setdefault(match.group(), []).append(str(path.relative_to(ROOT)))
    assert "scripts/install_debian_deps.sh" in named  # the browser and WordNet skips point here
    missing = {script: files for script, files in named.items() if not (ROOT / script).is_file()}
    assert missing == {}, f"tests name scripts that do not exist: {missing}"


def test_the_named_installer_installs_what_the_skips_wait_for() -> None:
    script = (ROOT / "scripts" / "install_debian_deps.sh").read_text(encoding="utf-8")
    for package in ("chromium", "chromium-driver", "wordnet-base"):
        assert re.search(rf"\b{re.escape(package)}\b", script), package
    # `make test` runs the installer through scripts/setup.sh, as the browser skip reason says.
    assert "install_debian_deps.sh" in (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert re.search(r"^test: .*setup", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
