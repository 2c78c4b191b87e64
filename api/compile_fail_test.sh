#!/usr/bin/env bash
# Compiles each snippet of compile_fail/ and checks what the compiler says against the
# snippet's EXPECT lines: the common mistakes with unidist's templates must each give one
# error, whose message says how to fix the call and whose note names the types involved,
# reported at the user's line (a line marked "// MISTAKE"), and nothing else.
#
#   compile_fail_test.sh COMMAND_FILE SNIPPET...
#
# COMMAND_FILE holds the compile command, one argument per line (Bazel:
# //bazel:compile_command.bzl, the command a cc_library depending on //api gets; CMake:
# the same flags, written by api/CMakeLists.txt). Each snippet is compiled with it and
# -fsyntax-only, which instantiates templates, and so reports every error a build would.
#
# A snippet's expectations, in its comments:
#   // EXPECT-ERROR: TEXT     exactly one error, whose message contains TEXT; no warning
#   // EXPECT-NOTE: TEXT      the first note after that error contains TEXT
#   // EXPECT-WARNING: TEXT   compiles; the first warning contains TEXT
#   // EXPECT-COMPILES        compiles, with no warning
#   // FLAGS: FLAG...         more flags for this snippet
# An EXPECT-ERROR snippet marks the lines the error may be reported at with "// MISTAKE";
# GCC names that line in the "required from here" line above the error.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 COMMAND_FILE SNIPPET..." >&2
  exit 2
fi
mapfile -t command <"$1"
shift

# More lines than this is a cascade even with one "error:" line (a wall of candidates).
readonly MAX_LINES=25

failures=0
fail() {
  echo "FAIL $1: $2" >&2
  if [[ -n "${3:-}" ]]; then
    echo "---- compiler output:" >&2
    echo "$3" >&2
    echo "----" >&2
  fi
  failures=$((failures + 1))
}

# The text after "// KEY: " in the snippet, or nothing.
expectation() { sed -n "s|^// $2: ||p" "$1" | head -n 1; }

for snippet in "$@"; do
  name=$(basename "${snippet}")
  read -r -a extra_flags <<<"$(expectation "${snippet}" FLAGS)"
  status=0
  output=$("${command[@]}" "${extra_flags[@]}" -fsyntax-only "${snippet}" 2>&1) || status=$?
  errors=$(grep -c 'error: ' <<<"${output}" || true)
  warnings=$(grep -c 'warning: ' <<<"${output}" || true)

  expected_error=$(expectation "${snippet}" EXPECT-ERROR)
  expected_warning=$(expectation "${snippet}" EXPECT-WARNING)
  if [[ -n "${expected_error}" ]]; then
    first_error=$(grep -m 1 'error: ' <<<"${output}" || true)
    note=$(sed -n '/error: /,$p' <<<"${output}" | grep -m 1 'note: ' || true)
    expected_note=$(expectation "${snippet}" EXPECT-NOTE)
    mapfile -t mistake_lines < <(grep -n '// MISTAKE' "${snippet}" | cut -d: -f1)
    here=$(grep -m 1 'required from here' <<<"${output}" || true)
    here_line=$(sed -n "s|^.*${name}:\([0-9]*\):[0-9]*: *required from here.*|\1|p" <<<"${here}")
    if [[ ${status} -eq 0 ]]; then
      fail "${name}" "compiled; expected an error"
    elif [[ ${errors} -ne 1 ]]; then
      fail "${name}" "${errors} errors; expected exactly one" "${output}"
    elif [[ "${first_error}" != *"${expected_error}"* ]]; then
      fail "${name}" "the error does not say \"${expected_error}\"" "${output}"
    elif [[ -n "${expected_note}" && "${note}" != *"${expected_note}"* ]]; then
      fail "${name}" "the note under the error does not name \"${expected_note}\"" "${output}"
    elif [[ ${warnings} -ne 0 ]]; then
      fail "${name}" "${warnings} warnings besides the error" "${output}"
    elif [[ -z "${here_line}" ]] || ! printf '%s\n' "${mistake_lines[@]}" | grep -qx "${here_line}"; then
      fail "${name}" "the error is not reported at a line marked // MISTAKE" "${output}"
    elif [[ $(wc -l <<<"${output}") -gt ${MAX_LINES} ]]; then
      fail "${name}" "$(wc -l <<<"${output}") lines of output; expected at most ${MAX_LINES}" \
        "${output}"
    else
      echo "ok   ${name}: ${first_error##*error: }"
    fi
  elif [[ -n "${expected_warning}" ]]; then
    first_warning=$(grep -m 1 'warning: ' <<<"${output}" || true)
    if [[ ${status} -ne 0 ]]; then
      fail "${name}" "did not compile" "${output}"
    elif [[ "${first_warning}" != *"${expected_warning}"* ]]; then
      fail "${name}" "no warning saying \"${expected_warning}\"" "${output}"
    else
      echo "ok   ${name}: compiles, ${first_warning##*warning: }"
    fi
  elif grep -q '^// EXPECT-COMPILES' "${snippet}"; then
    if [[ ${status} -ne 0 || ${warnings} -ne 0 ]]; then
      fail "${name}" "expected to compile without a warning" "${output}"
    else
      echo "ok   ${name}: compiles"
    fi
  else
    fail "${name}" "no EXPECT-ERROR, EXPECT-WARNING or EXPECT-COMPILES line"
  fi
done

if [[ ${failures} -ne 0 ]]; then
  echo "${failures} of $# snippets failed" >&2
  exit 1
fi
echo "all $# snippets as expected"
