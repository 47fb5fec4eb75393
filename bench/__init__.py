"""composewatch's benchmark: from a save to the new content served, four ways.

`python -m bench --help` (or `make bench`); see bench/README.md.
"""
