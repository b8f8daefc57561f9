"""Imported by the fork server of the NLP worker processes (see `nlp.start_pool`), once,
before it forks any worker: the libraries and the spaCy pipeline are then loaded a single
time and every worker starts with them in memory, instead of each spending ~0.5 s of CPU
loading its own copy while the crawl competes for the same cores.

What to load comes from the environment (`nlp.PRELOAD_ENV`), which the fork server inherits
from the process that starts it. A failure here only costs the speed-up: workers load what
they need themselves.
"""

from __future__ import annotations

import json
import logging
import os

import trafilatura  # noqa: F401  (imported for the workers)

import nlp
import nlp.extract  # noqa: F401

try:
    _spec = json.loads(os.environ.get(nlp.PRELOAD_ENV, "") or "null")
    if isinstance(_spec, dict) and isinstance(_spec.get("pipeline"), str):
        nlp.get_detector(_spec["pipeline"], _spec.get("watchlists") or {}).warm()
except Exception as exc:  # noqa: BLE001 - never stop the fork server
    logging.getLogger("newsradar.nlp").debug("stage=nlp event=preload-failed error=%s", json.dumps(str(exc)))
