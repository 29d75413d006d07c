"""The `planner` console script (and `python -m planner`): the collector tuned first, then the CLI.

gc tuning for the one short process a CLI run is (issue 11): the objects alive after start-up (typer,
click and pydantic's classes, the catalogs) stay alive to the end, so planner.cli.main calls gc.freeze()
to move them out of every later collection, and a larger first generation collects less often while the
CLI and a command import their modules and build their dataclasses. Measured on a catalog plan (15-21
paired runs): about 15-20 ms less than the defaults, more than gc.disable() gains; a long run (check over
many manifests, a perf sweep) still collects. Set here, before anything but planner/__init__ (typing only)
and planner.lazy is imported, the threshold also covers typer's and pydantic's imports: about 7 ms less
CPU again (21 paired runs) than set after them in planner.cli.main. `import planner` for the API does
none of this.
"""

from __future__ import annotations

import gc
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner import cli
else:
    from planner.lazy import lazy

    cli = lazy("planner.cli")

# gen0 threshold, gen1, gen2 (the defaults are 700, 10, 10)
GC_THRESHOLD = (10_000, 20, 20)


def main() -> None:
    gc.set_threshold(*GC_THRESHOLD)
    try:
        cli.main()
    except KeyboardInterrupt:
        # Ctrl-C while the CLI's modules import (the first ~0.5 s): the commands catch their own, but an
        # import interrupted this early would otherwise end in a traceback and exit -2.
        sys.stderr.write("planner: interrupted\n")
        raise SystemExit(130) from None
