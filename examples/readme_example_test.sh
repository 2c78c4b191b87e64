#!/usr/bin/env bash
# Runs the README's example and checks what it prints.
set -euo pipefail
output=$("$1")
echo "${output}"
grep -q "sum of squares: 328350$" <<<"${output}"
