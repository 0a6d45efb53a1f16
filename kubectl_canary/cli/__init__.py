"""The click layer of `kubectl canary`: parse flags, call the core and a store, print results."""
