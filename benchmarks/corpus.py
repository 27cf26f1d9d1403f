"""Real-text corpora for the benchmarks, rebuilt the same way on any Debian-like machine.

Sources (each unpacked once into ``benchmarks/.cache/sources/``):

==============  =======================================================  ========
source          from                                                     size
==============  =======================================================  ========
gcide           ``dict-gcide``: the Collaborative Int. Dictionary of Eng.  40.0 MB
pydoc           ``python3.11-doc``: ``_sources/**/*.txt`` (reST)          11.0 MB
kernel-doc      ``linux-source-6.1``: ``Documentation/**/*.rst|txt``      28.6 MB
fortunes-zh     ``fortunes-zh``: ``*.u8`` (Chinese; colour codes removed)   2.2 MB
kernel-zh       ``linux-source-6.1``: ``Documentation/translations/zh_*``  2.3 MB
kernel-c        ``linux-source-6.1``: every ``*.c`` and ``*.h``             1.18 GB
==============  =======================================================  ========

Kinds: ``mixed`` (gcide + pydoc + kernel-doc + fortunes-zh: 82 MB of English,
technical prose and some Chinese; beyond that, kernel C code fills up),
``english`` (gcide + pydoc + kernel-doc), ``code`` (kernel C), ``kernel``
(kernel Documentation + C code, up to 1.2 GB: the scaling corpus), ``chinese``
(fortunes-zh + kernel-zh). A size below a kind's total takes the same share of
every source (a prefix, cut at a line end). ``stdlib`` needs no download: the
Python standard library's own source, less the held-out files.

Held-out text for compression: one sixteenth of the standard library's ``*.py``
files (chosen by a hash of their path), never part of any corpus here.

    python benchmarks/corpus.py --kind mixed --size 82MB -o /tmp/mixed.txt
    python benchmarks/corpus.py --kind stdlib

>>> from corpus import build_corpus, heldout_text  # doctest: +SKIP
>>> build_corpus("mixed", "20MB").stat().st_size  # doctest: +SKIP
19999854
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, fmt_size, parse_size  # noqa: E402

SOURCES = CACHE / "sources"
CORPORA = CACHE / "corpus"

# kind -> (sources shared out by size, source that fills beyond them)
KINDS = {
    "mixed": (["gcide", "pydoc", "kernel-doc", "fortunes-zh"], "kernel-c"),
    "english": (["gcide", "pydoc", "kernel-doc"], None),
    "code": (["kernel-c"], None),
    "kernel": (["kernel-doc", "kernel-c"], None),
    "chinese": (["fortunes-zh", "kernel-zh"], None),
}
HELDOUT_BUCKETS = 16  # one stdlib file in 16 is held out


# ---------------------------------------------------------------- Debian packages

def _deb(package: str) -> Path:
    """Unpacked tree of a Debian package (``apt-get download`` + ``dpkg -x``), cached."""
    root = CACHE / "deb" / package
    if root.exists():
        return root
    debs = sorted((CACHE / "debs").glob(f"{package}_*.deb"))
    if not debs:
        print(f"corpus: apt-get download {package}", file=sys.stderr)
        (CACHE / "debs").mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["apt-get", "download", package], cwd=CACHE / "debs",
                              capture_output=True, text=True)
        debs = sorted((CACHE / "debs").glob(f"{package}_*.deb"))
        if proc.returncode != 0 or not debs:
            raise RuntimeError(f"apt-get download {package} failed (run `apt-get update` "
                               f"first?):\n{proc.stderr.strip()}")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=root.parent)
    try:
        subprocess.run(["dpkg", "-x", str(debs[-1]), tmp], check=True)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _write_texts(name: str, texts) -> None:
    """Write an iterable of byte strings to ``SOURCES/name.txt``, each ending in a newline."""
    SOURCES.mkdir(parents=True, exist_ok=True)
    part = SOURCES / f"{name}.txt.part"
    with open(part, "wb") as out:
        for data in texts:
            out.write(data if data.endswith(b"\n") else data + b"\n")
    os.replace(part, SOURCES / f"{name}.txt")


def _gcide() -> None:
    # dictzip (.dz) is gzip with an index in an extra field: gzip reads it as it is.
    dz = _deb("dict-gcide") / "usr/share/dictd/gcide.dict.dz"
    # The dictionary is UTF-8 but for three stray Windows-1252 bytes (0x92 for a right quote,
    # 0xE7, 0xB9); they are read as Windows-1252, so every corpus is valid UTF-8.
    text = gzip.decompress(dz.read_bytes()).decode("utf-8", errors="surrogateescape")
    text = re.sub("[\udc80-\udcff]", lambda m: bytes([ord(m[0]) - 0xDC00]).decode("cp1252", "replace"), text)
    _write_texts("gcide", [text.encode("utf-8")])


def _pydoc() -> None:
    root = _deb("python3.11-doc") / "usr/share/doc/python3.11/html/_sources"
    _write_texts("pydoc", (p.read_bytes() for p in sorted(root.rglob("*.txt"))))


def _fortunes_zh() -> None:
    root = _deb("fortunes-zh") / "usr/share/games/fortunes"
    ansi = re.compile(rb"\x1b\[[0-9;]*m")
    _write_texts("fortunes-zh", (ansi.sub(b"", p.read_bytes()) for p in sorted(root.glob("*.u8"))))


def _kernel() -> None:
    """One streaming pass over the kernel tarball writes kernel-doc, kernel-zh and kernel-c."""
    (tarball,) = (_deb("linux-source-6.1") / "usr/src").glob("linux-source-*.tar.xz")
    SOURCES.mkdir(parents=True, exist_ok=True)
    names = ("kernel-doc", "kernel-zh", "kernel-c")
    outs = {n: open(SOURCES / f"{n}.txt.part", "wb") for n in names}
    print(f"corpus: unpacking text and C code from {tarball.name} (about a minute)", file=sys.stderr)
    with tarfile.open(tarball, "r|xz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            parts = member.name.split("/")[1:]  # drop "linux-source-6.1/"
            if parts[:1] == ["Documentation"] and member.name.endswith((".rst", ".txt")):
                targets = ["kernel-doc"] + (["kernel-zh"] if parts[1:3] in (["translations", "zh_CN"],
                                                                            ["translations", "zh_TW"]) else [])
            elif member.name.endswith((".c", ".h")) and parts[:1] != ["Documentation"]:
                targets = ["kernel-c"]
            else:
                continue
            data = tar.extractfile(member).read()
            data = data if data.endswith(b"\n") else data + b"\n"
            for t in targets:
                outs[t].write(data)
    for n, f in outs.items():
        f.close()
        os.replace(SOURCES / f"{n}.txt.part", SOURCES / f"{n}.txt")


_BUILDERS = {"gcide": _gcide, "pydoc": _pydoc, "fortunes-zh": _fortunes_zh,
             "kernel-doc": _kernel, "kernel-zh": _kernel, "kernel-c": _kernel}


def source(name: str) -> Path:
    """Path of one source's text (built on first use)."""
    path = SOURCES / f"{name}.txt"
    if not path.exists():
        _BUILDERS[name]()
    return path


# ---------------------------------------------------------------- Python standard library

def _stdlib_files() -> list[tuple[Path, bool]]:
    """(file, held out?) for every ``*.py`` of the standard library that is valid UTF-8."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if "site-packages" in rel or "dist-packages" in rel or not p.is_file():
            continue
        files.append((p, zlib.crc32(rel.encode()) % HELDOUT_BUCKETS == 0))
    return files


def _stdlib_build(heldout: bool) -> Path:
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    path = CORPORA / (f"heldout-{tag}.txt" if heldout else f"stdlib-{tag}.txt")
    if not path.exists():
        CORPORA.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(f".{os.getpid()}.part")
        stats = {"stdlib-heldout" if heldout else "stdlib": [0, 0]}
        with open(part, "wb") as out:
            for p, held in _stdlib_files():
                if held != heldout:
                    continue
                data = p.read_bytes()
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    continue
                data = data if data.endswith(b"\n") else data + b"\n"
                out.write(data)
                for s in stats.values():
                    s[0] += len(data)
                    s[1] += data.count(b"\n")
        _write_stats(path, stats)
        os.replace(part, path)
    return path


def stdlib_corpus() -> Path:
    """The Python standard library's ``*.py`` source (about 30 MB), less the held-out files."""
    return _stdlib_build(heldout=False)


def heldout_path() -> Path:
    """File of held-out Python source (about 2 MB; disjoint from every corpus here)."""
    return _stdlib_build(heldout=True)


def heldout_text() -> str:
    """The held-out Python source as a string."""
    return heldout_path().read_text(encoding="utf-8")


# ---------------------------------------------------------------- corpora

def _copy_prefix(src: Path, out, limit: int | None) -> tuple[int, int]:
    """Copy up to ``limit`` bytes of ``src`` (all if None) to ``out``, ending at a line end.
    Returns (bytes, lines) written."""
    written = lines = 0
    with open(src, "rb") as f:
        while limit is None or written < limit:
            chunk = f.read(1 << 22 if limit is None else min(1 << 22, limit - written))
            if not chunk:
                break
            if limit is not None and written + len(chunk) >= limit:
                cut = chunk.rfind(b"\n")
                if cut < 0:
                    break
                chunk = chunk[:cut + 1]
                out.write(chunk)
                written += len(chunk)
                lines += chunk.count(b"\n")
                break
            out.write(chunk)
            written += len(chunk)
            lines += chunk.count(b"\n")
    return written, lines


def _write_stats(path: Path, stats: dict) -> None:
    Path(f"{path}.json").write_text(json.dumps(
        {name: {"bytes": b, "lines": n} for name, (b, n) in stats.items()}, indent=1))


def stats(path: Path) -> dict:
    """{source: {"bytes": ..., "lines": ...}} of a corpus built here."""
    return json.loads(Path(f"{path}.json").read_text())


def build_corpus(kind: str = "mixed", size: str | int | None = None, out: str | Path | None = None) -> Path:
    """Build (or reuse) a corpus of ``kind`` of about ``size`` bytes; returns its path.

    Args:
        kind: one of ``mixed``, ``english``, ``code``, ``kernel``, ``chinese``, ``stdlib``.
        size: bytes (``"82MB"``, ``"1GB"``, an int); None takes everything the kind has.
        out: where to put it; default ``benchmarks/.cache/corpus/KIND-SIZE.txt``.

    >>> build_corpus("poetry")
    Traceback (most recent call last):
      ...
    ValueError: unknown kind 'poetry'; known: mixed, english, code, kernel, chinese, stdlib
    """
    if kind == "stdlib":
        path = stdlib_corpus()
        if out is not None:
            shutil.copyfile(path, out)
            shutil.copyfile(f"{path}.json", f"{out}.json")
            return Path(out)
        return path
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}, stdlib")
    size = parse_size(size)
    path = Path(out) if out else CORPORA / f"{kind}-{'all' if size is None else size}.txt"
    if out is None and path.exists() and Path(f"{path}.json").exists():
        return path
    base, fill = KINDS[kind]
    sizes = {name: source(name).stat().st_size for name in base}
    total = sum(sizes.values())
    plan = {name: (None if size is None or size >= total else size * n // total) for name, n in sizes.items()}
    if fill and size is not None and size > total:
        plan[fill] = size - total
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    with open(part, "wb") as f:
        result = {name: _copy_prefix(source(name), f, limit) for name, limit in plan.items()}
    _write_stats(path, result)
    os.replace(part, path)
    return path


def describe(path: Path) -> str:
    """A small table of what a corpus holds, per source."""
    st = stats(path)
    rows = [f"  {name:16} {fmt_size(s['bytes']):>10} {s['lines']:>12,} lines" for name, s in st.items()]
    total = sum(s["bytes"] for s in st.values())
    return "\n".join([f"{path}", *rows, f"  {'total':16} {fmt_size(total):>10} ({total:,} bytes)"])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", default="mixed", choices=[*KINDS, "stdlib"])
    ap.add_argument("--size", default=None, help="e.g. 20MB, 82MB, 1GB (default: all the kind has)")
    ap.add_argument("-o", "--out", default=None, help="output file (default: in benchmarks/.cache/corpus/)")
    ap.add_argument("--heldout", action="store_true", help="also print the held-out split")
    args = ap.parse_args(argv)
    print(describe(build_corpus(args.kind, args.size, args.out)))
    if args.heldout:
        print("held out (compression is measured on this):")
        print(describe(heldout_path()))


if __name__ == "__main__":
    main()
