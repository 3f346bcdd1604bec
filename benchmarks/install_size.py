"""Install size of the core and of each extra, measured in fresh virtualenvs.

    python3.11 benchmarks/install_size.py --json benchmarks/results/install_size.json

Copies the working tree (tracked and untracked, not ignored files) to a scratch folder, creates a
venv with the core install (`pip install SRC`, after the portable llama-cpp-python wheel that
scripts/setup.sh builds into ~/.cache/llmpilot/wheels), then one copy of that venv per extra with
`pip install SRC[extra]` on top. Profiles that pull torch get the local CPU build `torch==2.13.0`
first, as setup.sh does (an unpinned torch pulls the CUDA build). Sizes are `du -sm` of each venv's
site-packages (MiB), the added size is against the core venv, and the largest added top-level
folders say where it goes. Runs with pip's cache warm take ~15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = os.environ.get("PYTHON", "python3.11")
LLAMA_VERSION = "0.3.36"
TORCH = "torch==2.13.0"
WHEEL_CACHE = Path(os.environ.get("LLMPILOT_WHEEL_CACHE", Path.home() / ".cache/llmpilot/wheels"))
#: Each profile: the extras installed on top of the core, and whether torch must come first.
PROFILES: dict[str, tuple[str, bool]] = {
    "english": ("english", True),
    "eval": ("eval", True),
    "optimize": ("optimize", True),
    "finetune": ("finetune", True),
    "postgres": ("postgres", False),
    "gemma": ("gemma", False),
    "all": ("all", True),
    "all+dev (make test)": ("all,dev", True),
}


def run(cmd: list[str], log: Path) -> None:
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}; see {log}")


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3.*/site-packages"))


def du_mb(path: Path) -> int:
    out = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def folder_sizes(sp: Path) -> dict[str, int]:
    """MiB per top-level entry of site-packages (packages, their .libs, dist-info folders)."""
    out = subprocess.run(
        ["du", "-sm", *sorted(str(p) for p in sp.iterdir())], capture_output=True, text=True, check=True
    ).stdout
    return {Path(line.split("\t", 1)[1]).name: int(line.split("\t", 1)[0]) for line in out.splitlines()}


def copy_tree(dest: Path) -> Path:
    """The working tree as pip would see a fresh clone with these edits: tracked + untracked files."""
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in files:
        if raw:
            rel = raw.decode()
            src = ROOT / rel
            if src.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / rel)
    return dest


def llama_wheel() -> Path:
    found = sorted(WHEEL_CACHE.glob(f"llama_cpp_python-{LLAMA_VERSION}-*.whl"))
    if not found:
        sys.exit(f"no portable llama-cpp-python wheel in {WHEEL_CACHE}: run scripts/setup.sh once first")
    return found[0]


def pip(venv: Path, *args: str) -> list[str]:
    return [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True, help="Write the results here.")
    parser.add_argument("--profiles", default=",".join(PROFILES), help="Comma-separated subset of profiles.")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch folder (venvs) afterwards.")
    args = parser.parse_args()
    wanted = [p for p in args.profiles.split(",") if p]
    unknown = sorted(set(wanted) - set(PROFILES))
    if unknown:
        parser.error(f"unknown profiles {unknown}; choose from {', '.join(PROFILES)}")

    work = Path(tempfile.mkdtemp(prefix="llmpilot-install-size-"))
    log = work / "pip.log"
    print(f"scratch folder {work}; pip output in {log}", flush=True)
    src = copy_tree(work / "src")

    empty = work / "venv-empty"
    run([PYTHON, "-m", "venv", str(empty)], log)
    core = work / "venv-core"
    run([PYTHON, "-m", "venv", str(core)], log)
    # The portable wheel first, so pip keeps it rather than building llama-cpp-python natively.
    run(pip(core, str(llama_wheel())), log)
    run(pip(core, str(src)), log)
    core_sizes = folder_sizes(site_packages(core))
    core_mb = du_mb(site_packages(core))
    print(f"core: {core_mb} MB", flush=True)
    extras: dict[str, object] = {}
    for name in wanted:
        extra, needs_torch = PROFILES[name]
        venv = work / f"venv-{extra.replace(',', '-')}"
        shutil.copytree(core, venv, symlinks=True)
        if needs_torch:
            run(pip(venv, TORCH), log)
        run(pip(venv, f"{src}[{extra}]"), log)
        sizes = folder_sizes(site_packages(venv))
        total = du_mb(site_packages(venv))
        added = {k: v - core_sizes.get(k, 0) for k, v in sizes.items() if v - core_sizes.get(k, 0) > 0}
        extras[name] = {
            "extras": extra,
            "total_mb": total,
            "added_mb": total - core_mb,
            "largest_added": dict(sorted(added.items(), key=lambda kv: -kv[1])[:8]),
        }
        print(f"{name}: {total} MB (+{total - core_mb})", flush=True)
        if not args.keep:
            shutil.rmtree(venv)
    results = {
        "date": dt.date.today().isoformat(),
        "machine": "2 cores, Debian, Python 3.11, pip cache warm",
        "empty_venv_mb": du_mb(site_packages(empty)),
        "core_mb": core_mb,
        "core_largest": dict(sorted(core_sizes.items(), key=lambda kv: -kv[1])[:12]),
        "extras": extras,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
