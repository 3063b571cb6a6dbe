"""Run by tests/test_zygote.py as a slot forked by the zygote: says what a slot process sees.

    python -m tests.zygote_probe CODE    # report, then exit with CODE
    python -m tests.zygote_probe wait    # say so through the held descriptor, then wait for a
                                         # signal
"""

import atexit
import os
import signal
import sys
from pathlib import Path

if __name__ == "__main__":
    held = int(os.environ["PROBE_HELD_FD"])
    if sys.argv[1] == "wait":
        os.write(held, b"waiting\n")
        signal.pause()
    print(f"argv {sys.argv[1:]}")
    print(f"session leader {os.getsid(0) == os.getpid()}")
    print(f"cwd {Path.cwd()}")
    print(f"name {Path('/proc/self/comm').read_text().strip()}")
    print(f"variable {os.environ.get('PROBE_VARIABLE')}")
    print("to stderr", file=sys.stderr)
    os.write(held, b"written through the held descriptor\n")
    atexit.register(print, "atexit ran", flush=True)
    sys.exit(int(sys.argv[1]))
