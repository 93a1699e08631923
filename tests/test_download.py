"""The Speech Commands download, for real over HTTP against a server on 127.0.0.1.

The server (http.server in a thread, our own handler with Range support) serves a small
.tar.gz built here from a few mini-corpus clips in the dataset's layout. It can drop the
connection half-way, ignore Range, or answer 404; it records every Range header it saw.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from data_scripts.download_speech_commands import download_speech_commands
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
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                header = self.headers.get("Range")
                server.ranges.append(header)
                if server.status != 200:
                    self.send_error(server.status)
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
    assert list(dest.iterdir()) == []


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
    assert list(dest.iterdir()) == []  # not a byte written


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
