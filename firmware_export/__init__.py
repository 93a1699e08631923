"""From Python to the board: generated C sources for the firmware, and the tools to build them.

- :mod:`kws.frontend.c_tables` (also importable as ``firmware_export.frontend_tables``):
  ``FrontendConfig`` -> ``kws_frontend_tables.{h,c}``, the integer tables of the C front end
  (``c/kws_frontend.{c,h}``), generated, never hand-kept
- :mod:`firmware_export.cbuild`: compile the C twins with the host gcc or with
  arm-none-eabi-gcc for a Cortex-M4, run them under QEMU (``mps2-an386``), read their sizes
- ``c/``: the C twins of the Python stages (``kws_frontend.{c,h}``: the fixed-point MFCC)
- ``arduino/``: the Nano 33 BLE sketch template

Every error raised on purpose is an :class:`ExportError` (defined in :mod:`kws.errors`, a
:class:`kws.errors.KwsError`) or a :class:`kws.errors.ConfigError` for a configuration the C
code cannot take.
"""

from kws.errors import ExportError

__all__ = ["ExportError"]
