"""The exported sketch compiled for the real Nano 33 BLE (Sense), with the board's own flags.

firmware_export.arduino_build reads the compile recipes from the board package's platform.txt
and boards.txt (../shared/third_party/ArduinoCore-mbed) and compiles an export's sketch folder
as the Arduino builder does: the .ino as C++ with ``#include <Arduino.h>`` prepended, against
the Arduino core, mbed-os, the PDM and Wire libraries and Arduino_TensorFlowLite, with
-Wall -Wextra -Werror. Compile only: libmbed.a is not in the offline snapshot, so nothing links.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from firmware_export import ExportError
from firmware_export.arduino_build import (
    CORE_DIR,
    TFLITE_LIBRARY_DIR,
    compile_sketch,
    expand,
    ino_cpp,
    load_nano_build,
    read_properties,
)
from firmware_export.export import SKETCH_NAME, export_model

REPO = Path(__file__).resolve().parents[1]
SKETCH = REPO / "firmware_export" / "arduino" / f"{SKETCH_NAME}.ino"


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} required")


@pytest.fixture(scope="module")
def board_package() -> Path:
    if not (CORE_DIR / "platform.txt").is_file() or not TFLITE_LIBRARY_DIR.is_dir():
        pytest.fail(f"the Nano 33 BLE board package is expected in {CORE_DIR.parent}")
    return CORE_DIR


@pytest.fixture(scope="module")
def sketch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = export_model(None, tmp_path_factory.mktemp("nano") / "nano", "nano33ble")
    return result.source_dir


@pytest.fixture(scope="module")
def objects(sketch_dir: Path, board_package: Path,
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    _need("arm-none-eabi-g++", "arm-none-eabi-gcc")
    build = tmp_path_factory.mktemp("nano_build")
    return {p.name: p for p in compile_sketch(sketch_dir, build, load_nano_build(board_package))}


def test_flags_are_the_nano33ble_recipe(board_package: Path) -> None:
    """The command of recipe.cpp.o.pattern holds the board's flags (third_party README)."""
    build = load_nano_build(board_package)
    variant = board_package / "variants" / "ARDUINO_NANO33BLE"
    core = board_package / "cores" / "arduino"
    cpp = build.command("cpp", "s.cpp", "s.o", build.include_dirs())
    for flag in ("-mcpu=cortex-m4", "-mfloat-abi=softfp", "-mfpu=fpv4-sp-d16", "-DARDUINO=10607",
                 "-DARDUINO_ARDUINO_NANO33BLE", "-DARDUINO_ARCH_MBED",
                 "-DARDUINO_ARCH_NRF52840", f"@{variant / 'defines.txt'}",
                 f"@{variant / 'cxxflags.txt'}", f"-iprefix{core}",
                 f"@{variant / 'includes.txt'}", "-Wall", "-Wextra", "-Werror",
                 f"-I{core}", f"-I{variant}", f"-I{TFLITE_LIBRARY_DIR / 'src'}",
                 f"-I{board_package / 'libraries' / 'PDM' / 'src'}"):
        assert flag in cpp, flag
    assert cpp[0] == "arm-none-eabi-g++" and cpp[-2:] == ["-o", "s.o"]
    assert f"@{variant / 'cflags.txt'}" not in cpp
    c = build.command("c", "s.c", "s.o", build.include_dirs())
    assert c[0] == "arm-none-eabi-gcc" and f"@{variant / 'cflags.txt'}" in c
    assert f"@{variant / 'cxxflags.txt'}" not in c
    # what the @files say: C++14 without RTTI or exceptions, -Os, unsigned char
    cxxflags = (variant / "cxxflags.txt").read_text().split()
    assert {"-std=gnu++14", "-fno-rtti", "-fno-exceptions", "-Os", "-funsigned-char"} <= \
        set(cxxflags)


def test_flags_come_from_platform_and_boards_txt(board_package: Path, tmp_path: Path) -> None:
    """Change boards.txt and platform.txt: the commands change with them (nothing is
    hard-coded)."""
    fake = tmp_path / "core"
    fake.mkdir()
    for name in ("cores", "variants", "libraries"):
        (fake / name).symlink_to(board_package / name)
    boards = (board_package / "boards.txt").read_text()
    (fake / "boards.txt").write_text(boards.replace("nano33ble.build.float-abi=-mfloat-abi=softfp",
                                                    "nano33ble.build.float-abi=-mfloat-abi=hard"))
    platform = (board_package / "platform.txt").read_text()
    (fake / "platform.txt").write_text(platform.replace("-g3 -nostdlib", "-g1 -nostdlib"))
    build = load_nano_build(fake)
    cpp = build.command("cpp", "s.cpp", "s.o", [])
    assert "-mfloat-abi=hard" in cpp and "-mfloat-abi=softfp" not in cpp
    assert "-g1" in cpp and "-g3" not in cpp
    with pytest.raises(ExportError, match="no property 'nope'"):
        expand("{compiler.path}{nope}", build.props)


def test_properties_parser(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("# comment\n\na.b=1\nc = x=y \na.b=2\nnot a property\n")
    assert read_properties(path) == {"a.b": "2", "c": "x=y"}
    assert expand("{a}-{b}", {"a": "{b}{b}", "b": "z"}) == "zz-z"


def test_ino_becomes_cpp_with_arduino_h_first(sketch_dir: Path) -> None:
    text = ino_cpp(sketch_dir / f"{SKETCH_NAME}.ino")
    assert text.startswith(f'#include <Arduino.h>\n#line 1 "{SKETCH_NAME}.ino"\n')
    assert text.endswith((sketch_dir / f"{SKETCH_NAME}.ino").read_text())


def test_export_compiles_for_the_nano33ble(objects: dict[str, Path]) -> None:
    """Every source of the sketch folder compiles with the board's flags and -Werror, and the
    objects are Cortex-M4 code with the soft-float calling convention of the board."""
    _need("arm-none-eabi-nm", "arm-none-eabi-readelf")
    assert sorted(objects) == sorted([f"{SKETCH_NAME}.ino.cpp.o", "kws_model_data.cpp.o",
                                      "kws_frontend.c.o", "kws_frontend_tables.c.o",
                                      "kws_detector.c.o", "kws_stream.c.o"])

    def defined(obj: str) -> set[str]:
        out = subprocess.run(["arm-none-eabi-nm", "-C", "--defined-only", str(objects[obj])],
                             capture_output=True, text=True, check=True).stdout
        return {line.split(maxsplit=2)[2] for line in out.splitlines() if line.count(" ") >= 2}

    sketch = defined(f"{SKETCH_NAME}.ino.cpp.o")
    assert {"setup", "loop"} <= sketch   # C linkage, as Arduino.h declares them for main.cpp
    assert {"kws_stream_init", "kws_stream_push", "kws_stream_window", "kws_stream_result",
            "kws_stream_skip"} <= defined("kws_stream.c.o")
    undefined = subprocess.run(["arm-none-eabi-nm", "-C", "-u",
                                str(objects[f"{SKETCH_NAME}.ino.cpp.o"])],
                               capture_output=True, text=True, check=True).stdout
    for needed in ("kws_stream_push", "PDM", "tflite::InitializeTarget()", "g_kws_model_data"):
        assert needed in undefined, needed
    attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(objects["kws_stream.c.o"])],
                           capture_output=True, text=True, check=True).stdout
    assert re.search(r"Tag_CPU_name: \"7E-M\"", attrs) and "Tag_FP_arch: VFPv4-D16" in attrs
    assert "Tag_ABI_VFP_args: VFP registers" not in attrs   # softfp: floats in core registers


def test_a_warning_in_the_sketch_fails_the_build(sketch_dir: Path, board_package: Path,
                                                 tmp_path: Path) -> None:
    """-Werror is in force for our files: one unused variable stops the build."""
    _need("arm-none-eabi-g++")
    broken = tmp_path / SKETCH_NAME
    shutil.copytree(sketch_dir, broken)
    for name in ("kws_model_data.cpp",):   # only the .ino matters here; keep the build short
        (broken / name).unlink()
    for path in broken.glob("*.c"):
        path.unlink()
    ino = broken / f"{SKETCH_NAME}.ino"
    ino.write_text(ino.read_text().replace("void loop() {", "void loop() {\n  int unused = 1;"))
    with pytest.raises(ExportError, match=r"kws_nano33ble\.ino\.cpp: .*unused"):
        compile_sketch(broken, tmp_path / "build", load_nano_build(board_package))


def test_setup_never_waits_forever_for_a_usb_host(board_package: Path) -> None:
    """No `while (!Serial);` in the sketch; the one wait is tflite::InitializeTarget's, bounded
    (the library's system_setup.cpp breaks out after kSerialMaxInitWait ms)."""
    text = SKETCH.read_text()
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    assert not re.search(r"while\s*\(\s*!\s*Serial\s*\)", code)
    assert "tflite::InitializeTarget();" in code
    setup = (TFLITE_LIBRARY_DIR / "src" / "tensorflow" / "lite" / "micro" /
             "system_setup.cpp").read_text()
    wait = re.search(r"kSerialMaxInitWait = (\d+);", setup)
    assert wait and int(wait.group(1)) <= 5000
    assert re.search(r"if \(millis\(\) - start_time > kSerialMaxInitWait\) \{\s*break;", setup)


def test_sketch_board_facts() -> None:
    """PDM gain 13 (the library's micro_speech sketch; 20 is the PDM default), said why, and
    the Sense named where the microphone is needed."""
    text = SKETCH.read_text()
    assert re.search(r"constexpr int kPdmGain = 13;", text)
    assert "PDM.setGain(kPdmGain);" in text
    comment = text[text.index("// PDM gain 13"):text.index("constexpr int kPdmGain")]
    assert "micro_speech" in comment and "20" in comment
    assert "Nano 33 BLE Sense" in text.split("*/", 1)[0]
    readme = (REPO / "firmware_export" / "arduino" / "README.md.in").read_text()
    assert "Nano 33 BLE Sense" in readme and "no\nmicrophone" in readme
