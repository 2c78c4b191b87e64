#!/usr/bin/env bash
# What a dead worker rank does to an mpi job (docs/backend_mpi.md, "When a worker rank
# dies"): OpenMPI 4.1 cannot keep the job alive, so it must end it at once, loudly and
# completely, and never hang. Runs mpi/rank_death_probe under `mpirun -n 3`, kills rank 2
# with SIGKILL while its task runs, then checks that mpirun exits within 30 s with a
# non-zero status and its message naming the signal, and that no process of the job is
# left. Exit status: 0 if all of that held.
#
# Usage (from the repository root): mpi/rank_death_test.sh
# Environment: MPI_EXTRA_ARGS (more mpirun arguments, split on spaces; e.g. the hosts of
# mpi/multi_host/rehearse.sh, where the ranks are orted's children, not mpirun's).
set -uo pipefail
cd "$(dirname "$0")/.."

./bazelw build //mpi:rank_death_probe || { echo "rank death test: the build failed"; exit 1; }
probe="$(./bazelw info bazel-bin 2>/dev/null)/mpi/rank_death_probe"
log="$(mktemp)"
fail() {
  echo "rank death test: FAIL: $*"
  echo "--- the job's output (${log}):"
  cat "${log}"
  pkill -KILL -f "${probe}" 2>/dev/null
  exit 1
}

args=(-n 3 --oversubscribe --bind-to none --mca btl self,vader,tcp
      --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo -x UNIDIST_BACKEND=mpi)
[[ $(id -u) -eq 0 ]] && args+=(--allow-run-as-root)
read -r -a extra_args <<<"${MPI_EXTRA_ARGS:-}"
args+=("${extra_args[@]}")
# The outer limit only guards this script: the checks below want the job gone in 30 s.
UNIDIST_BACKEND=mpi timeout --kill-after=10 300 mpirun "${args[@]}" "${probe}" >"${log}" 2>&1 &
job=$!

for _ in $(seq 1 1200); do
  grep -q "probe: tasks submitted" "${log}" && break
  kill -0 "${job}" 2>/dev/null || fail "the job ended before its tasks were submitted"
  sleep 0.1
done
grep -q "probe: tasks submitted" "${log}" || fail "no 'probe: tasks submitted' in 120 s"
sleep 2  # the tasks reach their ranks and start

# Rank 2 is the process of the probe whose environment says so and whose parent's does
# not (its worker processes, which share that environment, are its children). Its parent
# is mpirun, or an orted when the ranks run on (rehearsed) other hosts.
pgrep -P "${job}" -x mpirun >/dev/null || fail "mpirun is not running"
# grep reads from a process substitution, not a pipe: with pipefail, tr killed by SIGPIPE
# after grep's early exit would make the match count as a miss.
is_rank2() { grep -qx "OMPI_COMM_WORLD_RANK=2" < <(tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null); }
rank2=""
for pid in $(pgrep -f "${probe}"); do
  parent="$(ps -o ppid= -p "${pid}" | tr -d ' ')"
  if is_rank2 "${pid}" && ! is_rank2 "${parent}"; then rank2="${pid}"; fi
done
[[ -n "${rank2}" ]] || fail "no process of rank 2 among the job's"

echo "rank death test: killing rank 2 (pid ${rank2}) with SIGKILL"
killed_at=${SECONDS}
kill -KILL "${rank2}"
wait "${job}"
code=$?
took=$((SECONDS - killed_at))

[[ ${code} -ne 0 ]] || fail "mpirun exited with status 0 after a rank was killed"
[[ ${code} -ne 124 ]] || fail "the job did not end: the time limit stopped it"
[[ ${took} -le 30 ]] || fail "the job took ${took} s to end after the kill"
grep -q "exited on signal 9" "${log}" || fail "mpirun did not say that a rank exited on signal 9"
grep -q "probe: the job survived" "${log}" && fail "the driver carried on after the kill"
for _ in $(seq 1 50); do
  pgrep -f "${probe}" >/dev/null || break
  sleep 0.1
done
left="$(pgrep -f "${probe}")" && fail "processes of the job are still running: ${left}"

echo "rank death test: PASS: mpirun exited with status ${code} ${took} s after the kill;"
grep "exited on signal 9" "${log}" | sed 's/^/  /'
rm -f "${log}"
