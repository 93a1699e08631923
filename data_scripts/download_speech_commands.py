"""Download, verify and safely extract Google Speech Commands (v0.02 or v0.01).

    python -m data_scripts.download_speech_commands [--version 0.02] [--dest DIR]
    kws download [--version 0.02] [--dest DIR]            (the same, as a kws sub-command)

Steps, each safe to interrupt:

1. ``DEST/speech_commands_v0.02`` already there -> nothing to do.
2. Check free disk space (archive still to download + extracted size) before any byte.
3. Download to ``DEST/speech_commands_v0.02.tar.gz.part``; an interrupted download resumes
   with an HTTP Range request; failures are retried with exponential back-off. tqdm shows
   progress on stderr. Only urllib (standard library) is used.
4. Verify sha256; a mismatch deletes the download and fails. Then rename ``.part`` away.
5. Extract into the temporary folder ``DEST/.speech_commands_v0.02.extracting``, refusing
   absolute paths, ``..``, links that leave the folder, devices and FIFOs; rename the folder
   into place only when extraction is complete; delete the archive (unless --keep-archive).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import posixpath
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from kws.errors import DataError


@dataclass(frozen=True)
class Release:
    """One official Speech Commands archive."""

    url: str
    sha256: str
    size_bytes: int
    """Approximate archive size, used for the space check when the server sends none."""


RELEASES: dict[str, Release] = {
    "0.02": Release("http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
                    "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
                    2_430_000_000),
    "0.01": Release("http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
                    "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d",
                    1_490_000_000),
}
EXTRACT_FACTOR = 1.5
"""Extracted size / archive size, with margin: v0.02 is 2.4 GB of .tar.gz and ~3.4 GB of
WAV once extracted (105,829 one-second 16-bit clips of ~32 kB), i.e. gzip saves ~30 %."""
CHUNK_BYTES = 1 << 20
"""Read and hash in 1 MiB pieces."""
REQUIRED_FILES = ("validation_list.txt", "testing_list.txt")
"""Files every Speech Commands release has at its top level; checked after extraction."""
DiskUsage = Callable[[str | Path], Any]
"""shutil.disk_usage or a stand-in returning an object with a ``free`` attribute (bytes)."""


def default_dest() -> Path:
    """``$XDG_DATA_HOME/kws`` when set, else ``~/.cache/kws/datasets``."""
    base = os.environ.get("XDG_DATA_HOME")
    return Path(base) / "kws" if base else Path.home() / ".cache" / "kws" / "datasets"


def download_speech_commands(dest: str | Path | None = None, version: str = "0.02", *,
                             url: str | None = None, sha256: str | None = None,
                             retries: int = 5, backoff_s: float = 2.0, timeout_s: float = 60.0,
                             keep_archive: bool = False, progress: bool = True,
                             disk_usage: DiskUsage = shutil.disk_usage,
                             sleep: Callable[[float], None] = time.sleep,
                             log: Callable[[str], None] | None = None) -> Path:
    """Make sure ``dest/speech_commands_v<version>`` holds the extracted dataset.

    url / sha256 override the official location and checksum (mirrors, tests). retries:
    attempts after the first failure, waiting backoff_s x 2**attempt seconds between them.
    Returns the dataset folder. Raises DataError (one line, naming the problem) for an
    unknown version, too little disk space, a download that keeps failing (the partial file
    is kept so the next run resumes), a checksum mismatch (the download is deleted) and an
    unsafe or malformed archive (nothing is left behind).
    """
    if version not in RELEASES:
        raise DataError(f"unknown Speech Commands version {version!r} "
                        f"(known: {', '.join(RELEASES)})")
    if retries < 0 or backoff_s < 0 or timeout_s <= 0:
        raise DataError(f"retries={retries}, backoff_s={backoff_s} must be >= 0 and "
                        f"timeout_s={timeout_s} > 0")
    release = RELEASES[version]
    url = url or release.url
    expected = (sha256 or release.sha256).lower()
    if len(expected) != 64 or any(ch not in "0123456789abcdef" for ch in expected):
        raise DataError(f"sha256 {expected!r} is not 64 hex digits")
    say = log or (lambda message: print(message, file=sys.stderr))
    dest = Path(dest).expanduser() if dest else default_dest()
    name = f"speech_commands_v{version}"
    final = dest / name
    if final.exists():
        _check_layout(final, f"{final} exists but")
        say(f"{final} is already there: nothing to do")
        return final
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / f"{name}.tar.gz"
    if archive.is_file():
        say(f"found {archive}; verifying it")
        _verify(archive, expected, progress, delete_on_mismatch=True)
    else:
        part = dest / f"{name}.tar.gz.part"
        _download(url, part, release.size_bytes, dest, retries=retries, backoff_s=backoff_s,
                  timeout_s=timeout_s, progress=progress, disk_usage=disk_usage, sleep=sleep,
                  say=say)
        _verify(part, expected, progress, delete_on_mismatch=True)
        os.replace(part, archive)
    try:
        extract_safely(archive, final, progress=progress)
    except UnsafeArchiveError:
        archive.unlink()  # useless and never extracted: the next run downloads again
        raise
    if not keep_archive:
        archive.unlink()
    say(f"Speech Commands v{version} is in {final}")
    return final


def _download(url: str, part: Path, size_hint: int, dest: Path, *, retries: int,
              backoff_s: float, timeout_s: float, progress: bool, disk_usage: DiskUsage,
              sleep: Callable[[float], None], say: Callable[[str], None]) -> None:
    """Fetch ``url`` into ``part``, resuming from its current size, retrying on failure."""
    attempt = 0
    checked_space = False
    while True:
        have = part.stat().st_size if part.exists() else 0
        try:
            _fetch_once(url, part, have, size_hint, dest, timeout_s, progress, disk_usage,
                        check_space=not checked_space)
            return
        except _Retryable as exc:
            checked_space = checked_space or exc.after_space_check
            reason = str(exc)
        if attempt >= retries:
            raise DataError(f"download of {url} failed after {attempt + 1} attempts "
                            f"({reason}); run again to resume from {part}")
        wait = backoff_s * 2**attempt
        attempt += 1
        say(f"download interrupted ({reason}); retry {attempt}/{retries} in {wait:.1f} s")
        sleep(wait)


class _Retryable(Exception):
    """A network failure worth another attempt."""

    def __init__(self, message: str, after_space_check: bool = False) -> None:
        super().__init__(message)
        self.after_space_check = after_space_check


def _fetch_once(url: str, part: Path, have: int, size_hint: int, dest: Path, timeout_s: float,
                progress: bool, disk_usage: DiskUsage, check_space: bool) -> None:
    """One HTTP request, appending to ``part``; returns when the whole file is there."""
    request = urllib.request.Request(url, headers={"User-Agent": "kws-download/1"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)  # noqa: S310
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part file already holds the whole archive
            return
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Retryable(f"HTTP {exc.code} {exc.reason}") from None
        raise DataError(f"{url}: server answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise _Retryable(f"cannot connect: {reason}") from None
    with response:
        if have and response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range"), url)
            if start != have:
                raise DataError(f"{url}: asked for bytes from {have}, server sent from {start}")
        else:  # 200: a fresh start (or a server that ignores Range)
            start, have = 0, 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if check_space:
            _check_space(dest, (total or size_hint) - start, total or size_hint, disk_usage)
        mode = "ab" if start else "wb"
        with open(part, mode) as out:
            _copy(response, out, start, total, progress, url)


def _copy(response: BinaryIO, out: BinaryIO, start: int, total: int | None, progress: bool,
          url: str) -> int:
    """Copy the body to ``out``; returns bytes received. Network errors become _Retryable."""
    from tqdm import tqdm

    received = 0
    with tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
              desc=posixpath.basename(url) or "download", file=sys.stderr,
              disable=not progress) as bar:
        while True:
            try:
                chunk = response.read(CHUNK_BYTES)
            except (OSError, http.client.HTTPException) as exc:
                out.flush()
                raise _Retryable(f"connection lost after {start + received} bytes: "
                                 f"{type(exc).__name__} {exc}", after_space_check=True) from None
            if not chunk:
                break
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if total is not None and start + received < total:
        out.flush()
        raise _Retryable(f"connection closed after {start + received} of {total} bytes",
                         after_space_check=True)
    return received


def _content_range(value: str | None, url: str) -> tuple[int, int | None]:
    """(first byte, total or None) of a ``Content-Range: bytes a-b/total`` header."""
    try:
        unit, _, spec = (value or "").partition(" ")
        span, _, total = spec.partition("/")
        first = int(span.split("-")[0])
        if unit != "bytes":
            raise ValueError(unit)
        return first, (None if total == "*" else int(total))
    except ValueError:
        raise DataError(f"{url}: malformed Content-Range header {value!r}") from None


def _check_space(dest: Path, remaining: int, archive_size: int, disk_usage: DiskUsage) -> None:
    """Refuse to start when ``dest`` lacks room for the rest of the archive + extraction."""
    needed = max(remaining, 0) + int(archive_size * EXTRACT_FACTOR)
    free = int(disk_usage(dest).free)
    if free < needed:
        raise DataError(f"not enough disk space in {dest}: {free / 1e9:.2f} GB free, "
                        f"{needed / 1e9:.2f} GB needed (archive + extracted); free some space "
                        "or choose --dest")


def sha256_of(path: Path, progress: bool = False) -> str:
    """Hex sha256 of a file, read in 1 MiB pieces."""
    from tqdm import tqdm

    digest = hashlib.sha256()
    with open(path, "rb") as fh, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                      unit_divisor=1024, desc="sha256", file=sys.stderr,
                                      disable=not progress) as bar:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _verify(path: Path, expected: str, progress: bool, delete_on_mismatch: bool) -> None:
    actual = sha256_of(path, progress)
    if actual != expected:
        if delete_on_mismatch:
            path.unlink()
        raise DataError(f"checksum mismatch for {path.name}: sha256 {actual}, expected "
                        f"{expected}; the download was deleted (a corrupt transfer or a "
                        "different file), run again")


class UnsafeArchiveError(DataError):
    """An archive member that would land outside the extraction folder, or a special file."""


def extract_safely(archive: Path, final: Path, progress: bool = False) -> Path:
    """Extract the .tar.gz ``archive`` as the folder ``final``, or leave nothing behind.

    Members go into ``final.parent/.<final.name>.extracting`` first; only regular files,
    folders and links that stay inside are accepted (an absolute path, a ``..`` component, a
    link leading outside, a device or FIFO aborts with DataError and the temporary folder is
    removed). Archive permissions and owners are not applied (files 0644, folders 0755).
    The folder is renamed to ``final`` once every member is out and the layout is checked.
    """
    tmp = final.parent / f".{final.name}.extracting"
    if tmp.exists():
        shutil.rmtree(tmp)  # left by an interrupted run; ours by its name
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            from tqdm import tqdm

            with tqdm(unit=" files", desc="extract", file=sys.stderr,
                      disable=not progress) as bar:
                for member in tar:
                    _extract_member(tar, member, tmp, archive)
                    bar.update(1)
        try:
            _check_layout(tmp, f"{archive.name} extracted, but it")
        except DataError as exc:
            raise UnsafeArchiveError(str(exc)) from None
        os.replace(tmp, final)
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"{archive}: cannot extract ({type(exc).__name__}: {exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, root: Path,
                    archive: Path) -> None:
    """Write one archive member under ``root`` after checking that it stays inside."""
    name = member.name

    def refuse(why: str) -> DataError:
        return UnsafeArchiveError(
            f"{archive.name}: refusing member {name!r}: {why}; nothing extracted")

    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise refuse("absolute path")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise refuse("'..' in the path")
    if not parts:
        return  # the archive's "./" entry
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise refuse("device, FIFO or other special file")
    target = root.joinpath(*parts)
    parent = target.parent
    real_root = os.path.realpath(root)
    resolved = real_root
    # Parents must be real folders inside root: never write through a link.
    if os.path.realpath(parent) != os.path.normpath(os.path.join(real_root, *parts[:-1])):
        raise refuse("its folder is a link")
    if member.issym() or member.islnk():
        link = member.linkname.replace("\\", "/")
        if link.startswith("/") or (len(link) > 1 and link[1] == ":"):
            raise refuse(f"link to the absolute path {member.linkname!r}")
        # A symlink is relative to its folder, a hard link to the archive root.
        inside = "/".join(parts[:-1]) if member.issym() else ""
        lexical = posixpath.normpath(posixpath.join(inside, link))
        resolved = os.path.realpath(os.path.join(real_root, lexical))
        if lexical == ".." or lexical.startswith("../") \
                or os.path.commonpath([resolved, real_root]) != real_root:
            raise refuse(f"link to {member.linkname!r} leaves the extraction folder")
    if member.isdir():
        target.mkdir(parents=True, exist_ok=True)
        os.chmod(target, 0o755)
        return
    parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(target):
        if os.path.isdir(target) and not os.path.islink(target):
            raise refuse("a file replaces a folder")
        os.unlink(target)
    if member.issym():
        os.symlink(member.linkname, target)
    elif member.islnk():
        source = Path(resolved)  # checked above: inside root
        if not source.is_file():
            raise refuse(f"hard link to {member.linkname!r}, which is not an extracted file")
        shutil.copyfile(source, target)
        os.chmod(target, 0o644)
    else:
        source_fh = tar.extractfile(member)
        if source_fh is None:
            raise refuse("no data")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with source_fh, os.fdopen(os.open(target, flags, 0o644), "wb") as out:
            shutil.copyfileobj(source_fh, out, CHUNK_BYTES)


def _check_layout(folder: Path, prefix: str) -> None:
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise DataError(f"{prefix} has no {missing[0]}: not a Speech Commands folder "
                        "(remove it or choose another --dest)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``kws download`` and this script."""
    parser.add_argument("--version", choices=sorted(RELEASES), default="0.02",
                        help="dataset version (default 0.02: 35 words, 105,829 clips)")
    parser.add_argument("--dest", type=Path, default=None,
                        help=f"folder that receives speech_commands_v<version> "
                             f"(default {default_dest()})")
    parser.add_argument("--url", help="download from this URL instead (a mirror)")
    parser.add_argument("--sha256", help="expected sha256 of the archive (default: official)")
    parser.add_argument("--retries", type=int, default=5,
                        help="attempts after a failed one, with exponential back-off")
    parser.add_argument("--keep-archive", action="store_true",
                        help="keep the .tar.gz after extraction")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Download with the parsed options; prints the dataset folder on stdout."""
    folder = download_speech_commands(args.dest, args.version, url=args.url,
                                      sha256=args.sha256, retries=args.retries,
                                      keep_archive=args.keep_archive, progress=args.progress)
    print(folder)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m data_scripts.download_speech_commands``; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except DataError as exc:
        print(f"download: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("download: interrupted (run again to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
