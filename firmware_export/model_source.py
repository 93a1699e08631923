"""The device copy of a model as C/C++ source: ``kws_model_data.h`` and its array file.

    const unsigned char g_kws_model_data[]   the .tflite bytes, alignas(16)
    const unsigned int  g_kws_model_data_len its length in bytes

The array is ``const`` so it stays in flash; ``alignas(16)`` because TFLite Micro reads the
flatbuffer in place and its int32/int64 buffers must be aligned (the converter aligns the
buffers to 16 within the file). The header is C and C++ (``extern "C"`` linkage), so the same
array links into C test programs and into the sketch. :func:`parse_model_array` reads the
bytes back from the generated source (used by the tests, and by ``kws export`` to check the
files it wrote).
"""

from __future__ import annotations

import re

from kws.errors import ModelError

ARRAY_ALIGNMENT = 16
"""Byte alignment of the model array (TFLite Micro requires 16 for in-place tensors)."""
BYTES_PER_LINE = 16


def symbol_names(stem: str = "kws_model") -> tuple[str, str]:
    """(array symbol, length symbol): ``g_<stem>_data`` and ``g_<stem>_data_len``."""
    if not stem.isidentifier():
        raise ModelError(f"model symbol stem {stem!r} is not a C identifier")
    return f"g_{stem}_data", f"g_{stem}_data_len"


def render_model_header(banner: str, size: int, stem: str = "kws_model") -> str:
    """``<stem>_data.h``: declarations of the array and its length (C and C++)."""
    array, length = symbol_names(stem)
    guard = f"{stem.upper()}_DATA_H"
    return f"""{banner}
#ifndef {guard}
#define {guard}

#ifdef __cplusplus
extern "C" {{
#endif

/* The device .tflite ({size} bytes), aligned to {ARRAY_ALIGNMENT} bytes, in flash. */
extern const unsigned char {array}[];
extern const unsigned int {length};

#ifdef __cplusplus
}}
#endif

#define {stem.upper()}_DATA_SIZE {size}u /* = {length} */

#endif /* {guard} */
"""


def render_model_array(banner: str, data: bytes, stem: str = "kws_model") -> str:
    """``<stem>_data.cc``: the definition of the array (valid C11 and C++11).

    C++ spells the alignment ``alignas(16)``; C (a test build of the array) gets it from
    <stdalign.h>, which defines ``alignas`` as ``_Alignas``.
    """
    array, length = symbol_names(stem)
    rows = []
    for start in range(0, len(data), BYTES_PER_LINE):
        chunk = data[start:start + BYTES_PER_LINE]
        rows.append("    " + ", ".join(f"0x{b:02x}" for b in chunk) + ",")
    body = "\n".join(rows)
    return f"""{banner}
#include "{stem}_data.h"

#ifndef __cplusplus
#include <stdalign.h> /* alignas in C11 (a C build of this file, used by tests) */
#endif

alignas({ARRAY_ALIGNMENT}) const unsigned char {array}[] = {{
{body}
}};

const unsigned int {length} = {len(data)}u;
"""


_ARRAY_RE = re.compile(r"alignas\((\d+)\)\s+const unsigned char (\w+)\[\]\s*=\s*\{(.*?)\};",
                       re.S)
_LEN_RE = re.compile(r"const unsigned int (\w+)\s*=\s*(\d+)u;")


def parse_model_array(text: str) -> tuple[bytes, int, int]:
    """Read (bytes, declared length, alignment) back from a generated array source.

    Raises ModelError if the source does not have the generated layout.
    """
    match = _ARRAY_RE.search(text)
    length = _LEN_RE.search(text)
    if match is None or length is None:
        raise ModelError("not a generated model array source (no aligned array and length)")
    values = [v.strip() for v in match.group(3).split(",") if v.strip()]
    try:
        data = bytes(int(v, 16) for v in values)
    except ValueError as exc:
        raise ModelError(f"model array has a value that is not a byte: {exc}") from None
    return data, int(length.group(2)), int(match.group(1))
