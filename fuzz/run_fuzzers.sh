#!/usr/bin/env bash
# fuzz/run_fuzzers.sh: builds the libFuzzer targets with `--config=fuzz` (clang, ASan, UBSan)
# and runs each for FUZZ_SECONDS seconds (default 60) on a scratch copy of its seed corpus in
# a temporary directory; fuzz/corpus/ itself is never written. Prints one line per fuzzer.
# Exits non-zero if any fuzzer finds an input that crashes, leaks, hangs or runs out of
# memory; then it prints the saved input's path and keeps the temporary directory.
#
#   fuzz/run_fuzzers.sh                  # 60 s each
#   FUZZ_SECONDS=600 fuzz/run_fuzzers.sh
#
# Installs clang and the libFuzzer runtime with apt-get (as root, or through sudo) if they
# are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
readonly CLANG=/usr/bin/clang
readonly FUZZER_RUNTIME=/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a

# Each fuzzer with the largest input it generates (-max_len).
readonly FUZZERS=(
  frame_decoder_fuzzer:8192  # room for a 4096-byte frame and a few more around it
  protocol_fuzzer:2048
  codec_fuzzer:2048
  mpi_node_fuzzer:4096
)

if ! [[ "${FUZZ_SECONDS}" =~ ^[1-9][0-9]*$ ]]; then
  echo "run_fuzzers.sh: FUZZ_SECONDS must be a positive whole number, got '${FUZZ_SECONDS}'" >&2
  exit 2
fi

install_clang() {
  [[ -x "${CLANG}" && -f "${FUZZER_RUNTIME}" ]] && return 0
  local -a sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then
      sudo=(sudo)
    else
      echo "run_fuzzers.sh: clang or libclang-rt-14-dev is missing; run as root or install" \
        "them." >&2
      exit 1
    fi
  fi
  echo "run_fuzzers.sh: installing clang libclang-rt-14-dev" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq >&2
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null
  if ! [[ -x "${CLANG}" && -f "${FUZZER_RUNTIME}" ]]; then
    echo "run_fuzzers.sh: still missing ${CLANG} or ${FUZZER_RUNTIME} after apt-get install" >&2
    exit 1
  fi
}

# Prints the value of libFuzzer's final statistic `name` from log file `log` (0 if absent).
final_stat() {
  local value
  value=$(sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -n 1)
  echo "${value:-0}"
}

install_clang

labels=()
for entry in "${FUZZERS[@]}"; do labels+=("//fuzz:${entry%%:*}"); done
./bazelw build --config=fuzz "${labels[@]}"
bin_dir=$(./bazelw info --config=fuzz bazel-bin 2>/dev/null)

work=$(mktemp -d "${TMPDIR:-/tmp}/unidist-fuzz.XXXXXX")
failed=0
for entry in "${FUZZERS[@]}"; do
  name=${entry%%:*}
  max_len=${entry##*:}
  corpus="${work}/${name}/corpus"
  artifacts="${work}/${name}/artifacts"
  log="${work}/${name}/log.txt"
  mkdir -p "${corpus}" "${artifacts}"
  # A structure-aware fuzzer (mpi_node_fuzzer) draws its messages from any bytes: no seeds.
  if [[ -d fuzz/corpus/"${name}" ]]; then cp fuzz/corpus/"${name}"/* "${corpus}/"; fi
  seeds=$(find "${corpus}" -type f | wc -l)

  # A UBSan report aborts the run (the targets are built with -fno-sanitize-recover); ask
  # for its stack. -timeout: an input that takes 10 s is a hang.
  status=0
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" \
    "${bin_dir}/fuzz/${name}" "${corpus}" \
    -max_total_time="${FUZZ_SECONDS}" -max_len="${max_len}" -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="${artifacts}/" \
    >"${log}" 2>&1 || status=$?

  runs=$(final_stat number_of_executed_units "${log}")
  per_second=$(final_stat average_exec_per_sec "${log}")
  inputs=$(find "${corpus}" -type f | wc -l)
  # libFuzzer also saves slow-unit-* inputs; those are reports, not failures.
  mapfile -t found < <(find "${artifacts}" -type f \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  if [[ ${status} -ne 0 || ${#found[@]} -ne 0 ]]; then
    failed=1
    echo "${name}: FAILED after ${runs} executions (${per_second}/s), exit status ${status}"
    for input in "${found[@]}"; do echo "  input: ${input}"; done
    echo "  log: ${log}"
    grep -E -A 30 'ERROR: |runtime error|FUZZ_CHECK failed|deadly signal' "${log}" \
      | head -n 40 | sed 's/^/  | /' || true
  else
    echo "${name}: ok, ${runs} executions in ${FUZZ_SECONDS} s (${per_second}/s)," \
      "corpus ${seeds} -> ${inputs} inputs"
  fi
done

if [[ ${failed} -ne 0 ]]; then
  echo "run_fuzzers.sh: a fuzzer failed; inputs and logs are kept in ${work}" >&2
  exit 1
fi
rm -rf "${work}"
