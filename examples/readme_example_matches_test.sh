#!/usr/bin/env bash
# The README's example must be examples/readme_example.cc exactly, so that the example a
# new user copies is one CI compiles and runs.
set -euo pipefail
python3 - "$1" "$2" <<'PY'
import re, sys
readme, source = (open(path).read() for path in sys.argv[1:3])
match = re.search(r"## Example\n\n```cpp\n(.*?)```", readme, re.S)
if match is None or match.group(1) != source:
    sys.exit(f"README.md's example differs from {sys.argv[2]}; make them the same")
print(f"README example matches {sys.argv[2]}")
PY
