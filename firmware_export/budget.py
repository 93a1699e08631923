"""Flash and RAM of an export against the board: model, tensor arena, front end, detector.

    model        flash: the const array (arm-none-eabi object of kws_model_data, or its bytes)
    tensor arena RAM: the arena the sketch allocates (TFLite Micro measurement + margin)
    front end    flash: code + tables (objects of kws_frontend.c, kws_frontend_tables.c)
                 RAM: sizeof(kws_frontend_t) (the sketch's static instance) + the objects' data
    detector     flash: code of kws_detector.c; RAM: sizeof(KwsDetector)
    audio        RAM: the sketch's ring of int16 samples, one PDM block, the frame history

    TFLite Micro flash and RAM of the interpreter, the model's kernels and CMSIS-NN, from the
                 link map of the export's main.cc linked for the emulated Cortex-M4
                 (the metadata's board_measurement, kws measure-board)
    C runtime    flash and RAM of newlib-nano, libgcc and the libstdc++ pieces that link pulled
                 in (semihosting included: the board links its own with Mbed OS instead)

Code sizes are measured by compiling the exported sources with arm-none-eabi-gcc for the
Cortex-M4F (-O2) and reading arm-none-eabi-size; the struct sizes by compiling one static
instance each. Not counted: Mbed OS and the Arduino core (the board package's precompiled
libmbed.a is not in the offline snapshot, so the sketch cannot be linked here), the sketch's own
code, the heap and the stack; without a board_measurement TFLite Micro is not counted either.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from firmware_export import ExportError, cbuild
from firmware_export.settings import PDM_BUFFER_BYTES, DevicePlan

FLASH_BYTES = 1024 * 1024
"""Nano 33 BLE (nRF52840): 1 MB of flash."""
RAM_BYTES = 256 * 1024
"""Nano 33 BLE (nRF52840): 256 KB of RAM."""
NOT_COUNTED = ("TFLite Micro's interpreter and kernels (no board_measurement: kws "
               "measure-board MODEL links them), Mbed OS and the Arduino core (the "
               "micro_speech sketch, with a 10 KB arena, takes about 166 KB flash and 54 KB "
               "RAM in all)")
NOT_COUNTED_LINKED = ("Mbed OS and the Arduino core (their precompiled libmbed.a is not in the "
                      "offline snapshot, so they cannot be linked here; the micro_speech "
                      "sketch, with a 10 KB arena, takes about 166 KB flash and 54 KB RAM in "
                      "all), the sketch's own code, heap and stack")


@dataclasses.dataclass(frozen=True)
class BudgetRow:
    """One part of the export: bytes of flash and RAM, and how they were obtained."""

    part: str
    flash: int | None
    ram: int | None
    source: str


@dataclasses.dataclass(frozen=True)
class Budget:
    """The rows, their totals and the board's capacity."""

    rows: tuple[BudgetRow, ...]
    measured: bool
    """True when the code sizes come from arm-none-eabi-gcc (False: the toolchain is missing
    and the front end and detector rows are unknown)."""
    linked: bool = False
    """True when TFLite Micro + CMSIS-NN and the C runtime come from the M4 link of the
    metadata's board_measurement (the whole firmware but Mbed OS and the Arduino core)."""
    link_total: tuple[int, int] | None = None
    """(flash, RAM) bytes of the whole linked M4 image of the export's main.cc, as measured
    (its RAM holds the arena it was linked with), for comparison; None without a link."""

    @property
    def not_counted(self) -> str:
        """What the totals leave out."""
        return NOT_COUNTED_LINKED if self.linked else NOT_COUNTED

    @property
    def flash(self) -> int:
        """Total flash of the counted parts, bytes."""
        return sum(r.flash or 0 for r in self.rows)

    @property
    def ram(self) -> int:
        """Total RAM of the counted parts, bytes."""
        return sum(r.ram or 0 for r in self.rows)

    def to_dict(self) -> dict[str, object]:
        """Plain data for the export manifest."""
        return {"rows": [dataclasses.asdict(r) for r in self.rows], "flash": self.flash,
                "ram": self.ram, "flash_capacity": FLASH_BYTES, "ram_capacity": RAM_BYTES,
                "measured": self.measured, "linked": self.linked,
                "link_total": list(self.link_total) if self.link_total else None,
                "not_counted": self.not_counted}

    def format(self, board: str = "nano33ble") -> str:
        """The budget as a text table (bytes, and the share of the Nano 33 BLE's memory; for
        another board the Nano's memory is the reference)."""
        def cell(value: int | None) -> str:
            return "-" if value is None or value == 0 else f"{value:,}"

        width = max(len(r.part) for r in self.rows) + 2
        title = "Budget on the Arduino Nano 33 BLE (nRF52840: 1 MB flash, 256 KB RAM):" \
            if board == "nano33ble" else \
            "Budget (against the Arduino Nano 33 BLE's 1 MB flash, 256 KB RAM, for reference):"
        lines = [title,
                 f"  {'part':<{width}}{'flash B':>10}{'RAM B':>10}  how"]
        for r in self.rows:
            lines.append(f"  {r.part:<{width}}{cell(r.flash):>10}{cell(r.ram):>10}  {r.source}")
        lines.append(f"  {'total':<{width}}{self.flash:>10,}{self.ram:>10,}  "
                     f"{self.flash / FLASH_BYTES:.1%} of flash, {self.ram / RAM_BYTES:.1%} of RAM")
        if self.link_total is not None:
            lines.append(f"  (the M4 link of the export's main.cc under QEMU: flash "
                         f"{self.link_total[0]:,} B, RAM {self.link_total[1]:,} B with its own "
                         "arena, no audio ring)")
        lines.append(f"  not counted: {self.not_counted}")
        return "\n".join(lines)


def _state_source(header: str, type_name: str) -> str:
    return f'#include "{header}"\n{type_name} kws_budget_state;\n'


def measure_budget(src_dir: str | Path, plan: DevicePlan, model_array: str | None = None
                   ) -> Budget:
    """Compile the exported C sources in ``src_dir`` for the Cortex-M4F and fill the budget.

    ``model_array``: file name of the model array source in src_dir (compiled as C to
    measure it), or None to count the model's bytes. Without arm-none-eabi-gcc the code rows
    are left unknown (``Budget.measured`` is False). Build products go to a temporary folder.
    """
    src = Path(src_dir)
    fe = plan.frontend
    audio = plan.audio_ring_samples * 2 + PDM_BUFFER_BYTES + fe.frames_per_clip * fe.num_coeffs
    audio_row = BudgetRow("audio ring + history", None, audio,
                          f"ring {plan.audio_ring_samples} x int16 + PDM block "
                          f"{PDM_BUFFER_BYTES} B + history {fe.frames_per_clip} x "
                          f"{fe.num_coeffs}")
    where = "M4, CMSIS-NN" if plan.measured else "host"
    arena_row = BudgetRow("tensor arena", None, plan.arena_size,
                          f"TFLite Micro smallest {plan.arena_measured:,} B ({where}) + "
                          f"{plan.arena_margin:.0%}")
    linked = _linked_rows(plan)
    if cbuild.missing_tools(cbuild.M4_CC, cbuild.M4_SIZE):
        rows = (BudgetRow("model (device .tflite)", plan.model_bytes, None, "model bytes"),
                arena_row,
                BudgetRow("front end", None, None, "not measured: no arm-none-eabi-gcc"),
                BudgetRow("detector", None, None, "not measured: no arm-none-eabi-gcc"),
                audio_row, *linked)
        return Budget(rows=rows, measured=False, linked=bool(linked),
                      link_total=_link_total(plan))
    with tempfile.TemporaryDirectory(prefix="kws-budget-") as tmp:
        build = Path(tmp)
        (build / "fe_state.c").write_text(_state_source("kws_frontend.h", "kws_frontend_t"))
        (build / "det_state.c").write_text(_state_source("kws_detector.h", "KwsDetector"))
        sources = [src / "kws_frontend.c", src / "kws_frontend_tables.c",
                   src / "kws_detector.c", build / "fe_state.c", build / "det_state.c"]
        objects = cbuild.build_m4_objects(sources, build, [src])
        if model_array is not None:
            objects += cbuild.build_m4_objects([src / model_array], build, [src],
                                               extra=["-x", "c", "-std=c11"])
        sizes = cbuild.section_sizes(objects)
    try:
        def flash(name: str) -> int:
            return sizes[name]["text"] + sizes[name]["data"]

        def ram(name: str) -> int:
            return sizes[name]["data"] + sizes[name]["bss"]

        model_flash = flash(Path(model_array).stem + ".o") if model_array else plan.model_bytes
        rows = (
            BudgetRow("model (device .tflite)", model_flash, None,
                      f"{plan.model_bytes:,} B array (arm-none-eabi-size)"),
            arena_row,
            BudgetRow("front end", flash("kws_frontend.o") + flash("kws_frontend_tables.o"),
                      ram("kws_frontend.o") + ram("kws_frontend_tables.o") + ram("fe_state.o"),
                      "code + tables; state = sizeof(kws_frontend_t)"),
            BudgetRow("detector", flash("kws_detector.o"),
                      ram("kws_detector.o") + ram("det_state.o"),
                      "code; state = sizeof(KwsDetector)"),
            audio_row,
            *linked,
        )
    except KeyError as exc:
        raise ExportError(f"arm-none-eabi-size did not report {exc}") from None
    return Budget(rows=rows, measured=True, linked=bool(linked), link_total=_link_total(plan))


def _linked_rows(plan: DevicePlan) -> tuple[BudgetRow, ...]:
    """TFLite Micro + CMSIS-NN and the C runtime from the measurement's M4 link (none without
    a board_measurement)."""
    m = plan.timing.measurement if plan.timing is not None else None
    if m is None:
        return ()
    tflm, runtime = m.part("tflite_micro"), m.part("runtime")
    return (BudgetRow("TFLite Micro + CMSIS-NN", tflm[0], tflm[1],
                      "interpreter, the model's kernels, CMSIS-NN: M4 link map (-O2)"),
            BudgetRow("C runtime", runtime[0], runtime[1],
                      "newlib-nano, libgcc, libstdc++ parts as linked for QEMU"))


def _link_total(plan: DevicePlan) -> tuple[int, int] | None:
    m = plan.timing.measurement if plan.timing is not None else None
    return None if m is None else (m.firmware_flash, m.firmware_ram)
