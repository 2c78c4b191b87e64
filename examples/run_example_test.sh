#!/usr/bin/env bash
# Runs an example program ($1), which must succeed and print a line containing $2.
set -euo pipefail
output=$("$1")
echo "${output}"
grep -qF -- "$2" <<<"${output}"
