"""Hostile metadata text cannot reach the generated C as code (issue 13).

The generators are called directly with names and labels that try to escape a comment or a
string (newline, ``*/``, ``"``, ``\\``, the ``??/`` trigraph, non-ASCII, control characters,
template and printf syntax). For each: the headers compile with the host gcc (strict C99, which
turns trigraphs on) and with arm-none-eabi-gcc, a program built from them defines no extra
symbol (``nm``) and cannot even name ``kws_injected_symbol``, and the strings the C program
sees are the metadata's bytes exactly (UTF-8), as is what parse_settings reads back. A NUL,
which a C string cannot carry, is refused with one line.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from firmware_export import ExportError
from firmware_export.export import _banner, markdown_text, render_files
from firmware_export.settings import (
    COMMENT_CHARS,
    DevicePlan,
    c_string_literal,
    comment_text,
    make_plan,
    parse_c_string,
    parse_settings,
    render_ops_header,
    render_settings,
)
from kws.tflite_ops import MICRO_OPS

INJECTED = "kws_injected_symbol"
HOSTILE_NAMES = [
    f"ds_cnn_s\nint {INJECTED} = 42; //",
    f"x */ int {INJECTED} = 42; /* y",
    f'q"; int {INJECTED} = 42; const char *z = "',
    f"ends in a backslash \\\nint {INJECTED} = 42;",
    f"trigraph ??/\nint {INJECTED} = 42;",
    f"// {INJECTED}\r\n#define {INJECTED} 1\n",
    "ünïcödé ключ 键 \U0001f600",
    "\x01\x1b[31m\x7f\t\v\f",
    "{{MODEL_NAME}} %s%n <!-- --> | `x` [a](b)",
    "\\101\\x41\\u0041\\0",
    "",
]
HOSTILE_LABELS = (f"yes\nint {INJECTED};", "*/", '"', "\\", "??/", "??=??(??)", "é",
                  "\x7f\x01", "%n", "a, b", "{c}", " spaced ")
"""Twelve labels (the default model's output count), each a way out of a string or comment."""


@pytest.fixture(scope="module")
def plan() -> DevicePlan:
    from kws.quantize import strip_for_device
    from kws.runtime import DEFAULT_MODEL, read_metadata
    from kws.tflite_ops import parse_tflite

    full = DEFAULT_MODEL.read_bytes()
    device = strip_for_device(full)
    return make_plan(read_metadata(full), parse_tflite(device), len(device), 24_368)


@pytest.fixture(scope="module")
def device() -> bytes:
    from kws.quantize import strip_for_device
    from kws.runtime import DEFAULT_MODEL

    return strip_for_device(DEFAULT_MODEL.read_bytes())


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} required")


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    assert proc.returncode == 0, f"{cmd[0]}: {proc.stderr[-3000:]}"
    return proc


CHECK_C = r"""
#include <stdio.h>
#include "kws_model_settings.h"
#include "kws_model_data.h"

static const char *const kLabels[KWS_NUM_LABELS] = KWS_LABELS;

static void hex(const char *s) {
  for (; *s; ++s) printf("%02x", (unsigned char)*s);
  printf("\n");
}

int main(void) {
  int i;
  hex(KWS_MODEL_NAME);
  for (i = 0; i < KWS_NUM_LABELS; ++i) hex(kLabels[i]);
  return g_kws_model_data_len == KWS_MODEL_DATA_SIZE ? 0 : 1;
}
"""

NAMES_CHECK = r"""
#include "kws_model_settings.h"
#include "kws_model_data.h"
int probe(void) { return %s; }
"""


def _write_case(folder: Path, plan: DevicePlan, device: bytes, name: str,
                labels: tuple[str, ...], model_file: str) -> dict[str, str]:
    hostile = dataclasses.replace(plan, model_name=name, labels=labels)
    files = render_files(hostile, device, "generic", model_file, "ab" * 32)
    folder.mkdir(parents=True)
    for rel, text in files.items():
        (folder / rel).write_text(text, encoding="utf-8", newline="\n")
    return files


def _resolver_stub(folder: Path) -> None:
    methods = "\n".join(f"  TfLiteStatus {m}() {{ return kTfLiteOk; }}"
                        for m in sorted({m for _, m in MICRO_OPS.values()}))
    path = folder / "tensorflow" / "lite" / "micro" / "micro_mutable_op_resolver.h"
    path.parent.mkdir(parents=True)
    path.write_text("#pragma once\ntypedef enum { kTfLiteOk = 0, kTfLiteError = 1 } "
                    "TfLiteStatus;\nnamespace tflite {\ntemplate <unsigned int N>\n"
                    f"class MicroMutableOpResolver {{\n public:\n{methods}\n}};\n}}\n")


@pytest.mark.parametrize("index", range(len(HOSTILE_NAMES)))
def test_hostile_names_and_labels_compile_to_exact_strings_and_no_symbol(
        index: int, plan: DevicePlan, device: bytes, tmp_path: Path) -> None:
    _need("gcc", "g++", "nm", "arm-none-eabi-gcc", "arm-none-eabi-nm")
    name = HOSTILE_NAMES[index]
    labels = HOSTILE_LABELS[index:] + HOSTILE_LABELS[:index]
    src = tmp_path / "src"
    files = _write_case(src, plan, device, name, labels, f"m*/{index}\n??/.tflite")
    # the raw text (long enough not to occur by chance) is nowhere in the generated files
    for rel, text in files.items():
        for raw in (name, *labels):
            if len(raw) >= 6 and any(c not in COMMENT_CHARS and c != " " for c in raw):
                assert raw not in text, (rel, raw)
    # the strings parse back exactly
    values = parse_settings(files["kws_model_settings.h"])
    assert values["KWS_MODEL_NAME"] == name
    assert tuple(values["KWS_LABELS"]) == labels
    # host C99 (trigraphs on), pedantic: the strings the program sees are the UTF-8 bytes
    check = tmp_path / "check.c"
    check.write_text(CHECK_C)
    strict = ["-std=c99", "-pedantic-errors", "-Wall", "-Wextra", "-Werror", "-trigraphs"]
    exe = tmp_path / "check"
    _run(["gcc", *strict, f"-I{src}", str(check), "-std=c11", "-x", "c",
          str(src / "kws_model_data.cc"), "-o", str(exe)])
    printed = _run([str(exe)]).stdout.splitlines()
    assert printed == [s.encode("utf-8").hex() for s in (name, *labels)]
    symbols = _run(["nm", "--defined-only", str(exe)]).stdout
    assert INJECTED not in symbols
    # nothing declares the injected name: a use of it does not compile
    probe = tmp_path / "probe.c"
    probe.write_text(NAMES_CHECK % INJECTED)
    run = subprocess.run(["gcc", *strict, f"-I{src}", "-c", str(probe), "-o",
                          str(tmp_path / "probe.o")], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "LC_ALL": "C"})  # plain quotes in the message
    assert run.returncode != 0 and f"'{INJECTED}' undeclared" in run.stderr, run.stderr
    # Cortex-M4: settings + array + tables as C, the op resolver header as C++
    objects = []
    for rel, std in (("kws_frontend_tables.c", "-std=c99"), ("kws_model_data.cc", "-std=c11")):
        obj = tmp_path / f"{rel}.o"
        _run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", std, *strict[1:], f"-I{src}",
              "-x", "c", "-c", str(src / rel), "-o", str(obj)])
        objects.append(obj)
    obj = tmp_path / "check_m4.o"
    _run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", *strict, f"-I{src}", "-c",
          str(check), "-o", str(obj)])
    objects.append(obj)
    _resolver_stub(tmp_path / "stubs")
    ops_check = tmp_path / "ops_check.cc"
    ops_check.write_text('#include "kws_model_ops.h"\n#include "kws_model_settings.h"\n'
                         "int ops_check() { KwsOpResolver r; "
                         "return KwsRegisterOps(r) == kTfLiteOk ? KWS_MODEL_NUM_OPS : -1; }\n")
    _run(["g++", "-std=c++11", "-pedantic-errors", "-Wall", "-Wextra", "-Werror", "-trigraphs",
          f"-I{tmp_path / 'stubs'}", f"-I{src}", "-c", str(ops_check), "-o",
          str(tmp_path / "ops_check.o")])
    objects.append(tmp_path / "ops_check.o")
    for o in objects:
        tool = "nm" if o.name == "ops_check.o" else "arm-none-eabi-nm"
        assert INJECTED not in _run([tool, str(o)]).stdout, o


def test_comments_carry_only_filtered_text(plan: DevicePlan) -> None:
    for raw in [*HOSTILE_NAMES, *HOSTILE_LABELS]:
        safe = comment_text(raw)
        assert set(safe) <= COMMENT_CHARS and len(safe) <= 64
        assert "*/" not in safe and "??" not in safe and "\\" not in safe
    banner = _banner("a*/b\n.tflite", "0" * 64, "x */ y\n// z ??/", "generic")
    assert banner.count("*/") == 1 and banner.endswith(" */\n")
    assert banner.count("\n") == 4  # /*, two lines, */
    hostile = dataclasses.replace(plan, model_name=HOSTILE_NAMES[0])
    ops = render_ops_header(hostile, "/* banner */\n")
    assert INJECTED not in ops and "ds_cnn_s" not in ops
    bad_ops = dataclasses.replace(plan, ops=(("CONV_2D", "AddConv2D(); int x; //"),))
    with pytest.raises(ExportError, match="is not a C identifier") as info:
        render_ops_header(bad_ops, "")
    assert "\n" not in str(info.value)
    settings = render_settings(hostile, "/* banner */\n")
    for line in settings.splitlines():
        assert not line.startswith("int ") and INJECTED not in line.split('"')[0]


def test_string_literals_round_trip_and_hold_no_special_character() -> None:
    texts = [*HOSTILE_NAMES, *HOSTILE_LABELS, "".join(chr(c) for c in range(1, 0x250))]
    for text in texts:
        literal = c_string_literal(text)
        body = literal[1:-1]
        assert '"' not in body and "??" not in body and "*/" not in body and "/*" not in body
        assert "//" not in body and "\n" not in body and body.isascii()
        assert all(c.isalnum() or c in " _-.,:;+=!#%&()[]<>|~^@$'" or c == "\\" for c in body)
        assert parse_c_string(literal) == text


@pytest.mark.parametrize("bad", ["a\x00b", "\x00", "\udc80"])
def test_nul_and_broken_text_are_refused_with_one_line(bad: str, plan: DevicePlan,
                                                       device: bytes) -> None:
    with pytest.raises(ExportError, match="model name") as info:
        render_files(dataclasses.replace(plan, model_name=bad), device, "generic", "m.tflite",
                     "0" * 64)
    assert "\n" not in str(info.value)
    labels = (bad, *plan.labels[1:])
    with pytest.raises(ExportError, match="label") as info:
        render_files(dataclasses.replace(plan, labels=labels), device, "generic", "m.tflite",
                     "0" * 64)
    assert "\n" not in str(info.value)


def test_readme_text_is_one_line_and_escaped() -> None:
    out = markdown_text("a\n# b | <script> `c` {{X}} [d](e)")
    assert "\n" not in out and "<" not in out.replace("\\<", "")
    assert "{{" not in out and "|" not in out.replace("\\|", "")
    assert markdown_text("ds_cnn_s") == "ds_cnn_s"
