"""Which files an ingest reads, and reading them within limits (issue #17, class 7).

* ``iter_inputs`` walks folders deterministically and says why a file is left out: a symbolic
  link inside a folder that leads out of it is reported and skipped (a folder of news must not
  pull in ``~/.ssh`` through a link), never followed.
* ``open_checked`` looks before it reads: a file that is not regular is refused without a read,
  the first 64 KiB are sniffed (control bytes: not text) before anything else, and a file over
  its format's size cap is refused from its size alone. A 2 GB sparse file costs one 64 KiB read.
* ``decode`` turns a whole file's bytes into text (UTF-8, BOMs, mixed cp1252, a guess).
* ``utf8_stream`` opens a file for streaming when it is entirely UTF-8 (checked in one pass of
  fixed memory), so the line formats (.jsonl, .csv) never hold the whole file as bytes and text.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from charset_normalizer import from_bytes

__all__ = [
    "MAX_FILE_BYTES",
    "SNIFF_BYTES",
    "NotTextError",
    "decode",
    "iter_files",
    "iter_inputs",
    "looks_binary",
    "open_checked",
    "utf8_stream",
]

SNIFF_BYTES = 65536
_BINARY_CONTROL_RATIO = 0.05  # more C0 control bytes than this: not a text file
# Largest file per format. One-article formats are small; .json is parsed whole; the line
# formats are streamed (but every article is still kept in memory until it is indexed).
MAX_FILE_BYTES = {
    ".txt": 5 << 20,
    ".html": 5 << 20,
    ".htm": 5 << 20,
    ".json": 64 << 20,
    ".jsonl": 1 << 30,
    ".csv": 1 << 30,
}
OUTSIDE_LINK = "symbolic link to {target}, outside the folder being indexed: skipped"


class NotTextError(ValueError):
    """Data that is not text; the message is the Problem's reason."""


def looks_binary(sample: bytes) -> bool:
    """True when more than 5% of ``sample``'s first 64 KiB are C0 control bytes."""
    sample = sample[:SNIFF_BYTES]
    controls = sum(1 for b in sample if b < 32 and b not in b"\t\n\r\x0b\x0c\x1b")
    return bool(sample) and controls / len(sample) > _BINARY_CONTROL_RATIO


def _walk(folder: Path, root: Path, seen_dirs: set[Path]) -> Iterator[tuple[Path, str | None]]:
    real = folder.resolve()
    if real in seen_dirs:  # symlink loop
        return
    seen_dirs.add(real)
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            target = entry.resolve()
            if not target.is_relative_to(root):
                yield entry, OUTSIDE_LINK.format(target=target)
                continue
        if entry.is_dir():
            yield from _walk(entry, root, seen_dirs)
        else:
            yield entry, None


def iter_inputs(paths: Iterable[str | Path]) -> list[tuple[Path, str | None]]:
    """Files named or found (recursively, sorted by name) under the folders named, in order,
    each with None or the reason it is skipped.

    Hidden files and folders (name starting with '.') inside folders are left out; a file named
    explicitly is kept. A file reached twice is listed once. A path that does not exist is kept
    so that ``read_corpus`` reports it rather than it vanishing.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    files: list[tuple[Path, str | None]] = []
    seen: set[Path] = set()
    seen_dirs: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        found = _walk(path, path.resolve(), seen_dirs) if path.is_dir() else [(path, None)]
        for file, why in found:
            key = file.absolute() if why or not file.exists() else file.resolve()
            if key not in seen:
                seen.add(key)
                files.append((file, why))
    return files


def iter_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files ``iter_inputs`` does not skip."""
    return [path for path, why in iter_inputs(paths) if why is None]


def _limit(suffix: str) -> int:
    return MAX_FILE_BYTES.get(suffix, min(MAX_FILE_BYTES.values()))


def open_checked(path: Path) -> tuple[IO[bytes], bytes]:
    """``(binary file, its first 64 KiB)`` (the file is read past them); raises OSError,
    NotTextError (binary data), or ValueError (not a regular file, or over the size cap).

    The file is opened once and checked through its descriptor, so it cannot be swapped for
    a pipe or a bigger file between the checks and the read.
    """
    import os
    import stat

    f = open(path, "rb")  # noqa: SIM115 - returned to the caller
    try:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):  # reading a FIFO or /dev/zero would never end
            raise ValueError("not a regular file (a pipe, device or socket)")
        sample = f.read(SNIFF_BYTES)
        bom16 = sample.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"))
        if not bom16 and looks_binary(sample.removeprefix(b"\xef\xbb\xbf")):
            raise NotTextError("not text: binary data (control bytes)")
        limit = _limit(path.suffix.lower())
        if st.st_size > limit:
            raise ValueError(
                f"file is {st.st_size / 1_048_576:.1f} MB, over the {limit >> 20} MB limit "
                f"for {path.suffix or 'such'} files: skipped (split it into smaller files)"
            )
        return f, sample
    except BaseException:
        f.close()
        raise


def read_rest(f: IO[bytes], limit: int) -> bytes:
    """The rest of ``f``, at most ``limit`` bytes (ValueError past it: the file grew after it
    was checked)."""
    data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"file grew past the {limit >> 20} MB limit while it was read")
    return data


def utf8_stream(f: IO[bytes], sample: bytes, newline: str) -> IO[str] | None:
    """A text stream over the whole of ``f`` when it is UTF-8 (without BOM-marked UTF-16/32),
    else None; ``f`` is rewound either way. Checked in 1 MiB blocks, in fixed memory.
    ``newline`` as for ``open``: "\n" to split on "\n" only (JSON lines: U+2028 or a raw "\r"
    may sit inside a string), "" for the csv module."""
    import io

    if sample.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return None
    check = codecs.getincrementaldecoder("utf-8")()
    f.seek(0)
    try:
        while block := f.read(1 << 20):
            check.decode(block)
        check.decode(b"", final=True)
    except UnicodeDecodeError:
        f.seek(0)
        return None
    f.seek(0)
    return io.TextIOWrapper(f, encoding="utf-8-sig", newline=newline)


def decode(data: bytes) -> tuple[str, str | None]:
    """Bytes to text: ``(text, warning)``; raises ``NotTextError`` for binary or undecodable data.

    UTF-8 (BOM stripped) needs no warning. UTF-16/32 with a BOM is decoded with a warning.
    Mostly-UTF-8 data with a few stray bytes keeps its UTF-8 and reads the stray bytes as cp1252.
    Anything else goes to charset_normalizer; on a tie between single-byte code pages cp1252 is
    preferred (English news), because the detector's pick among equals is arbitrary (it reads
    cp1252 "naïve" as cp1250 "naďve"). No confident guess, NUL bytes or many control bytes:
    not text.
    """
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            name = codec.upper()
            try:
                return data.decode(codec), f"decoded as {name} (byte order mark), not UTF-8"
            except UnicodeDecodeError as e:
                raise NotTextError(f"not text: {name} byte order mark but {e.reason}") from e
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if looks_binary(data):
        raise NotTextError("not text: binary data (control bytes)")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    mixed = data.decode("utf-8", errors="surrogateescape")
    stray = sum(1 for c in mixed if "\udc80" <= c <= "\udcff")
    good = sum(1 for c in mixed if c > "\x7f" and not "\udc80" <= c <= "\udcff")
    if good > stray:
        text = re.sub(
            "[\udc80-\udcff]",
            lambda m: bytes([ord(m.group()) - 0xDC00]).decode("cp1252", errors="replace"),
            mixed,
        )
        return text, f"{stray} byte(s) were not valid UTF-8: read them as cp1252"
    if b"\x00" in data:
        raise NotTextError("not text: binary data (NUL bytes)")
    return _detect(data)


def _detect(data: bytes) -> tuple[str, str]:
    matches = [m for m in from_bytes(data) if not m.encoding.startswith(("utf_16", "utf_32"))]
    if not matches:
        raise NotTextError("not text: not UTF-8 and no confident guess of the encoding")
    best = min(matches, key=lambda m: (m.chaos, -m.coherence))
    encoding = best.encoding
    for m in matches:
        tie = m.chaos <= best.chaos + 0.01 and m.coherence >= best.coherence - 0.01
        if tie and "cp1252" in m.could_be_from_charset:
            encoding = "cp1252"
            break
    try:
        return data.decode(encoding), f"decoded as {encoding}, not UTF-8"
    except (UnicodeDecodeError, LookupError) as e:
        raise NotTextError(f"not text: guessed {encoding} but it does not decode ({e})") from e
