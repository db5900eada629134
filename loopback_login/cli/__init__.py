"""``loopback-login``: the entry point (``main``), the cached ``token`` fast path,
what the CLI prints, the click commands and their options.

Rule: the top layer; nothing else imports it. ``main`` and ``fast`` import only
``store`` and ``output`` before a command needs more.
"""
