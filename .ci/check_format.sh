#!/usr/bin/env bash
# Checks that every C++ file in git is formatted by .clang-format (clang-format 14, which
# ./bazelw installs); prints the files that are not and exits 1. With --fix, formats them.
#
#   .ci/check_format.sh          # check, as .ci/run does
#   .ci/check_format.sh --fix    # rewrite the files in place
set -euo pipefail
cd "$(dirname "$0")/.."
./bazelw --version >/dev/null  # installs clang-format with the other packages

mapfile -t files < <(git ls-files '*.cc' '*.h')
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i --style=file "${files[@]}"
  exit 0
fi
unformatted=()
for file in "${files[@]}"; do
  if ! clang-format --style=file --dry-run --Werror "${file}" >/dev/null 2>&1; then
    unformatted+=("${file}")
  fi
done
if [[ ${#unformatted[@]} -gt 0 ]]; then
  echo "check_format: ${#unformatted[@]} file(s) differ from .clang-format:" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  echo "run .ci/check_format.sh --fix (or clang-format -i FILE) and commit the result" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files formatted"
