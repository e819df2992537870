"""Old path of :mod:`sealloss.demo.experiment` (the paired-training harness now lives there).

``import sealloss.experiment`` gives that very module object (not a copy), so names read from
it and attributes set on it (e.g. a test's ``monkeypatch``) are the harness's own.
"""

import sys

from .demo import experiment as _experiment

sys.modules[__name__] = _experiment
