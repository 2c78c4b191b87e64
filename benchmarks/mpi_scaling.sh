#!/usr/bin/env bash
# The mpi backend across ranks, against its floors measured in the same run: builds
# //benchmarks:mpi_scaling and //benchmarks:mpi_floor, runs them under mpirun on this
# machine (loopback only), and prints one Markdown table.
#   1. the floor: plain MPI moving --move_bytes from rank 1 to rank 2, over shared memory
#      (btl vader) and over TCP (btl tcp), and a memcpy of the same bytes;
#   2. unidist: CPU-bound speedup from one worker to all (each worker rank's CPUs),
#      Submit + Get latency (back to back, after idle pauses), what an idle rank costs,
#      and the same large value read on another rank — over shared memory, then again
#      over TCP alone (as between hosts), each against its floor.
#
# Usage (from the repository root): benchmarks/mpi_scaling.sh [--quick]
# Environment: MPI_RANKS (default 3: the driver and two worker ranks); MPI_ARGS, the
# placement and network options (default: this machine, loopback only: "--oversubscribe
# --bind-to none --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo"; on a cluster,
# e.g. "--hostfile hosts --map-by node --bind-to none --mca btl_tcp_if_include eth0").
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
[[ "${1:-}" == "--quick" ]] && quick=(--quick)
ranks="${MPI_RANKS:-3}"
bytes=$((100 << 20))
[[ ${#quick[@]} -gt 0 ]] && bytes=$((8 << 20))

./bazelw build //benchmarks:mpi_scaling //benchmarks:mpi_floor >&2
bin="$(./bazelw info bazel-bin 2>/dev/null)/benchmarks"
read -r -a placement <<<"${MPI_ARGS:---oversubscribe --bind-to none --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo}"
base=(-n "${ranks}" "${placement[@]}")
[[ $(id -u) -eq 0 ]] && base+=(--allow-run-as-root)
run() {  # btl, program, args...
  local btl="$1"; shift
  timeout --kill-after=15 600 mpirun "${base[@]}" --mca btl "${btl}" "$@"
}
# "mpi_floor bytes=N move_ms=MEDIAN,MIN,MAX memcpy_ms=..." -> the field asked for.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

shm_floor=$(run self,vader "${bin}/mpi_floor" --bytes="${bytes}" | grep '^mpi_floor')
tcp_floor=$(run self,tcp "${bin}/mpi_floor" --bytes="${bytes}" | grep '^mpi_floor')
shm_move=$(field "${shm_floor}" move_ms)
tcp_move=$(field "${tcp_floor}" move_ms)
memcpy=$(field "${shm_floor}" memcpy_ms)

echo "| workload | unit | unidist-cpp median (min–max) | floor | ratio |"
echo "|---|---|---|---|---|"
run self,vader,tcp "${bin}/mpi_scaling" "${quick[@]}" --move_bytes="${bytes}" \
  --floor_move_ms="${shm_move%%,*}" --transport="shared memory" | grep '^|'
run self,tcp "${bin}/mpi_scaling" "${quick[@]}" --move_bytes="${bytes}" --groups=move \
  --floor_move_ms="${tcp_move%%,*}" --transport="TCP only" | grep '^|' | grep 'another rank'
echo
echo "Floors, median (min, max) ms for $((bytes >> 20)) MiB, rank 1 to rank 2 and back 1 byte:"
echo "MPI over shared memory ${shm_move}; MPI over TCP ${tcp_move}; memcpy ${memcpy}."
echo "Ranks: ${ranks}; mpirun ${placement[*]}; this host has $(nproc) CPUs."
