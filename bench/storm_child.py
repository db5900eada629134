"""One process of the refresh storm: start up, report ready, wait for the release,
then run ``loopback-login token`` (the console script's own ``main``).

``python bench/storm_child.py READY_FD``; stdin is the shared release pipe.
"""

from __future__ import annotations

import os
import sys

from loopback_login.cli.main import main

os.write(int(sys.argv[1]), b"r")
os.read(0, 1)
sys.exit(main(["token"]))
