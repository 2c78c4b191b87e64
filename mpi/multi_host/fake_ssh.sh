#!/usr/bin/env bash
# A stand-in for ssh, for OpenMPI's rsh launcher (--mca plm_rsh_agent): runs the command
# mpirun sends to a "remote" host on this machine, the way sshd on that host would, so that
# one machine can rehearse a job over several hosts (mpi/multi_host/rehearse.sh).
#
# mpirun runs it as:  fake_ssh.sh [ssh options] HOST "orted -mca ..."
# and the command runs:
#   * in a UTS namespace of its own whose host name is HOST (unshare --uts; needs root),
#     so that orted and the ranks it starts see gethostname() == HOST: MPI_Get_processor_name,
#     OpenMPI's node name, and with it the shared-memory transport, which OpenMPI then
#     uses only between ranks of the same host;
#   * with TMPDIR=$UNIDIST_REHEARSAL_ROOT/HOST: a session directory per host;
#   * with a login's environment (env -i: HOME, USER, PATH, ...), so that nothing of
#     mpirun's environment reaches the host unless `mpirun -x` forwards it — plus the
#     assignments in $UNIDIST_REHEARSAL_ENV_<HOST> (e.g. "UNIDIST_CPUS=1"), what that
#     host's own profile would set.
# Without the right to make a namespace, every host keeps this machine's name (and the
# shared-memory transport gets a directory per host so that the hosts' segments do not
# collide); it says so on stderr.
set -euo pipefail
while [[ $# -gt 0 && "$1" == -* ]]; do  # ssh options, if plm_rsh_args adds any
  case "$1" in -o | -p | -l | -i | -F | -E | -J) shift 2 ;; *) shift ;; esac
done
[[ $# -ge 2 ]] || { echo "usage: fake_ssh.sh [options] HOST COMMAND..." >&2; exit 255; }
host="$1"
shift
root="${UNIDIST_REHEARSAL_ROOT:-/tmp/unidist-rehearsal}"
mkdir -p "${root}/${host}"
host_env_name="UNIDIST_REHEARSAL_ENV_${host//[^A-Za-z0-9_]/_}"
read -r -a host_env <<<"${!host_env_name:-}"
login=(env -i HOME="${HOME:-/root}" USER="$(id -un)" LOGNAME="$(id -un)" SHELL=/bin/sh
       PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
       TMPDIR="${root}/${host}" "${host_env[@]}")
cd "${HOME:-/}"
# ssh hands the remote shell one string: so does this, through sh -c.
if unshare --uts -- true 2>/dev/null; then
  exec "${login[@]}" unshare --uts -- /bin/sh -c \
    'hostname "$1" || exit 255; shift; exec /bin/sh -c "$*"' fake_ssh "${host}" "$@"
fi
echo "fake_ssh.sh: cannot make a UTS namespace here; ${host} keeps the name $(hostname)" >&2
exec "${login[@]}" OMPI_MCA_btl_vader_backing_directory="${root}/${host}" /bin/sh -c "$*"
