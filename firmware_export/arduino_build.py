"""Compile an exported sketch folder for the Arduino Nano 33 BLE (Sense) the way the Arduino
builder does, without the Arduino tools: the flags come from the board package's own files.

    platform.txt   recipe.cpp.o.pattern / recipe.c.o.pattern and the compiler.* properties
    boards.txt     the ``nano33ble.*`` entries (mcu, float ABI, FPU, variant, the mbed flag files)
    variant folder defines.txt, cxxflags.txt / cflags.txt (``@file`` arguments) and includes.txt
                   (``-iwithprefixbefore`` folders under ``-iprefix<core>``)
      -> one compiler command per source: the sketch's .ino as C++ with ``#include <Arduino.h>``
         prepended (the builder's .ino.cpp), its .cpp files as C++, its .c files as C

The properties are expanded as the builder does ({name} replaced until none is left; the
board's entries override the platform's). What the builder would know from its own
installation is given here: ``runtime.platform.path`` (the ArduinoCore-mbed folder),
``runtime.ide.version`` (10607, arduino-cli's), ``build.arch`` (MBED_NANO, the architecture
of the FQBN arduino:mbed_nano:nano33ble), the compiler from PATH (``arm-none-eabi-``, instead of
the package's gcc 7 download), ``{includes}`` (core, variant, the libraries' ``src`` folders)
and ``compiler.warning_flags`` (-Wall -Wextra -Werror; the core's, mbed-os's and the libraries'
headers compile cleanly with them under arm-none-eabi-gcc 12, so none needs -isystem). Not
done: the builder's library discovery, its prototype generation (the sketch declares its
functions itself) and linking (libmbed.a is not in the offline snapshot of the core, see
../shared/third_party/README.md).

Build products go to a folder the caller chooses; errors are ExportError with the compiler's
first error line.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from firmware_export import ExportError
from firmware_export.cbuild import run_tool

THIRD_PARTY = Path(__file__).resolve().parents[2] / "shared" / "third_party"
"""../shared/third_party beside the checkout (read-only copies of the board package)."""
CORE_DIR = THIRD_PARTY / "ArduinoCore-mbed"
"""The Arduino core of the Nano 33 BLE (platform.txt, boards.txt, cores/, variants/, libraries/)."""
TFLITE_LIBRARY_DIR = THIRD_PARTY / "Arduino_TensorFlowLite"
"""The Arduino_TensorFlowLite library as a user clones it into ~/Arduino/libraries."""
BOARD = "nano33ble"
"""The boards.txt entry of the Nano 33 BLE and the Nano 33 BLE Sense (FQBN
arduino:mbed_nano:nano33ble)."""
ARCH = "MBED_NANO"
"""{build.arch}: the builder upper-cases the FQBN's architecture (mbed_nano)."""
IDE_VERSION = "10607"
"""{runtime.ide.version} as arduino-cli sets it (-DARDUINO=10607)."""
STRICT_WARNINGS = ("-Wall", "-Wextra", "-Werror")
"""compiler.warning_flags for our own files."""
LIBRARIES = ("PDM", "Wire")
"""Libraries of the core the sketch needs (their src/ folders go on the include path): PDM for
the microphone, Wire because Arduino_TensorFlowLite's peripherals.h includes Wire.h (the
builder finds both by its library discovery)."""
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.\-]+)\}")


def read_properties(path: str | Path) -> dict[str, str]:
    """The ``key=value`` lines of an Arduino properties file (platform.txt, boards.txt,
    library.properties); comments (#) and blank lines skipped, later keys win."""
    props: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot read {path}: {exc.strerror}") from None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        props[key.strip()] = value.strip()
    return props


def board_properties(boards: Mapping[str, str], board: str = BOARD) -> dict[str, str]:
    """The entries of ``board`` in boards.txt without the ``board.`` prefix (menu options
    other than the defaults are not applied). Raises ExportError for an unknown board."""
    prefix = board + "."
    props = {k[len(prefix):]: v for k, v in boards.items() if k.startswith(prefix)}
    if not props:
        raise ExportError(f"boards.txt has no entry {board!r}")
    return props


def expand(template: str, props: Mapping[str, str], max_depth: int = 20) -> str:
    """Replace every ``{name}`` by its property, again and again until none is left (as the
    builder does). Raises ExportError naming a placeholder no property defines."""
    text = template
    for _ in range(max_depth):
        new = _PLACEHOLDER.sub(lambda m: props.get(m.group(1), m.group(0)), text)
        if new == text:
            break
        text = new
    left = _PLACEHOLDER.search(text)
    if left:
        raise ExportError(f"no property {left.group(1)!r} for the compile recipe")
    return text


@dataclasses.dataclass(frozen=True)
class NanoBuild:
    """The Nano 33 BLE's compile recipes, read from a board package folder."""

    core_dir: Path
    """The ArduinoCore-mbed folder (platform.txt, boards.txt)."""
    props: dict[str, str]
    """Platform properties overridden by the board's and by what the builder supplies."""
    library_dirs: tuple[Path, ...]
    """Folders of the libraries (each with src/)."""

    @property
    def core_path(self) -> Path:
        """{build.core.path}: cores/<build.core>."""
        return Path(self.props["build.core.path"])

    @property
    def variant_path(self) -> Path:
        """{build.variant.path}: variants/<build.variant>."""
        return Path(self.props["build.variant.path"])

    def include_dirs(self, sketch_dir: str | Path | None = None) -> list[Path]:
        """{includes}: the core, the variant, each library's src/ (and the sketch folder)."""
        dirs = [self.core_path, self.variant_path]
        dirs += [d / "src" if (d / "src").is_dir() else d for d in self.library_dirs]
        if sketch_dir is not None:
            dirs.append(Path(sketch_dir))
        return dirs

    def command(self, kind: str, source: str | Path, obj: str | Path,
                include_dirs: Sequence[str | Path],
                warning_flags: Sequence[str] = STRICT_WARNINGS) -> list[str]:
        """The compiler command of recipe.<kind>.o.pattern (kind "cpp" or "c") for one
        source, as a list of arguments (the ``@file`` arguments kept: the compiler reads
        them from the variant folder)."""
        if kind not in ("cpp", "c"):
            raise ExportError(f"kind={kind!r} must be 'cpp' or 'c'")
        props = dict(self.props)
        props["compiler.warning_flags"] = " ".join(warning_flags)
        props["includes"] = " ".join(shlex.quote(f"-I{d}") for d in include_dirs)
        props["source_file"] = str(source)
        props["object_file"] = str(obj)
        line = expand(props[f"recipe.{kind}.o.pattern"], props)
        return shlex.split(line)


def load_nano_build(core_dir: str | Path = CORE_DIR,
                    library_dirs: Sequence[str | Path] | None = None,
                    board: str = BOARD) -> NanoBuild:
    """Read platform.txt and boards.txt of the board package in ``core_dir``.

    ``library_dirs``: the libraries on the include path (default: the core's PDM library and
    Arduino_TensorFlowLite). Raises ExportError when a file or folder is missing.
    """
    core = Path(core_dir)
    platform = read_properties(core / "platform.txt")
    props = {**platform, **board_properties(read_properties(core / "boards.txt"), board)}
    props.update({
        "runtime.platform.path": str(core),
        "runtime.ide.version": IDE_VERSION,
        "build.arch": ARCH,
        "build.core.path": "{runtime.platform.path}/cores/{build.core}",
        "build.variant.path": "{runtime.platform.path}/variants/{build.variant}",
        "build.compiler_path": "",   # arm-none-eabi-* from PATH
    })
    for key in ("build.core.path", "build.variant.path"):
        props[key] = expand(props[key], props)
    if library_dirs is None:
        library_dirs = [core / "libraries" / name for name in LIBRARIES] + [TFLITE_LIBRARY_DIR]
    libs = tuple(Path(d) for d in library_dirs)
    for folder in (Path(props["build.core.path"]), Path(props["build.variant.path"]), *libs):
        if not folder.is_dir():
            raise ExportError(f"{folder}: no such folder (the Nano 33 BLE board package and "
                              "libraries are expected in ../shared/third_party)")
    return NanoBuild(core_dir=core, props=props, library_dirs=libs)


def ino_cpp(ino: str | Path) -> str:
    """The builder's .ino.cpp of a sketch: ``#include <Arduino.h>``, a #line back to the
    .ino, then the .ino unchanged."""
    path = Path(ino)
    text = path.read_text(encoding="utf-8")
    return f'#include <Arduino.h>\n#line 1 "{path.name}"\n{text}'


def compile_sketch(sketch_dir: str | Path, build_dir: str | Path,
                   build: NanoBuild | None = None,
                   warning_flags: Sequence[str] = STRICT_WARNINGS,
                   timeout: float = 600) -> list[Path]:
    """Compile every source of an exported sketch folder for the Nano 33 BLE (no linking).

    The folder is copied to ``build_dir``/sketch (as the builder copies it), the .ino becomes
    <name>.ino.cpp; .ino and .cpp go through recipe.cpp.o.pattern, .c through
    recipe.c.o.pattern, with ``warning_flags`` (default -Wall -Wextra -Werror). Returns the
    object files. Raises ExportError with the first error line of a failed compile.
    """
    build = build or load_nano_build()
    src = Path(sketch_dir)
    out = Path(build_dir)
    copy = out / "sketch"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(src, copy)
    if shutil.which(build.props.get("build.crossprefix", "arm-none-eabi-") + "g++") is None:
        raise ExportError("arm-none-eabi-g++ not found: install gcc-arm-none-eabi and "
                          "libstdc++-arm-none-eabi-newlib")
    inos = sorted(copy.glob("*.ino"))
    if len(inos) != 1 or inos[0].stem != src.name:
        raise ExportError(f"{src} must hold exactly one .ino named {src.name}.ino")
    jobs: list[tuple[str, Path]] = []
    main = copy / f"{inos[0].name}.cpp"
    main.write_text(ino_cpp(inos[0]), encoding="utf-8")
    jobs.append(("cpp", main))
    jobs += [("cpp", p) for p in sorted(copy.glob("*.cpp")) if p != main]
    jobs += [("c", p) for p in sorted(copy.glob("*.c"))]
    includes = build.include_dirs()
    objects = []
    for kind, source in jobs:
        obj = out / (source.name + ".o")
        cmd = build.command(kind, source, obj, includes, warning_flags)
        run_tool(cmd, source.name, timeout, cwd=copy)
        objects.append(obj)
    return objects
