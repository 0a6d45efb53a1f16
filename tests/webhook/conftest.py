"""The webhook's tests, in folders that mirror its packages; the helpers they share (wh*.py) stay here.

This directory has no `__init__.py`, so pytest puts it on `sys.path` when it loads this file, before the
tests in the folders below import `whsupport`, `whserver` and the other helpers by their plain names.
"""
