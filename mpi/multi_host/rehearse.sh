#!/usr/bin/env bash
# The mpi backend rehearsed over several hosts on one machine: OpenMPI launches the job on
# three made-up hosts through fake_ssh.sh (its rsh launcher's agent), so that what differs
# between machines is exercised, not assumed:
#   * each host has its own name (MPI_Get_processor_name, gethostname in tasks), its own
#     OpenMPI session and temp directory, and a login's environment: only what `mpirun -x`
#     forwards reaches it, plus what the host's own profile sets (here UNIDIST_CPUS);
#   * no shared memory between ranks on different hosts: OpenMPI sees different nodes and
#     uses TCP (on loopback) between them, shared memory (vader) only within hostB;
#   * the ranks are started by an orted per host, and their output reaches mpirun through it.
# Layout (hostfile, --map-by node): rank 0, the driver, on hostA; ranks 1 and 3 on hostB,
# whose profile sets UNIDIST_CPUS=1; rank 2 on hostC, with UNIDIST_CPUS=2.
#
# Runs the e2e suite and the examples (mpi/run_mpi_tests.sh) with 4 ranks so placed,
# checks that each worker rank reported its host and CPUs and that the tasks' own lines
# came back from hostB and hostC, that shared memory alone cannot connect the hosts, then
# kills a rank on a "remote" host (mpi/rank_death_test.sh). Exit status: 0 if all held.
#
# Usage (from the repository root): mpi/multi_host/rehearse.sh [gtest_filter]
# Needs root for the hosts' names (unshare --uts); without it the hosts share this
# machine's name and the checks of names are skipped, with a note.
set -uo pipefail
cd "$(dirname "$0")/../.."

root="$(mktemp -d /tmp/unidist-rehearsal.XXXXXX)"
cleanup() {
  rm -rf "${root}"
  # What an orted killed with its host leaves (the rank death test kills a rank only).
  rm -f /dev/shm/vader_segment.hostA.* /dev/shm/vader_segment.hostB.* \
    /dev/shm/vader_segment.hostC.*
}
trap cleanup EXIT
cat >"${root}/hostfile" <<HOSTS
hostA slots=1
hostB slots=2
hostC slots=1
HOSTS

export UNIDIST_REHEARSAL_ROOT="${root}"
export UNIDIST_REHEARSAL_ENV_hostB="UNIDIST_CPUS=1"
export UNIDIST_REHEARSAL_ENV_hostC="UNIDIST_CPUS=2"
# As MCA defaults in the environment, which mpirun reads beside the scripts' own options.
export OMPI_MCA_plm_rsh_agent="${PWD}/mpi/multi_host/fake_ssh.sh"
export OMPI_MCA_orte_default_hostfile="${root}/hostfile"
export OMPI_MCA_rmaps_base_mapping_policy=node

own_names=1
unshare --uts -- true 2>/dev/null || own_names=0
expected_hosts="hostB,hostC,hostB"
extra="-x RANKS_TEST_EXPECTED_CPUS=1,2,1"
if [[ ${own_names} -eq 1 ]]; then
  extra+=" -x RANKS_TEST_EXPECTED_HOSTS=${expected_hosts}"
else
  echo "rehearsal: no UTS namespaces here: every host keeps the name $(hostname); names unchecked"
fi

status=0
echo "=== the e2e suite and the examples on hostA (driver), hostB (ranks 1, 3), hostC (rank 2)"
MPI_RANKS=4 MPI_EXTRA_ARGS="${extra}" MPI_LOG_DIR="${root}/logs" mpi/run_mpi_tests.sh "$@" ||
  status=1

# The tasks' lines, written to stderr by worker processes on the "remote" hosts.
log="${root}/logs/mpi_ranks_e2e_test.log"
if [[ ${own_names} -eq 1 && -f "${log}" ]]; then
  for where in "rank 1, host hostB" "rank 2, host hostC" "rank 3, host hostB"; do
    if grep -q "ran on ${where}" "${log}"; then
      echo "rehearsal: a task's line from ${where} reached mpirun"
    else
      echo "rehearsal: FAIL: no task's line from ${where} in ${log}"
      status=1
    fi
  done
fi

# The hosts are distinct nodes to OpenMPI: with shared memory as the only transport between
# ranks, the job cannot even start.
if [[ ${own_names} -eq 1 ]]; then
  bin="$(./bazelw info bazel-bin 2>/dev/null)"
  if timeout 120 mpirun -n 3 --allow-run-as-root --oversubscribe --bind-to none \
    --mca btl self,vader --mca oob_tcp_if_include lo -x UNIDIST_BACKEND=mpi \
    "${bin}/mpi/ranks_e2e_test" >"${root}/vader_only.log" 2>&1; then
    echo "rehearsal: FAIL: ranks on different hosts talked over shared memory alone"
    status=1
  elif grep -q "unable to reach each other" "${root}/vader_only.log"; then
    echo "rehearsal: with shared memory alone, OpenMPI finds the hosts' ranks unreachable (as it should)"
  else
    echo "rehearsal: FAIL: with shared memory alone the job failed, but not for want of a route:"
    tail -n 20 "${root}/vader_only.log"
    status=1
  fi
fi

echo "=== a rank on hostC killed with SIGKILL"
MPI_EXTRA_ARGS="" mpi/rank_death_test.sh || status=1

echo
if [[ ${status} -eq 0 ]]; then
  echo "rehearsal over three hosts: PASS"
else
  echo "rehearsal over three hosts: FAIL"
fi
exit "${status}"
