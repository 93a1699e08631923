"""Download, verify and safely extract Google Speech Commands (v0.02 or v0.01).

    python -m data_scripts.download_speech_commands [--version 0.02] [--dest DIR]
    kws download [--version 0.02] [--dest DIR]            (the same, as a kws sub-command)

Steps, each safe to interrupt:

1. ``DEST/speech_commands_v0.02`` already there -> nothing to do.
2. Check free disk space (archive still to download + extracted size) before any byte.
3. Download to ``DEST/speech_commands_v0.02.tar.gz.part``; an interrupted download resumes
   with an HTTP Range request; failures are retried with exponential back-off, except a
   host that cannot be found (no network, DNS) or reached (connection refused, no route),
   which fails at once with one line saying so. An attempt
   fails after ``--stall-timeout-s`` seconds (default 60) without a byte; the whole
   download gives up after ``--deadline-s`` seconds (default 6 h), keeping the partial
   file for the next run. tqdm shows progress on stderr. Only urllib (standard library).
4. Verify sha256; a mismatch deletes the download and fails. Then rename ``.part`` away.
5. Extract into a hidden temporary folder beside the dataset (kws.fileio.temp_name),
   refusing absolute paths, ``..``, members written through links, links whose real target
   (resolved component by component through the links already extracted) leaves the
   folder, dangles or loops, duplicates, devices and FIFOs; stop at ``--max-extract-bytes``
   of file data (default 8 GiB) or ``--max-extract-files`` members (default 200,000),
   checked while writing. Rename the folder into place only when extraction is complete;
   delete the archive (unless --keep-archive).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gzip
import hashlib
import http.client
import os
import posixpath
import shutil
import socket
import stat
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from kws.errors import ArchiveTooLargeError, DataError, KwsError, UnsafeArchiveError
from kws.fileio import remove_stale_temps, temp_name


@dataclass(frozen=True)
class Release:
    """One official Speech Commands archive."""

    url: str
    sha256: str
    size_bytes: int
    """Approximate archive size, used for the space check when the server sends none."""


RELEASES: dict[str, Release] = {
    "0.02": Release("https://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
                    "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
                    2_430_000_000),
    "0.01": Release("https://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
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
MAX_EXTRACT_BYTES = 8 << 30
"""Default bound on the file data an archive may unpack to: 8 GiB. The full v0.02 archive
unpacks to ~3.4 GB (105,829 clips of at most 32,044 bytes + six noise recordings), v0.01
to ~2 GB, so this leaves a 2.5x margin; ``--max-extract-bytes`` raises it."""
MAX_EXTRACT_FILES = 200_000
"""Default bound on archive members (files, folders, links): v0.02 has 105,829 clips, six
noise recordings, four text files and 36 folders (about 105,900), v0.01 ~64,800: a 1.9x margin;
``--max-extract-files`` raises it."""
HEADER_BYTES = 4096
"""Decompressed tar bytes allowed per member on top of its data (512-byte header, padding to
512, a long-name record): bounds the whole decompressed stream, not only the files."""
MAX_LINK_HOPS = 40
"""Symbolic links followed while resolving one link target (Linux's own limit is 40)."""
STALL_TIMEOUT_S = 60.0
"""Default seconds without a single byte from the server before an attempt fails (and is
retried, resuming); ``--stall-timeout-s``."""
DEADLINE_S = 6 * 3600.0
"""Default seconds for the whole download, every attempt and back-off included: 6 h, enough
for the 2.4 GB archive at ~115 kB/s (0.9 Mbit/s). The partial file is kept, so a run that
hits it resumes; ``--deadline-s`` raises it."""
DiskUsage = Callable[[str | Path], Any]
"""shutil.disk_usage or a stand-in returning an object with a ``free`` attribute (bytes)."""


def default_dest() -> Path:
    """``$XDG_DATA_HOME/kws`` when set, else ``~/.cache/kws/datasets``."""
    base = os.environ.get("XDG_DATA_HOME")
    return Path(base) / "kws" if base else Path.home() / ".cache" / "kws" / "datasets"


def download_speech_commands(dest: str | Path | None = None, version: str = "0.02", *,
                             url: str | None = None, sha256: str | None = None,
                             retries: int = 5, backoff_s: float = 2.0,
                             stall_timeout_s: float = STALL_TIMEOUT_S,
                             deadline_s: float = DEADLINE_S,
                             max_extract_bytes: int = MAX_EXTRACT_BYTES,
                             max_extract_files: int = MAX_EXTRACT_FILES,
                             keep_archive: bool = False, progress: bool = True,
                             disk_usage: DiskUsage = shutil.disk_usage,
                             sleep: Callable[[float], None] = time.sleep,
                             log: Callable[[str], None] | None = None) -> Path:
    """Make sure ``dest/speech_commands_v<version>`` holds the extracted dataset.

    url / sha256 override the official location and checksum (mirrors, tests). retries:
    attempts after the first failure, waiting backoff_s x 2**attempt seconds between them.
    stall_timeout_s: seconds without one byte from the server before an attempt fails (and
    is retried); deadline_s: seconds for the whole download, all attempts included.
    max_extract_bytes / max_extract_files: bounds on what the archive may unpack to (bytes of
    file data, members). Returns the dataset folder. Raises DataError (one line, naming the
    problem) for an unknown version, too little disk space, a download that keeps failing or
    passes its deadline (the partial file is kept so the next run resumes), a checksum
    mismatch (the download is deleted), an unsafe or malformed archive (nothing is left
    behind, the archive is deleted) and an archive past the extraction bounds (nothing
    extracted, the verified archive is kept for a run with higher bounds).
    """
    if version not in RELEASES:
        raise DataError(f"unknown Speech Commands version {version!r} "
                        f"(known: {', '.join(RELEASES)})")
    if retries < 0 or backoff_s < 0 or not stall_timeout_s > 0 or not deadline_s > 0:
        raise DataError(f"retries={retries}, backoff_s={backoff_s} must be >= 0 and "
                        f"stall_timeout_s={stall_timeout_s}, deadline_s={deadline_s} > 0")
    if max_extract_bytes <= 0 or max_extract_files <= 0:
        raise DataError(f"max_extract_bytes={max_extract_bytes} and "
                        f"max_extract_files={max_extract_files} must be > 0")
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
    made_dest = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / f"{name}.tar.gz"
    try:
        if archive.is_file():
            say(f"found {archive}; verifying it")
            _verify(archive, expected, progress, delete_on_mismatch=True)
        else:
            part = dest / f"{name}.tar.gz.part"
            _download(url, part, release.size_bytes, dest, retries=retries,
                      backoff_s=backoff_s, stall_timeout_s=stall_timeout_s,
                      deadline_s=deadline_s, progress=progress, disk_usage=disk_usage,
                      sleep=sleep, say=say)
            _verify(part, expected, progress, delete_on_mismatch=True)
            os.replace(part, archive)
    except BaseException:
        if made_dest:                 # a folder this run made and left empty goes again;
            with contextlib.suppress(OSError):   # one with a .part file stays for resume
                dest.rmdir()
        raise
    try:
        extract_safely(archive, final, progress=progress, max_bytes=max_extract_bytes,
                       max_files=max_extract_files)
    except UnsafeArchiveError:
        archive.unlink()  # useless and never extracted: the next run downloads again
        raise
    except ArchiveTooLargeError as exc:
        raise ArchiveTooLargeError(f"{exc}; nothing extracted, the verified archive is kept "
                                   f"at {archive}") from None
    if not keep_archive:
        archive.unlink()
    say(f"Speech Commands v{version} is in {final}")
    return final


class _Watchdog:
    """Shuts the connection down when the overall deadline passes.

    A socket time-out only catches silence; a server dripping one byte every few seconds
    (in the headers or the body) never trips it. Every socket the opener connects is
    registered here, and a timer thread shuts them down at the deadline, which makes the
    blocked read return; ``expired`` then tells the reader why.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        """time.monotonic() value (seconds)."""
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def remaining_s(self) -> float:
        """Seconds left before the deadline (<= 0 once passed)."""
        return self.deadline - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        """Register a connected socket (shut down at once if the deadline already passed)."""
        with self._lock:
            self._sockets.append(sock)
            if not self.expired:
                return
        _shutdown(sock)

    def __enter__(self) -> _Watchdog:
        self._timer = threading.Timer(max(self.remaining_s(), 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _opener(watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    """urllib's opener (proxies, redirects) whose HTTP(S) sockets the watchdog can cut."""

    def watched(http_class: type[http.client.HTTPConnection]) -> type:
        class Watched(http_class):  # type: ignore[valid-type, misc]
            def connect(self) -> None:
                super().connect()
                watchdog.watch(self.sock)

        return Watched

    class Http(urllib.request.HTTPHandler):
        def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
            return super().do_open(watched(http_class), req, **kwargs)

    class Https(urllib.request.HTTPSHandler):
        def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
            return super().do_open(watched(http_class), req, **kwargs)

    return urllib.request.build_opener(Http, Https)


def _download(url: str, part: Path, size_hint: int, dest: Path, *, retries: int,
              backoff_s: float, stall_timeout_s: float, deadline_s: float, progress: bool,
              disk_usage: DiskUsage, sleep: Callable[[float], None],
              say: Callable[[str], None]) -> None:
    """Fetch ``url`` into ``part``, resuming from its current size, retrying on failure."""
    attempt = 0
    checked_space = False
    with _Watchdog(time.monotonic() + deadline_s) as watchdog:
        opener = _opener(watchdog)

        def past_deadline() -> DataError:
            have = part.stat().st_size if part.exists() else 0
            return DataError(f"download of {url} did not finish within the deadline of "
                             f"{deadline_s:g} s ({have:,} bytes so far); {_next_run(part)}, "
                             "or raise --deadline-s")

        while True:
            have = part.stat().st_size if part.exists() else 0
            try:
                _fetch_once(opener, url, part, have, size_hint, dest, stall_timeout_s,
                            progress, disk_usage, watchdog, check_space=not checked_space)
                return
            except _Retryable as exc:
                checked_space = checked_space or exc.after_space_check
                reason = str(exc)
            if watchdog.expired:
                raise past_deadline()
            if attempt >= retries:
                raise DataError(f"download of {url} failed after {attempt + 1} attempts "
                                f"({reason}); {_next_run(part)}")
            wait = backoff_s * 2**attempt
            if wait >= watchdog.remaining_s():
                raise past_deadline()
            attempt += 1
            what = "interrupted" if part.exists() and part.stat().st_size else "failed"
            say(f"download {what} ({reason}); retry {attempt}/{retries} in {wait:.1f} s")
            sleep(wait)


def _next_run(part: Path) -> str:
    """What the next run does: resume from the partial file, or (none yet) start over."""
    if part.exists() and part.stat().st_size:
        return f"run again to resume from {part}"
    return "nothing was downloaded; run again to retry"


def _unreachable(url: str, reason: object) -> str | None:
    """Why the host of ``url`` cannot be reached at all (no retry helps), or None.

    A name that does not resolve (no network, no DNS, a wrong host) and a refused or
    unroutable connection fail at once instead of backing off for a minute.
    """
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or url
    if isinstance(reason, socket.gaierror):
        return (f"cannot download {url}: host {host} not found ({reason.strerror or reason}): "
                "no network, or a wrong --url")
    if isinstance(reason, ConnectionRefusedError):
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        return f"cannot download {url}: {host}:{port} refused the connection"
    if isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"cannot download {url}: no route to {host} (no network?)"
    return None


class _Retryable(Exception):
    """A network failure worth another attempt."""

    def __init__(self, message: str, after_space_check: bool = False) -> None:
        super().__init__(message)
        self.after_space_check = after_space_check


def _fetch_once(opener: urllib.request.OpenerDirector, url: str, part: Path, have: int,
                size_hint: int, dest: Path, stall_timeout_s: float, progress: bool,
                disk_usage: DiskUsage, watchdog: _Watchdog, check_space: bool) -> None:
    """One HTTP request, appending to ``part``; returns when the whole file is there."""
    request = urllib.request.Request(url, headers={"User-Agent": "kws-download/1"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        # timeout: the socket's, i.e. the longest wait for any one byte (connect included)
        response = opener.open(request, timeout=stall_timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part file already holds the whole archive
            return
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Retryable(f"HTTP {exc.code} {exc.reason}") from None
        raise DataError(f"{url}: server answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        fatal = _unreachable(url, reason)
        if fatal is not None:
            raise DataError(fatal + (f"; run again to resume from {part}" if have else "")
                            ) from None
        if isinstance(reason, TimeoutError):
            reason = f"no answer for {stall_timeout_s:g} s"
        raise _Retryable(f"cannot connect: {reason}") from None
    with response:
        if watchdog.expired:  # cut while reading the headers: what arrived is not an answer
            raise _Retryable("deadline passed")
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
            _copy(response, out, start, total, progress, url, stall_timeout_s, watchdog)


def _copy(response: Any, out: BinaryIO, start: int, total: int | None, progress: bool,
          url: str, stall_timeout_s: float, watchdog: _Watchdog) -> int:
    """Copy the body to ``out``; returns bytes received. Network errors become _Retryable.

    read1 returns whatever one socket read brings, so the socket time-out
    (``stall_timeout_s``) is the longest wait for any byte; the watchdog bounds the total.
    """
    from tqdm import tqdm

    received = 0
    with tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
              desc=posixpath.basename(url) or "download", file=sys.stderr,
              disable=not progress) as bar:
        while True:
            try:
                chunk = response.read1(CHUNK_BYTES)
            except TimeoutError:
                out.flush()
                raise _Retryable(f"no data for {stall_timeout_s:g} s after "
                                 f"{start + received} bytes", after_space_check=True) from None
            except (OSError, http.client.HTTPException) as exc:
                out.flush()
                raise _Retryable(f"connection lost after {start + received} bytes: "
                                 f"{type(exc).__name__} {exc}", after_space_check=True) from None
            if watchdog.expired:  # the read returned because the watchdog cut the socket
                out.flush()
                raise _Retryable("deadline passed", after_space_check=True)
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


class _Budget:
    """What extraction may still write: bytes and members, counted as they are written."""

    def __init__(self, archive: Path, max_bytes: int, max_files: int) -> None:
        self.archive, self.max_bytes, self.max_files = archive, max_bytes, max_files
        self.bytes = 0
        self.files = 0

    def member(self, name: str) -> None:
        """Count one more archive member (file, folder, link or skipped entry)."""
        self.files += 1
        if self.files > self.max_files:
            raise ArchiveTooLargeError(
                f"{self.archive.name} has more than {self.max_files:,} members (at {name!r}); "
                "refusing it (raise --max-extract-files if this archive is genuine)")

    def declared(self, name: str, size: int) -> None:
        """Refuse a member whose declared size (bytes) would pass the byte limit."""
        if self.bytes + size > self.max_bytes:
            raise self._too_big(name, self.bytes + size)

    def written(self, name: str, size: int) -> None:
        """Count ``size`` bytes about to be written; refuse before passing the limit."""
        if self.bytes + size > self.max_bytes:
            raise self._too_big(name, self.bytes + size)
        self.bytes += size

    def _too_big(self, name: str, total: int) -> ArchiveTooLargeError:
        return ArchiveTooLargeError(
            f"{self.archive.name} unpacks to more than {self.max_bytes:,} bytes "
            f"({total:,} by member {name!r}); refusing it (raise --max-extract-bytes if this "
            "archive is genuine)")


class _CountingReader:
    """The decompressed archive stream, refused once it passes ``limit`` bytes.

    A backstop for what per-member checks do not see (tar headers, long-name and pax
    records): the whole decompressed stream is bounded, not only the files written.
    """

    def __init__(self, raw: BinaryIO, limit: int, archive: Path) -> None:
        self.raw, self.limit, self.archive = raw, limit, archive
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size >= 0 else CHUNK_BYTES)
        self.count += len(data)
        if self.count > self.limit:
            raise ArchiveTooLargeError(
                f"{self.archive.name} decompresses to more than {self.limit:,} bytes of tar "
                "stream; refusing it (raise --max-extract-bytes if this archive is genuine)")
        return data


def extract_safely(archive: Path, final: Path, progress: bool = False, *,
                   max_bytes: int = MAX_EXTRACT_BYTES,
                   max_files: int = MAX_EXTRACT_FILES) -> Path:
    """Extract the .tar.gz ``archive`` as the folder ``final``, or leave nothing behind.

    Members go into a hidden temporary folder beside ``final`` (kws.fileio.temp_name) first;
    only regular files, folders and links that stay inside are accepted. An absolute path,
    a ``..`` component, a member written through a link, a link whose real target
    (following the links extracted before it, component by component) is outside the
    folder, missing or a loop, a member that appears twice, a device or FIFO aborts with
    UnsafeArchiveError. More than ``max_bytes`` bytes of file data (declared sizes checked
    before a member is written, bytes counted while writing, hard links counted as copies)
    or more than ``max_files`` members aborts with ArchiveTooLargeError. On any error the
    temporary folder is removed. Archive permissions and owners are not applied (files
    0644, folders 0755). The folder is renamed to ``final`` once every member is out, every
    link re-checked and the layout checked.
    """
    if max_bytes <= 0 or max_files <= 0:
        raise DataError(f"max_bytes={max_bytes} and max_files={max_files} must be > 0")
    remove_stale_temps(final.parent)
    legacy = final.parent / f".{final.name}.extracting"  # the name used before kws.fileio
    if legacy.is_dir() and not legacy.is_symlink():
        shutil.rmtree(legacy)
    tmp = temp_name(final)
    tmp.mkdir(parents=True)
    budget = _Budget(archive, max_bytes, max_files)
    # tar headers, padding and long-name records: at most HEADER_BYTES per member on top
    stream_limit = max_bytes + (max_files + 1) * HEADER_BYTES
    try:
        real_root = os.path.realpath(tmp)
        links: list[Path] = []
        with gzip.open(archive, "rb") as raw:
            reader = _CountingReader(raw, stream_limit, archive)
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                from tqdm import tqdm

                with tqdm(unit=" files", desc="extract", file=sys.stderr,
                          disable=not progress) as bar:
                    for member in tar:
                        budget.member(member.name)
                        _extract_member(tar, member, tmp, real_root, archive, budget, links)
                        bar.update(1)
        for link in links:  # nothing extracted later may have changed where a link leads
            where = _resolve(real_root, os.path.dirname(link), os.readlink(link))
            if isinstance(where, _Refusal):
                raise UnsafeArchiveError(f"{archive.name}: refusing link "
                                         f"{link.relative_to(tmp).as_posix()!r}: {where}; "
                                         "nothing extracted")
        try:
            _check_layout(tmp, f"{archive.name} extracted, but it")
        except DataError as exc:
            raise UnsafeArchiveError(str(exc)) from None
        os.replace(tmp, final)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"{archive}: cannot extract ({type(exc).__name__}: {exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


class _Refusal(str):
    """Why a path does not resolve inside the extraction folder (a message fragment)."""


def _resolve(real_root: str, folder: str, path: str) -> str | _Refusal:
    """Resolve ``path`` relative to the real folder ``folder`` as the OS would, strictly.

    Walks one component at a time, following every symbolic link already on disk (at most
    MAX_LINK_HOPS), and never leaves ``real_root``, not even on the way. Returns the real
    absolute path, or a _Refusal when the path leaves ``real_root``, is absolute, names
    something missing, or loops. Unlike os.path.realpath, nothing falls back to a lexical
    guess (a missing component or a too-long path is refused, not assumed).
    """
    if path.startswith("/"):
        return _Refusal(f"absolute target {path!r}")
    pending = path.split("/")[::-1]
    current, hops = folder, 0
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            if current == real_root:
                return _Refusal(f"{path!r} leaves the extraction folder")
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, name)
        try:
            mode = os.lstat(candidate).st_mode
        except OSError as exc:
            return _Refusal(f"{path!r} names something that is not there "
                            f"({exc.strerror or type(exc).__name__})")
        if stat.S_ISLNK(mode):
            hops += 1
            if hops > MAX_LINK_HOPS:
                return _Refusal(f"{path!r} follows more than {MAX_LINK_HOPS} links (a loop?)")
            target = os.readlink(candidate)
            if target.startswith("/"):
                return _Refusal(f"{path!r} goes through a link to the absolute path {target!r}")
            pending.extend(target.split("/")[::-1])  # relative to the link's folder: current
            continue
        if pending and not stat.S_ISDIR(mode):
            return _Refusal(f"{path!r} goes through a file as if it were a folder")
        current = candidate
    return current


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, root: Path, real_root: str,
                    archive: Path, budget: _Budget, links: list[Path]) -> None:
    """Write one archive member under ``root`` after checking that it stays inside.

    ``real_root`` is os.path.realpath(root); created symbolic links are appended to
    ``links`` for the final re-check.
    """
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
    # Every existing folder on the way must be a real folder: never write through a link.
    walk = real_root
    for part in parts[:-1]:
        walk = os.path.join(walk, part)
        try:
            mode = os.lstat(walk).st_mode
        except FileNotFoundError:
            break  # from here on, mkdir creates real folders
        if not stat.S_ISDIR(mode):
            raise refuse("its folder is a link or a file")
    target = root.joinpath(*parts)
    parent = target.parent
    if os.path.lexists(target):
        if member.isdir() and os.path.isdir(target) and not os.path.islink(target):
            return  # a folder listed twice is harmless
        raise refuse("it appears twice in the archive (or replaces a folder or link)")
    if member.isdir():
        target.mkdir(parents=True)
        os.chmod(target, 0o755)
        return
    parent.mkdir(parents=True, exist_ok=True)
    if member.issym() or member.islnk():
        link = member.linkname.replace("\\", "/")
        if link.startswith("/") or (len(link) > 1 and link[1] == ":"):
            raise refuse(f"link to the absolute path {member.linkname!r}")
        # A symlink is relative to its folder, a hard link to the archive root; the target
        # must already be extracted (so later members cannot change where it leads).
        start = os.path.join(real_root, *parts[:-1]) if member.issym() else real_root
        where = _resolve(real_root, start, member.linkname if member.issym() else link)
        if isinstance(where, _Refusal):
            raise refuse(f"link target {where}")
        if member.issym():
            os.symlink(member.linkname, target)
            links.append(target)
            return
        if not stat.S_ISREG(os.lstat(where).st_mode):
            raise refuse(f"hard link to {member.linkname!r}, which is not an extracted file")
        budget.declared(name, os.path.getsize(where))
        with open(where, "rb") as source_fh:
            _write_new(target, source_fh, name, budget)
        return
    budget.declared(name, member.size)
    source_fh = tar.extractfile(member)
    if source_fh is None:
        raise refuse("no data")
    with source_fh:
        _write_new(target, source_fh, name, budget)


def _write_new(target: Path, source: BinaryIO, name: str, budget: _Budget) -> None:
    """Copy ``source`` into the new file ``target`` (0644), counting every byte."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(target, flags, 0o644), "wb") as out:
        while chunk := source.read(CHUNK_BYTES):
            budget.written(name, len(chunk))
            out.write(chunk)


def _check_layout(folder: Path, prefix: str) -> None:
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise DataError(f"{prefix} has no {missing[0]}: not a Speech Commands folder "
                        "(remove it or choose another --dest)")


_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 10**6, "mb": 10**6, "g": 10**9,
               "gb": 10**9, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes from "8GiB", "500MB", "1048576" (units: B, kB/MB/GB, KiB/MiB/GiB/TiB)."""
    number = text.strip().rstrip("bBiIkKmMgGtT ")
    unit = text.strip()[len(number):].strip().lower()
    try:
        value = float(number) * _SIZE_UNITS[unit]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 8GiB, 500MB, "
                                         "1048576)") from None
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1 byte")
    return int(value)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0 seconds")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``kws download`` and this script."""
    parser.add_argument("--version", choices=sorted(RELEASES), default="0.02",
                        help="dataset version (default: 0.02, 35 words, 105,829 clips)")
    parser.add_argument("--dest", type=Path, default=None,
                        help=f"folder that receives speech_commands_v<version> "
                             f"(default: {default_dest()})")
    parser.add_argument("--url", help="download from this URL instead, a mirror (default: "
                                      "the official https://download.tensorflow.org archive)")
    parser.add_argument("--sha256", help="expected sha256 of the archive (default: official)")
    parser.add_argument("--retries", type=int, default=5,
                        help="attempts after a failed one, with exponential back-off "
                             "(default: %(default)s)")
    parser.add_argument("--stall-timeout-s", type=_positive_seconds, default=STALL_TIMEOUT_S,
                        metavar="SECONDS",
                        help="an attempt fails (and is retried) after this many seconds "
                             f"without a byte from the server (default: {STALL_TIMEOUT_S:g})")
    parser.add_argument("--deadline-s", type=_positive_seconds, default=DEADLINE_S,
                        metavar="SECONDS",
                        help="give up the whole download after this many seconds, retries "
                             f"included; a later run resumes (default: {DEADLINE_S:g} = 6 h)")
    parser.add_argument("--max-extract-bytes", type=parse_size, default=MAX_EXTRACT_BYTES,
                        metavar="SIZE",
                        help="refuse an archive that unpacks to more file data than this "
                             "(e.g. 8GiB, 500MB; default: 8GiB, v0.02 needs ~3.4 GB)")
    parser.add_argument("--max-extract-files", type=_positive_int, default=MAX_EXTRACT_FILES,
                        metavar="N",
                        help="refuse an archive with more members than this (default: "
                             f"{MAX_EXTRACT_FILES:,}; v0.02 has ~105,900)")
    parser.add_argument("--keep-archive", action="store_true",
                        help="keep the .tar.gz after extraction")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Download with the parsed options; prints the dataset folder on stdout."""
    folder = download_speech_commands(args.dest, args.version, url=args.url,
                                      sha256=args.sha256, retries=args.retries,
                                      stall_timeout_s=args.stall_timeout_s,
                                      deadline_s=args.deadline_s,
                                      max_extract_bytes=args.max_extract_bytes,
                                      max_extract_files=args.max_extract_files,
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
    except KwsError as exc:
        print(f"download: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("download: interrupted (run again to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
