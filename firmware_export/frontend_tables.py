"""The C front end's tables, generated from a ``FrontendConfig``: see kws.frontend.c_tables.

The generator lives in kws (kws/frontend/c_tables.py) because kws.frontend.native builds the
same C code for the host; this module keeps the old import path working for the exporter's
callers (tests, benchmarks, firmware builds).
"""

from kws.frontend.c_tables import (
    HEADER_NAME,
    MIN_FFT_SIZE,
    SOURCE_NAME,
    CompactTables,
    compact_tables,
    render_frontend_tables,
    tables_fingerprint,
    write_frontend_tables,
)

__all__ = ["HEADER_NAME", "MIN_FFT_SIZE", "SOURCE_NAME", "CompactTables", "compact_tables",
           "render_frontend_tables", "tables_fingerprint", "write_frontend_tables"]
