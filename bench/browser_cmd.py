"""A browser for ``$BROWSER`` in the memory section: follows the redirects of a GET
login to the loopback page (the bench emulator approves on its own) and exits 0 if
that page says the login worked.
"""

from __future__ import annotations

import sys
import urllib.request


def main(url: str) -> int:
    with urllib.request.urlopen(url, timeout=20) as response:
        page = response.read().decode()
    return 0 if "You are signed in" in page else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
