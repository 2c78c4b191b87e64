#!/bin/sh
# Runs comment_filter_test.py with the system python3. (A py_test's launcher runs
# `/usr/bin/env python`, which Debian 12 does not have without python-is-python3.)
# -B: the runfiles are symlinks into the source tree, where bytecode must not be written.
exec python3 -B "$1"
