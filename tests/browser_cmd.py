"""A browser command for ``$BROWSER``: follows redirects and submits the POST form.

Python's :mod:`webbrowser` runs ``$BROWSER`` and waits for it to exit, as it would
for a terminal browser: the login must not stall while it does.
"""

from __future__ import annotations

import sys
import urllib.parse
import urllib.request

from loopback_login.loopback.http_browser import _FormParser


def main(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as response:
        page = response.read().decode()
        where = response.geturl()
    form = _FormParser()
    form.feed(page)
    if form.action and form.method == "post" and form.fields.get("response_type"):
        data = urllib.parse.urlencode(form.fields).encode()
        target = urllib.parse.urljoin(where, form.action)
        with urllib.request.urlopen(target, data=data, timeout=30) as response:
            page = response.read().decode()
    return 0 if "You are signed in" in page else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
