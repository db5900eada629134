"""``python -m loopback_login`` is ``loopback-login``."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
