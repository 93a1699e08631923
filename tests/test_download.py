"""The Speech Commands download, for real over HTTP against a server on 127.0.0.1.

The server (http.server in a thread, our own handler with Range support) serves a small
.tar.gz built here from a few mini-corpus clips in the dataset's layout. It can drop the
connection half-way, ignore Range, answer 404, or drip one byte at a time (in the body or in
the headers); it records every Range header it saw. Time-outs in these tests are fractions
of a second, so each takes at most a few seconds.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import socket
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from data_scripts.download_speech_commands import (
    MAX_EXTRACT_BYTES,
    MAX_EXTRACT_FILES,
    ArchiveTooLargeError,
    download_speech_commands,
    parse_size,
)
from data_scripts.download_speech_commands import main as script_main
from kws.cli import main
from kws.errors import DataError

NAME = "speech_commands_v0.02"
WORDS = {"yes": 2, "no": 2, "bed": 1}
"""Clips per word copied from the mini corpus into the test archive."""


def _members(mini_dir: Path) -> dict[str, bytes]:
    """Relative path -> bytes of a tiny dataset in the Speech Commands layout."""
    files: dict[str, bytes] = {}
    for word, count in WORDS.items():
        for path in sorted((mini_dir / word).glob("*.wav"))[:count]:
            files[f"{word}/{path.name}"] = path.read_bytes()
    names = sorted(files)
    files["validation_list.txt"] = (names[0] + "\n").encode()
    files["testing_list.txt"] = (names[1] + "\n").encode()
    return files


def _tar_gz(files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    """A .tar.gz with a "./" root like the official archive, plus ``extra`` raw members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        root = tarfile.TarInfo("./")
        root.type = tarfile.DIRTYPE
        tar.addfile(root)
        for word in sorted({name.split("/")[0] for name in files if "/" in name}):
            info = tarfile.TarInfo(f"./{word}")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"pwned") if info.isfile() else None)
    return buffer.getvalue()


class Server:
    """An HTTP server on 127.0.0.1 that serves one archive and records the requests."""

    def __init__(self) -> None:
        self.data = b""
        self.ranges: list[str | None] = []
        self.drops = 0
        """Number of next responses that stop after half of their body and hang up."""
        self.honour_range = True
        self.status = 200
        self.drip_s: float | None = None
        """Seconds between single bytes of the body (None: send it at once)."""
        self.drip_headers = False
        """Drip the header section instead (it never ends)."""
        server = self

        def drip(handler: http.server.BaseHTTPRequestHandler, data: bytes) -> None:
            """Write ``data`` one byte per ``drip_s`` until the client hangs up (<= 20 s)."""
            began = time.monotonic()
            for i in range(len(data)):
                if time.monotonic() - began > 20:
                    return
                try:
                    handler.wfile.write(data[i:i + 1])
                    handler.wfile.flush()
                except OSError:
                    return
                time.sleep(server.drip_s or 0.0)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                header = self.headers.get("Range")
                server.ranges.append(header)
                if server.status != 200:
                    self.send_error(server.status)
                    return
                if server.drip_headers:
                    self.close_connection = True
                    drip(self, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000)
                    return
                data, start = server.data, 0
                if header and server.honour_range:
                    match = re.fullmatch(r"bytes=(\d+)-", header)
                    assert match, header
                    start = int(match[1])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Content-Type", "application/gzip")
                self.end_headers()
                body = data[start:]
                if server.drops:
                    server.drops -= 1
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if server.drip_s is not None:
                    self.close_connection = True
                    drip(self, body)
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{NAME}.tar.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()

    def serve(self, data: bytes) -> str:
        """Serve ``data``; returns its sha256."""
        self.data = data
        return hashlib.sha256(data).hexdigest()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture(scope="module")
def files(mini_dir: Path) -> dict[str, bytes]:
    return _members(mini_dir)


def _get(server: Server, dest: Path, sha: str, **kwargs: object) -> Path:
    kwargs.setdefault("retries", 0)
    return download_speech_commands(dest, url=server.url, sha256=sha, progress=False,
                                    backoff_s=0.0, log=lambda message: None, **kwargs)


def _assert_dataset(folder: Path, files: dict[str, bytes]) -> None:
    found = {p.relative_to(folder).as_posix(): p.read_bytes()
             for p in folder.rglob("*") if p.is_file()}
    assert found == files


def test_clean_download_extracts_verifies_and_cleans_up(server: Server, files: dict[str, bytes],
                                                        tmp_path: Path) -> None:
    sha = server.serve(_tar_gz(files))
    dest = tmp_path / "data"
    folder = _get(server, dest, sha)
    assert folder == dest / NAME
    _assert_dataset(folder, files)
    assert server.ranges == [None]
    assert sorted(p.name for p in dest.iterdir()) == [NAME]  # no .part, archive or temp


def test_second_run_finds_the_dataset_and_does_nothing(server: Server, files: dict[str, bytes],
                                                       tmp_path: Path) -> None:
    sha = server.serve(_tar_gz(files))
    folder = _get(server, tmp_path, sha)
    stamp = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    messages: list[str] = []
    again = download_speech_commands(tmp_path, url=server.url, sha256=sha, progress=False,
                                     log=messages.append)
    assert again == folder
    assert server.ranges == [None]  # no second request
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == stamp
    assert "nothing to do" in messages[0]


def test_dropped_connection_resumes_with_a_range_request(server: Server,
                                                          files: dict[str, bytes],
                                                          tmp_path: Path) -> None:
    data = _tar_gz(files)
    sha = server.serve(data)
    server.drops = 1
    with pytest.raises(DataError, match="run again to resume"):
        _get(server, tmp_path, sha)
    part = tmp_path / f"{NAME}.tar.gz.part"
    assert part.stat().st_size == len(data) // 2
    assert not (tmp_path / NAME).exists()

    folder = _get(server, tmp_path, sha)
    assert server.ranges == [None, f"bytes={len(data) // 2}-"]
    _assert_dataset(folder, files)
    assert not part.exists()


def test_retries_with_backoff_within_one_run(server: Server, files: dict[str, bytes],
                                             tmp_path: Path) -> None:
    data = _tar_gz(files)
    sha = server.serve(data)
    server.drops = 2
    waits: list[float] = []
    folder = download_speech_commands(tmp_path, url=server.url, sha256=sha, progress=False,
                                      retries=3, backoff_s=0.5, sleep=waits.append,
                                      log=lambda message: None)
    half = len(data) // 2
    second = half + (len(data) - half) // 2
    assert server.ranges == [None, f"bytes={half}-", f"bytes={second}-"]
    assert waits == [0.5, 1.0]  # exponential back-off
    _assert_dataset(folder, files)


def test_server_ignoring_range_restarts_from_scratch(server: Server, files: dict[str, bytes],
                                                     tmp_path: Path) -> None:
    sha = server.serve(_tar_gz(files))
    server.drops, server.honour_range = 1, False
    folder = _get(server, tmp_path, sha, retries=1)
    assert len(server.ranges) == 2 and server.ranges[1] is not None
    _assert_dataset(folder, files)


def test_wrong_checksum_is_a_clear_error_and_leaves_nothing(server: Server,
                                                            files: dict[str, bytes],
                                                            tmp_path: Path) -> None:
    server.serve(_tar_gz(files))
    dest = tmp_path / "data"
    with pytest.raises(DataError, match=r"checksum mismatch .* expected 0{64}"):
        _get(server, dest, "0" * 64)
    assert not dest.exists()   # the bad archive is deleted, and the folder this run made


def test_full_disk_is_refused_before_downloading(server: Server, files: dict[str, bytes],
                                                 tmp_path: Path) -> None:
    sha = server.serve(_tar_gz(files))
    dest = tmp_path / "data"
    asked: list[Path] = []

    def tiny_disk(path: str | Path) -> SimpleNamespace:
        asked.append(Path(path))
        return SimpleNamespace(free=1000)

    with pytest.raises(DataError, match="not enough disk space .* 0.00 GB free"):
        _get(server, dest, sha, disk_usage=tiny_disk)
    assert asked == [dest]
    assert not dest.exists()  # not a byte written, and the folder this run made is gone


def test_http_error_is_not_retried(server: Server, tmp_path: Path) -> None:
    server.status = 404
    with pytest.raises(DataError, match="HTTP 404"):
        _get(server, tmp_path, "0" * 64, retries=3)
    assert len(server.ranges) == 1


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(b"pwned")
    return info


def _special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


def _dir(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


def _chain(length: int = 11) -> list[tarfile.TarInfo]:
    """q -> ., p1 -> q/.., p2 -> p1/.., ...: each lexically inside, together leading to /."""
    return [_link("./q", "."), _link("./p1", "q/.."),
            *(_link(f"./p{i}", f"p{i - 1}/..") for i in range(2, length + 1))]


UP = "../../../"
"""From the extraction folder (DEST/.speech_commands_v0.02.extracting, DEST = tmp/data/sub)
up to tmp, where the "outside" folder is."""
UNSAFE = {
    "dotdot": lambda outside: [_file(f"./{UP}outside/evil.txt")],
    "absolute": lambda outside: [_file(str(outside / "evil.txt"))],
    "symlink_out": lambda outside: [_link("./escape", f"{UP}outside")],
    "symlink_out_then_write": lambda outside: [_link("./escape", f"{UP}outside"),
                                               _file("./escape/evil.txt")],
    "symlink_absolute": lambda outside: [_link("./escape", str(outside))],
    "symlink_to_self_then_up": lambda outside: [_link("./here", "."),
                                                _file(f"./here/{UP}outside/evil.txt")],
    "write_through_inner_link": lambda outside: [_link("./here", "."),
                                                 _link("./here/up", f"{UP}outside")],
    "hardlink_out": lambda outside: [_link("./evil.txt", f"{UP}outside/secret.txt",
                                           tarfile.LNKTYPE)],
    "symlink_chain_to_root": lambda outside: _chain(),
    "symlink_chain_then_write": lambda outside: [*_chain(), _file("./p11/tmp/evil.txt")],
    "hardlink_through_self_link": lambda outside: [
        _link("./q", "."), _link("./evil.txt", f"q/{UP}outside/secret.txt", tarfile.LNKTYPE)],
    "symlink_dangling_until_filled": lambda outside: [
        _link("./a", "x/y/../.."), _dir("./x"), _link("./x/y", "..")],
    "symlink_loop": lambda outside: [_link("./a", "b"), _link("./b", "a")],
    "duplicate_member": lambda outside: [_file("./validation_list.txt")],
    "link_replaced_by_file": lambda outside: [_link("./l", "yes"), _file("./l")],
    "fifo": lambda outside: [_special("./yes/fifo", tarfile.FIFOTYPE)],
    "device": lambda outside: [_special("./yes/dev", tarfile.CHRTYPE)],
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_archive_is_refused_and_writes_nothing_outside(
        case: str, server: Server, files: dict[str, bytes], tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    dest = tmp_path / "data" / "sub"
    sha = server.serve(_tar_gz(files, UNSAFE[case](outside)))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(DataError, match="refusing member"):
        _get(server, dest, sha)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")
                   if dest not in (p, *p.parents) and p != dest.parent)
    assert after == before  # nothing written outside dest
    assert list(dest.iterdir()) == []  # no archive, no temporary folder, no dataset
    assert (outside / "secret.txt").read_text() == "secret"


def test_safe_inner_symlink_is_kept(server: Server, files: dict[str, bytes],
                                    tmp_path: Path) -> None:
    sha = server.serve(_tar_gz(files, [_link("./yes/alias.wav", "../validation_list.txt")]))
    folder = _get(server, tmp_path, sha)
    alias = folder / "yes" / "alias.wav"
    assert alias.is_symlink() and alias.read_bytes() == files["validation_list.txt"]


def test_archive_without_the_dataset_layout_is_refused(server: Server, tmp_path: Path) -> None:
    sha = server.serve(_tar_gz({"yes/a.wav": b"RIFF"}))
    with pytest.raises(DataError, match="has no validation_list.txt"):
        _get(server, tmp_path, sha)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown Speech Commands version '0.03'"):
        download_speech_commands(tmp_path, "0.03")
    with pytest.raises(DataError, match="not 64 hex digits"):
        download_speech_commands(tmp_path, sha256="abc")


def test_kws_download_command(server: Server, files: dict[str, bytes], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    sha = server.serve(_tar_gz(files))
    argv = ["download", "--dest", str(tmp_path), "--url", server.url, "--sha256", sha,
            "--no-progress"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / NAME)
    _assert_dataset(tmp_path / NAME, files)
    server.status = 404
    assert main(["download", "--dest", str(tmp_path / "other"), "--url", server.url,
                 "--retries", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kws download: error:") and "HTTP 404" in err and "\n" not in err


def test_symlink_chain_is_refused_at_its_first_escaping_link(
        server: Server, files: dict[str, bytes], tmp_path: Path) -> None:
    sha = server.serve(_tar_gz(files, _chain()))
    dest = tmp_path / "data"
    with pytest.raises(DataError, match=r"refusing member './p1': link target 'q/\.\.' leaves "
                                        "the extraction folder"):
        _get(server, dest, sha)
    assert list(tmp_path.iterdir()) == [dest] and list(dest.iterdir()) == []


def test_link_inside_through_an_inner_link_is_kept(server: Server, files: dict[str, bytes],
                                                   tmp_path: Path) -> None:
    extra = [_link("./here", "."), _link("./yes/list.txt", "../here/testing_list.txt")]
    sha = server.serve(_tar_gz(files, extra))
    folder = _get(server, tmp_path, sha)
    assert (folder / "yes" / "list.txt").read_bytes() == files["testing_list.txt"]


def _zeros(name: str, size: int) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = size
    return info, bytes(size)


def _tar_gz_with(files: dict[str, bytes], members: list[tuple[tarfile.TarInfo, bytes | None]],
                 pax: dict[str, str] | None = None) -> bytes:
    """The test dataset, then ``members`` (info, data or None); PAX format when ``pax``."""
    buffer = io.BytesIO()
    fmt = tarfile.PAX_FORMAT if pax else tarfile.GNU_FORMAT
    with tarfile.open(fileobj=buffer, mode="w:gz", format=fmt, pax_headers=pax) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info, data in members:
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return buffer.getvalue()


def _only_archive_left(dest: Path) -> None:
    """No dataset, no temporary folder: only the verified archive, kept for a retry."""
    assert sorted(p.name for p in dest.iterdir()) == [f"{NAME}.tar.gz"]


def test_archive_past_the_byte_limit_is_refused_at_the_member(
        server: Server, files: dict[str, bytes], tmp_path: Path) -> None:
    big = _zeros("./yes/big.wav", 3_000_000)  # 3 MB of zeros: ~3 kB compressed
    data = _tar_gz_with(files, [big])
    assert len(data) < len(_tar_gz(files)) + 10_000  # the bomb adds < 10 kB to the archive
    sha = server.serve(data)
    dest = tmp_path / "data"
    with pytest.raises(ArchiveTooLargeError,
                       match=r"unpacks to more than 1,000,000 bytes \(3,\d{3},\d{3} by member "
                             r"'\./yes/big\.wav'\).*--max-extract-bytes.*archive is kept"):
        _get(server, dest, sha, max_extract_bytes=1_000_000)
    _only_archive_left(dest)
    assert list(tmp_path.iterdir()) == [dest]
    # the kept archive extracts with a higher bound, without downloading again
    folder = _get(server, dest, sha, max_extract_bytes=10_000_000)
    assert (folder / "yes" / "big.wav").stat().st_size == 3_000_000
    assert server.ranges == [None]


def test_hard_links_count_as_the_bytes_they_copy(server: Server, files: dict[str, bytes],
                                                 tmp_path: Path) -> None:
    # declared size of a hard link is 0: only counting what is written catches this
    links = [(_link(f"./yes/copy{i}.wav", "./yes/big.wav", tarfile.LNKTYPE), None)
             for i in range(5)]
    sha = server.serve(_tar_gz_with(files, [_zeros("./yes/big.wav", 600_000), *links]))
    dest = tmp_path / "data"
    limit = 2_000_000 + sum(len(b) for b in files.values())
    with pytest.raises(ArchiveTooLargeError, match=r"by member '\./yes/copy2\.wav'"):
        _get(server, dest, sha, max_extract_bytes=limit)
    _only_archive_left(dest)


def test_archive_past_the_member_limit_is_refused(server: Server, files: dict[str, bytes],
                                                  tmp_path: Path) -> None:
    many = [_zeros(f"./bed/x{i:03d}.wav", 0) for i in range(50)]
    sha = server.serve(_tar_gz_with(files, many))
    dest = tmp_path / "data"
    limit = len(files) + 20
    with pytest.raises(ArchiveTooLargeError,
                       match=rf"more than {limit} members \(at '\./bed/x020\.wav'\)"):
        _get(server, dest, sha, max_extract_files=limit)
    _only_archive_left(dest)


def test_huge_tar_headers_are_bounded_too(server: Server, files: dict[str, bytes],
                                          tmp_path: Path) -> None:
    # a 3 MB pax record writes no file at all: the decompressed stream itself is bounded
    sha = server.serve(_tar_gz_with(files, [], pax={"comment": "x" * 3_000_000}))
    dest = tmp_path / "data"
    with pytest.raises(ArchiveTooLargeError, match="decompresses to more than"):
        _get(server, dest, sha, max_extract_bytes=500_000, max_extract_files=100)
    _only_archive_left(dest)


def test_default_bounds_fit_the_real_archive_with_margin() -> None:
    clips, clip_bytes = 105_829, 32_044  # v0.02: one-second 16-bit clips + 44-byte header
    assert MAX_EXTRACT_FILES >= 1.5 * (clips + 100)
    assert MAX_EXTRACT_BYTES >= 2 * clips * clip_bytes
    assert parse_size("8GiB") == MAX_EXTRACT_BYTES == 8 * 2**30
    assert parse_size("500MB") == 500_000_000 and parse_size("1048576") == 1 << 20


def _left_behind(tmp_path: Path, dest: Path) -> list[str]:
    """What a failed run left in ``dest``: [] when it left nothing (a folder it made and
    that stayed empty is removed again)."""
    assert list(tmp_path.iterdir()) in ([dest], [])  # nothing beside dest
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_stalled_server_times_out_and_the_download_resumes_later(
        server: Server, files: dict[str, bytes], tmp_path: Path) -> None:
    data = _tar_gz(files)
    sha = server.serve(data)
    server.drip_s = 2.0  # one byte, then silence longer than the stall time-out
    dest = tmp_path / "data"
    began = time.monotonic()
    with pytest.raises(DataError, match=r"failed after 1 attempts \(no data for 0.3 s after "
                                        r"1 bytes\); run again to resume"):
        _get(server, dest, sha, stall_timeout_s=0.3)
    assert time.monotonic() - began < 5.0  # without the time-out: 20 s of drip
    assert _left_behind(tmp_path, dest) == [f"{NAME}.tar.gz.part"]
    assert (dest / f"{NAME}.tar.gz.part").read_bytes() == data[:1]
    server.drip_s = None
    folder = _get(server, dest, sha, stall_timeout_s=0.3)
    assert server.ranges == [None, "bytes=1-"]
    _assert_dataset(folder, files)


@pytest.mark.parametrize("where", ["body", "headers"])
def test_dripping_server_hits_the_deadline(where: str, server: Server,
                                           files: dict[str, bytes], tmp_path: Path) -> None:
    sha = server.serve(_tar_gz(files))
    server.drip_s = 0.05  # a byte every 50 ms: never silent for the 2 s stall time-out
    server.drip_headers = where == "headers"
    dest = tmp_path / "data"
    began = time.monotonic()
    # a partial body is resumed; headers alone leave no file, so none is named
    then = "run again to resume" if where == "body" else "nothing was downloaded; run again"
    with pytest.raises(DataError, match=r"did not finish within the deadline of 0.6 s "
                                        r"\(\d+ bytes so far\); " + then):
        _get(server, dest, sha, stall_timeout_s=2.0, deadline_s=0.6, retries=3)
    assert 0.55 < time.monotonic() - began < 5.0  # a dripping server would hold on for 20 s
    assert len(server.ranges) == 1  # no retry once the deadline has passed
    left = _left_behind(tmp_path, dest)
    assert left == ([f"{NAME}.tar.gz.part"] if where == "body" else [])
    if where == "body":
        assert 3 <= (dest / f"{NAME}.tar.gz.part").stat().st_size < 30


def test_kws_download_flags_for_time_outs_and_bounds(server: Server, files: dict[str, bytes],
                                                      tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    sha = server.serve(_tar_gz(files))
    base = ["download", "--url", server.url, "--sha256", sha, "--no-progress", "--retries", "0"]
    server.drip_s = 2.0
    assert main([*base, "--dest", str(tmp_path / "a"), "--stall-timeout-s", "0.3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kws download: error:") and "no data for 0.3 s" in err
    assert "\n" not in err
    server.drip_s = 0.05
    assert main([*base, "--dest", str(tmp_path / "b"), "--deadline-s", "0.4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "within the deadline of 0.4 s" in err and "\n" not in err
    server.drip_s = None
    assert main([*base, "--dest", str(tmp_path / "c"), "--max-extract-files", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "more than 3 members" in err and "\n" not in err
    assert main([*base, "--dest", str(tmp_path / "d"), "--max-extract-bytes", "1kB"]) == 2
    err = capsys.readouterr().err.strip()
    assert "more than 1,000 bytes" in err and "\n" not in err
    assert not (tmp_path / "c" / NAME).exists() and not (tmp_path / "d" / NAME).exists()
    # the script takes the same flags and prints the same one line
    assert script_main([*base[1:], "--dest", str(tmp_path / "c"), "--max-extract-files",
                        "3"]) == 2
    found, err = capsys.readouterr().err.strip().split("\n")  # reuses the kept archive
    assert found.startswith("found ") and found.endswith("; verifying it")
    assert err.startswith("download: error:") and "more than 3 members" in err
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [f"{NAME}.tar.gz"]
    with pytest.raises(SystemExit):
        main([*base, "--dest", str(tmp_path / "e"), "--max-extract-bytes", "lots"])
    assert "'lots' is not a size" in capsys.readouterr().err


def _free_port() -> int:
    """A local port with nothing listening on it (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("url, said", [
    ("http://nonexistent.invalid/speech_commands_v0.02.tar.gz",
     "host nonexistent.invalid not found"),
    ("refused", "refused the connection"),
])
def test_unreachable_host_fails_at_once_in_one_line(url: str, said: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    if url == "refused":
        url = f"http://127.0.0.1:{_free_port()}/speech_commands_v0.02.tar.gz"
    dest = tmp_path / "data"
    began = time.monotonic()
    # the default retries (5, back-off 2 s doubling: 62 s of waiting) must not apply
    assert main(["download", "--dest", str(dest), "--url", url, "--no-progress"]) == 2
    assert time.monotonic() - began < 5.0
    err = capsys.readouterr().err.strip()
    assert err.startswith("kws download: error: cannot download ") and said in err, err
    assert "\n" not in err and "retry" not in err and "interrupted" not in err
    assert ".part" not in err  # nothing was written, so no partial file is named
    assert not dest.exists()   # the folder this run made is not left behind, empty


def test_official_archive_is_fetched_over_https() -> None:
    from data_scripts.download_speech_commands import RELEASES

    assert all(r.url.startswith("https://download.tensorflow.org/") for r in RELEASES.values())


def test_nothing_downloaded_is_not_called_a_resume(server: Server, tmp_path: Path) -> None:
    server.status = 503  # retryable, and not a byte arrives
    with pytest.raises(DataError, match=r"failed after 2 attempts \(HTTP 503 .*\); nothing "
                                        r"was downloaded; run again to retry$"):
        _get(server, tmp_path / "data", "0" * 64, retries=1)


def test_a_failed_run_keeps_a_destination_that_was_already_there(tmp_path: Path,
                                                                 capsys) -> None:
    dest = tmp_path / "mine"
    dest.mkdir()
    url = f"http://127.0.0.1:{_free_port()}/speech_commands_v0.02.tar.gz"
    assert main(["download", "--dest", str(dest), "--url", url, "--no-progress"]) == 2
    assert "refused the connection" in capsys.readouterr().err
    assert dest.is_dir() and list(dest.iterdir()) == []
