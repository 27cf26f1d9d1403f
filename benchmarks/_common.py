"""What the benchmark scripts share: the cache, sizes, the machine, timing, RESULTS.md."""

from __future__ import annotations

import fcntl
import os
import platform
import re
import shlex
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
RESULTS = HERE / "RESULTS.md"

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(text: str | int | None) -> int | None:
    """``"82MB"`` -> 82_000_000 (decimal units; KiB/MiB/GiB are binary). None stays None.

    >>> parse_size("1.5GB"), parse_size("4KiB"), parse_size(100)
    (1500000000, 4096, 100)
    """
    if text is None or isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (try 20MB, 1GB)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def fmt_size(n: float) -> str:
    """Bytes in decimal units: ``fmt_size(81_781_000) == "81.8 MB"``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine() -> str:
    """One line describing the machine: CPU (with its family, model and caches: a virtual
    machine's model name may not tell one CPU generation from the next, and ratios against peers
    move with it), cores, memory, OS, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n")[0]  # the first CPU's lines
        info = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in first.splitlines() if ":" in line)}
        cpu = info.get("model name", cpu)
        if "cpu family" in info:
            l3 = Path("/sys/devices/system/cpu/cpu0/cache/index3/size")  # "32768K"
            caches = [f"L2 {info['cache size']}"] if "cache size" in info else []
            caches += [f"L3 {l3.read_text().strip().rstrip('K')} KB"] if l3.exists() else []
            parts = [f"family {info['cpu family']}, model {info.get('model', '?')}"] + ([", ".join(caches)] if caches else [])
            cpu += f" ({'; '.join(parts)})"
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f", {mem_kb / 2**20:.0f} GiB memory"
    except OSError:
        mem = ""
    return (f"{cpu}, {cores()} cores{mem}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def version(package: str) -> str:
    """Installed version of a distribution, or "?"."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def bpe_build() -> str:
    """Which `bpe` is measured: the repo commit, uncommitted changes, and when the extension was built."""
    import subprocess
    root = HERE.parent
    git = lambda *a: subprocess.run(["git", "-C", str(root), *a], capture_output=True, text=True).stdout.strip()  # noqa: E731
    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = " + uncommitted changes in rust/ or python/" if git("status", "--porcelain", "--", "rust", "python") else ""
    built = sorted((root / "python" / "bpe").glob("_core*.so"))
    when = time.strftime(" (extension built %Y-%m-%d %H:%M UTC)", time.gmtime(built[-1].stat().st_mtime)) if built else ""
    return f"bpe at commit {commit}{dirty}{when}"


def command_line() -> str:
    """The command that ran this script, as one could type it again from the repo root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(HERE.parent)
    except ValueError:
        pass
    return shlex.join(["python", str(script), *sys.argv[1:]])


def median_time(fn, repeat: int, warmup: int = 1, before=None) -> float:
    """Median wall seconds of ``fn()`` over ``repeat`` runs after ``warmup`` untimed ones;
    ``before()``, if given, runs untimed before every run (to empty an encoder's caches)."""
    times = []
    for i in range(warmup + repeat):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_medians(fns: dict, repeat: int, before: dict | None = None) -> dict:
    """Median wall seconds of each of ``fns`` (name -> callable) over ``repeat`` rounds, where a
    round runs every one in turn, each once untimed and then once timed. On a shared machine
    whose speed drifts over minutes, this puts the runs that are compared in the same minutes,
    so their ratio holds where medians taken one after the other do not; the untimed run before
    each timed one gives it the warm caches it would have among runs of its own.
    ``before[name]()``, where given, runs before every run of ``name`` (to empty its caches)."""
    before = before or {}
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            for timed in (False, True):
                if before.get(name) is not None:
                    before[name]()
                t0 = time.perf_counter()
                fn()
                if timed:
                    times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def provenance(*peers: tuple[str, str]) -> str:
    """The opening line of a section: the machine, the command, and what was measured (this
    build of `bpe`, then each peer's version, from (label, distribution) pairs)."""
    line = f"Machine: {machine()}. Command: `{command_line()}`. Measured: {bpe_build()}"
    if peers:
        line += "; " + ", ".join(f"{label} {version(dist)}" for label, dist in peers)
    return line + "."


def publish(name: str, body: str, write: bool) -> None:
    """Print a section, and put it into RESULTS.md as section ``name`` when ``write``."""
    print(body)
    if write:
        write_section(name, body)


def write_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Put ``body`` into ``path`` between ``<!-- begin NAME -->`` / ``<!-- end NAME -->``,
    replacing that section if it is there and appending it if not; other sections stay."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{body.strip()}\n{end}\n"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text() if path.exists() else "# Benchmark results\n\nWritten by the scripts in this folder; each section says how it was made.\n"
        pat = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
        text = pat.sub(lambda _: block, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + block
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
