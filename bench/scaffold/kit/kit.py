"""The ${name} board kit, registered under `citebench.boards` in pyproject.toml."""

from pathlib import Path

from bench.kits import BoardKit, Defect

from ${name}_kit.emulator import DEFECTS

HERE = Path(__file__).resolve().parent

KIT = BoardKit(
    name="${name}",
    summary="${name}: 7E frames with an 8-bit checksum, one request in flight",
    codec="${name}_kit.codec:Codec",
    driver="${name}_kit.driver:Driver",
    identity="${name}_kit.driver:read_identity",
    emulator="${name}_kit.emulator:Board",
    defects={name: Defect(text, face) for name, (text, face) in DEFECTS.items()},
    plans=HERE / "plans",
    spec=HERE / "spec.toml",
    emulated_station=HERE / "emulated.toml",
    unique_id_max_bytes=16,  # 8 bytes, written in hex
    unique_id_template="{n:016x}",
)
