"""Policy: allow, ask or deny each action from layered rules and a mode.

``rules`` parses rule strings, ``paths`` and ``bash_match`` match them, ``shell``
and ``wrappers`` split a command line into the simple commands it runs,
``modes`` holds the modes' defaults and ``engine`` decides. Import from those
modules; this file imports nothing, so importing the package costs nothing.
"""
