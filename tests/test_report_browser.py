"""The report, index and statistics pages in a real headless Chromium (Debian's `chromium`), with
JavaScript on and off: verdict visible, tables present, no script error, DUT markup shown as text.

Driven through the DevTools protocol over the `websockets` package (already needed by Bumble):
console errors, uncaught exceptions, content-security-policy violations and JavaScript dialogs
(an `alert` that got through) are events there. Scripts are switched off per page with
`Emulation.setScriptExecutionDisabled`, as a mail client or a strict policy leaves the page
(`--dump-dom` with `--blink-settings=scriptEnabled=false` prints nothing in this Chromium: it
reads the DOM through script).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from bench import archive, stats
from tests.plan_runner import ROOT
from tests.test_report import HOSTILE, SVG

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (./scripts/test installs it; CI must have it)")

PLAN = f'''
def test_identity(run_record, measure):
    """Reads the DUT identity."""
    run_record.dut({{"serial": {HOSTILE!r}, "part_number": "WS-100", "firmware": "1.4.2"}})
    measure("vbat", 3.3, units="V", low=3.2, high=3.4)
    measure.attach("current capture", {SVG!r}, "image/svg+xml")
    measure.attach("serial traffic", "<< GET_INFO_RSP serial=" + {HOSTILE!r})


def test_out_of_limits(measure):
    measure("sleep current", 2.5e-4, units="A", high=1e-4)
'''


@pytest.fixture(scope="module")
def pages() -> Iterator[dict[str, Path]]:
    """A real pytest-html report of a run with a hostile DUT, archived, indexed and summarized."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "test_hostile_plan.py").write_text(PLAN)
        staging = root / "archive" / archive.INCOMING / "run"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", str(root / "test_hostile_plan.py"),
             f"--html={staging / 'report.html'}", "--self-contained-html", "-q",
             "-p", "no:cacheprovider", "--rootdir", str(root)],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stdout + done.stderr  # one test is out of limits
        run = archive.store(staging, root / "archive")
        yield {"report": run / "report.html",
               "rebuilt": archive.rebuild_report(run / "record.jsonl", root / "rebuilt.html"),
               "index": archive.write_index(root / "archive"),
               "statistics": stats.write_statistics(root / "archive")}


def launch(profile_dir: str) -> tuple[subprocess.Popen, str]:
    """Start Chromium; return it and the websocket address it prints on stderr once it listens."""
    process = subprocess.Popen(
        [CHROMIUM, *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile_dir}",
         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    seen, deadline = b"", time.monotonic() + 20
    while time.monotonic() < deadline and selector.select(deadline - time.monotonic()):
        chunk = os.read(process.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
        found = re.search(rb"DevTools listening on (ws://\S+)", seen)
        if found:
            return process, found.group(1).decode()
    process.kill()
    process.wait()
    raise AssertionError(f"chromium gave no DevTools address:\n{seen.decode(errors='replace')}")


class Browser:
    """A page of headless Chromium on its DevTools websocket: commands in, events collected."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=self.session)

    def send(self, method: str, session: str | None = None, **params) -> dict:
        number = next(self.ids)
        message = {"id": number, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv(timeout=20))
            if reply.get("id") == number:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._event(reply)

    def _event(self, event: dict) -> None:
        self.events.append(event)
        if event.get("method") == "Page.javascriptDialogOpening":  # dismiss, or the page hangs
            self.socket.send(json.dumps({"id": next(self.ids), "sessionId": self.session,
                                         "method": "Page.handleJavaScriptDialog",
                                         "params": {"accept": False}}))

    def open(self, page: Path, scripts: bool) -> None:
        self.events.clear()
        self.send("Emulation.setScriptExecutionDisabled", session=self.session,
                  value=not scripts)
        self.send("Page.navigate", session=self.session, url=page.as_uri())
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self._event(json.loads(self.socket.recv(timeout=20)))
        self.send("Runtime.evaluate", session=self.session, expression="0")  # drain queued events

    def evaluate(self, expression: str) -> object:
        result = self.send("Runtime.evaluate", session=self.session, expression=expression,
                           returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Uncaught exceptions, console errors (CSP violations included) and dialogs."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(str(params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
            elif method == "Page.javascriptDialogOpening":
                found.append(f"dialog opened: {params['message']}")
        return found



@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with tempfile.TemporaryDirectory() as profile_dir:
        process, url = launch(profile_dir)
        try:
            with connect(url, max_size=None, open_timeout=10) as socket:
                yield Browser(socket)
        finally:
            process.kill()
            process.wait()


VERDICT = """(() => { const v = document.querySelector('.cb-verdict');
  const box = v.getBoundingClientRect(), style = getComputedStyle(v);
  return [v.innerText, box.width > 0 && box.height > 0 && style.visibility === 'visible'
          && style.display !== 'none']; })()"""
SERIAL = """[...document.querySelectorAll('.cb-cert th')].find(th => th.textContent === 'serial')
  .nextElementSibling.textContent"""
CAPTIONS = "[...document.querySelectorAll('.cb-cert h3')].map(h => h.textContent)"


@pytest.mark.parametrize("scripts", [True, False], ids=["js", "no-js"])
def test_report_shows_verdict_and_tables(pages, browser: Browser, scripts: bool) -> None:
    browser.open(pages["report"], scripts)
    assert browser.evaluate(VERDICT) == ["Verdict: FAIL", True]
    assert {"Run", "Device under test", "Station", "Software", "Failed measurements",
            "Steps"} <= set(browser.evaluate(CAPTIONS))
    assert browser.evaluate(SERIAL) == HOSTILE  # shown as text, not run
    assert browser.evaluate("document.querySelectorAll('script:not([src])').length") == (
        browser.evaluate("document.querySelectorAll('script').length"))
    assert browser.evaluate("document.querySelector('.cb-cert img').naturalWidth") == 40
    rows = browser.evaluate("document.querySelectorAll('#results-table tbody tr').length")
    assert (rows > 0) == scripts  # pytest-html's own table needs JavaScript; ours does not
    assert browser.problems() == []


@pytest.mark.parametrize("page", ["rebuilt", "index", "statistics"])
@pytest.mark.parametrize("scripts", [True, False], ids=["js", "no-js"])
def test_archive_pages_read_with_and_without_script(pages, browser: Browser, page: str,
                                                    scripts: bool) -> None:
    browser.open(pages[page], scripts)
    assert browser.evaluate("document.querySelectorAll('table').length") >= 1
    if page == "index":
        assert browser.evaluate("document.querySelectorAll('#runs tbody tr').length") == 1
        assert browser.evaluate("document.getElementById('filters').hidden") is not scripts
    if page == "rebuilt":
        assert browser.evaluate(VERDICT) == ["Verdict: FAIL", True]
        assert browser.evaluate(SERIAL) == HOSTILE
    assert browser.problems() == []


def test_index_filter_hides_rows_by_verdict(pages, browser: Browser) -> None:
    browser.open(pages["index"], scripts=True)
    visible = """(() => { const f = document.getElementById('filters');
      f.verdict.value = '%s'; f.dispatchEvent(new Event('input'));
      return [...document.querySelectorAll('#runs tbody tr')].filter(r => !r.hidden).length;
    })()"""
    assert browser.evaluate(visible % "PASS") == 0
    assert browser.evaluate(visible % "FAIL") == 1
    assert browser.problems() == []


def test_readme_first_command_leaves_a_verified_readable_run(tmp_path: Path,
                                                             browser: Browser) -> None:
    """`bench run` (every plan, emulated station): archived, sealed, readable with and without
    JavaScript, and the index lists it."""
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--reports", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines()[-4:])
    verdict, report = lines["verdict"], Path(lines["report"])
    assert report.parent.parent.parent == tmp_path and report.parent.name.endswith(f"_{verdict}")
    assert archive.verify(report.parent) == []
    for scripts in (True, False):
        browser.open(report, scripts)
        assert browser.evaluate(VERDICT) == [f"Verdict: {verdict}", True]
        assert {"Device under test", "Instruments", "Software"} <= set(browser.evaluate(CAPTIONS))
        assert browser.problems() == []
    browser.open(tmp_path / archive.INDEX, scripts=False)
    assert browser.evaluate("document.querySelectorAll('#runs tbody tr').length") == 1


def test_lying_identities_render_visibly_escaped(tmp_path: Path, browser: Browser) -> None:
    """A NUL, a newline or a right-to-left override in an identity is not dropped or applied by
    the browser: the cell's rendered text holds the visible escape."""
    from tests.test_report import LYING, _lying_record

    for n, (serial, shown) in enumerate(LYING.items()):
        page = archive.rebuild_report(_lying_record(tmp_path / str(n), serial),
                                      tmp_path / f"{n}.html")
        browser.open(page, scripts=False)
        cell = """[...document.querySelectorAll('.cb-cert th')].find(
          th => th.textContent === 'unique_id').nextElementSibling.innerText"""
        assert browser.evaluate(cell) == shown
        assert browser.problems() == []
