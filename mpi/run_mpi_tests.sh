#!/usr/bin/env bash
# The end-to-end suite on the mpi backend: builds the api e2e test binaries and the
# examples, runs each under `mpirun -n RANKS` on this machine (loopback only) with
# UNIDIST_BACKEND=mpi and a time limit, and prints a pass/fail summary. A hang fails its
# binary (it is killed at the limit); it never blocks. Exit status: 0 if all passed.
#
# Usage (from the repository root): mpi/run_mpi_tests.sh [gtest_filter]
# Environment: MPI_RANKS (default 3: the driver and two worker ranks), MPI_TEST_SECONDS
# (the limit per binary, default 600), MPI_EXTRA_ARGS (more mpirun arguments, split on
# spaces), MPI_LOG_DIR (where the logs go; default a new temporary directory).
set -uo pipefail
cd "$(dirname "$0")/.."

ranks="${MPI_RANKS:-3}"
limit="${MPI_TEST_SECONDS:-600}"
filter="${1:-*}"
tests=(api/unidist_test api/lifecycle_test api/actor_test api/actor_handles_test
       api/actor_classes_test api/actor_concurrency_test api/ref_values_test api/cancel_test api/nested_test
       api/map_test api/stress_test api/shared_arrays_test mpi/objects_e2e_test
       mpi/ranks_e2e_test)
# Run once more with one rank more than cores on a 2-core machine: by default every worker
# rank runs workers and gets tasks, however few cores each has.
more_ranks=4
more_ranks_tests=(mpi/ranks_e2e_test)
# Example programs, each with a line its output must contain.
examples=("examples/quickstart|speedup over one worker"
          "examples/readme_example|sum of squares: 328350"
          "examples/parameter_server|fitted y = ")

targets=()
for t in "${tests[@]}"; do targets+=("//${t%/*}:${t##*/}"); done
for e in "${examples[@]}"; do p="${e%%|*}"; targets+=("//${p%/*}:${p##*/}"); done
./bazelw build "${targets[@]}" || { echo "mpi suite: the build failed"; exit 1; }
bin="$(./bazelw info bazel-bin 2>/dev/null)"

# Root may run mpirun only when it says so; --oversubscribe: more ranks than cores is
# fine here. Loopback only: shared memory (vader) between the ranks, TCP on lo for the
# rest. --bind-to none: the worker processes a rank forks must not share its one core.
mpirun_args=(--oversubscribe --bind-to none
             --mca btl self,vader,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo
             -x UNIDIST_BACKEND=mpi)
[[ $(id -u) -eq 0 ]] && mpirun_args+=(--allow-run-as-root)
read -r -a extra_args <<<"${MPI_EXTRA_ARGS:-}"
mpirun_args+=("${extra_args[@]}")

logs="${MPI_LOG_DIR:-$(mktemp -d)}"
mkdir -p "${logs}"
passed=()
failed=()
run() {  # ranks, name, command...
  local ranks="$1" name="$2"; shift 2
  local log="${logs}/${name//\//_}.log"
  local start=${SECONDS}
  UNIDIST_BACKEND=mpi timeout --kill-after=15 "${limit}" \
    mpirun -n "${ranks}" "${mpirun_args[@]}" "$@" >"${log}" 2>&1
  local code=$?
  local took=$((SECONDS - start))
  if [[ ${code} -eq 0 ]]; then
    passed+=("${name} (${took} s)")
    return 0
  fi
  [[ ${code} -eq 124 || ${code} -eq 137 ]] && name="${name} (timed out after ${limit} s)"
  failed+=("${name} (exit ${code}, ${took} s)")
  echo "--- ${name}: exit ${code}; the end of its output (${log}):"
  tail -n 60 "${log}"
  return 1
}

for t in "${tests[@]}"; do
  echo "=== mpirun -n ${ranks} ${t}"
  run "${ranks}" "${t}" "${bin}/${t}" --gtest_filter="${filter}" --gtest_color=no
  grep -a -E '^\[  (PASSED|FAILED|SKIPPED) ' "${logs}/${t//\//_}.log" | sed 's/^/    /'
done
[[ ${more_ranks} -eq ${ranks} ]] && more_ranks_tests=()
for t in "${more_ranks_tests[@]}"; do
  echo "=== mpirun -n ${more_ranks} ${t}"
  run "${more_ranks}" "${t}@${more_ranks}ranks" "${bin}/${t}" --gtest_filter="${filter}" \
    --gtest_color=no
  grep -a -E '^\[  (PASSED|FAILED|SKIPPED) ' "${logs}/${t//\//_}@${more_ranks}ranks.log" |
    sed 's/^/    /'
done
for e in "${examples[@]}"; do
  program="${e%%|*}"
  expected="${e#*|}"
  echo "=== mpirun -n ${ranks} ${program}"
  if run "${ranks}" "${program}" "${bin}/${program}" &&
     ! grep -qF -- "${expected}" "${logs}/${program//\//_}.log"; then
    passed=("${passed[@]:0:${#passed[@]}-1}")
    failed+=("${program} (no line with '${expected}')")
  fi
done

echo
echo "=== mpi suite summary (${ranks} ranks, UNIDIST_BACKEND=mpi; logs in ${logs})"
for p in "${passed[@]}"; do echo "PASS ${p}"; done
for f in "${failed[@]}"; do echo "FAIL ${f}"; done
echo "${#passed[@]} passed, ${#failed[@]} failed"
[[ ${#failed[@]} -eq 0 ]]
