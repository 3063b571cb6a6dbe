"""Import a tool from scripts/ (they are programs, not an installed package) for its tests."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py as a module (registered, so its dataclasses resolve their module)."""
    qualified = f"citebench_scripts_{name}"
    if qualified not in sys.modules:
        spec = importlib.util.spec_from_file_location(qualified, SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module
        spec.loader.exec_module(module)
    return sys.modules[qualified]
