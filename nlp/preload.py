"""Imported by the fork server of the NLP worker processes (see `nlp.start_pool`), once,
before it forks any worker: the libraries and the spaCy pipeline are then loaded a single
time and every worker starts with them in memory, instead of each spending ~0.5 s of CPU
loading its own copy while the crawl competes for the same cores.

What to load comes from the environment (`nlp.PRELOAD_ENV`), which the fork server inherits
from the process that starts it. A failure here only costs the speed-up: workers load what
they need themselves.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys

import trafilatura  # noqa: F401  (imported for the workers)

import nlp
import nlp.extract  # noqa: F401

try:
    _spec = json.loads(os.environ.get(nlp.PRELOAD_ENV, "") or "null")
    if isinstance(_spec, dict) and isinstance(_spec.get("pipeline"), str):
        if isinstance(_spec.get("watchlists"), dict):  # the workers' own detector: pipeline and watch lists
            nlp.get_detector(_spec["pipeline"], _spec["watchlists"]).warm()
        else:  # watch lists too large to pass here: the pipeline alone
            from nlp.tagger import get_pipeline

            get_pipeline(_spec["pipeline"])
except Exception as exc:  # noqa: BLE001 - never stop the fork server
    logging.getLogger("newsradar.nlp").debug("stage=nlp event=preload-failed error=%s", json.dumps(str(exc)))


def _exit_now() -> None:
    """The fork server holds spaCy's whole heap; letting the interpreter tear it down object by
    object at exit took ~0.3 s, which the CLI waited for at the end of every crawl. Nothing
    is left to flush here (workers exit through os._exit already), so skip the teardown."""
    os._exit(0)


def _in_fork_server() -> bool:
    """Whether this import runs inside multiprocessing's fork server (its preload step)."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "main" and code.co_filename.endswith(os.path.join("multiprocessing", "forkserver.py")):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


if _in_fork_server():  # anywhere else (a test importing this module) exit normally
    atexit.register(_exit_now)
