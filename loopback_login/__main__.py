"""``python -m loopback_login`` is ``loopback-login``."""

from __future__ import annotations

from loopback_login.cli.main import main

raise SystemExit(main())
