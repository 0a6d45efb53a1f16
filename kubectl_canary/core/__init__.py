"""The pure core: plain functions over Kubernetes objects as dicts, and frozen dataclasses for values.

Nothing in this package does I/O or imports click, Flask or the kubernetes client, so both the plugin
and the webhook can use it and it can be tested with tables of inputs and outputs.
"""
