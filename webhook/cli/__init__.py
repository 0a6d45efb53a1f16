"""The `canary-webhook` console script, a module per command: `serve` (the server), `review` (the same
decision offline) and `certs` (a CA and a serving pair); `group` holds the group and the exit codes, `main`
assembles them. Commands parse, call and print; they may import every other webhook package.
"""
