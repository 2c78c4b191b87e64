#!/usr/bin/env bash
# The CMake build, as CI runs it: configure and build unidist-cpp, run its tests through
# CTest, install it into a temporary prefix, then build and run examples/consumer against
# that install with find_package(unidist). See docs/cmake.md.
#
#   .ci/cmake.sh                                   # fresh temporary build directory
#   UNIDIST_CMAKE_BUILD_DIR=/tmp/unidist-cmake .ci/cmake.sh   # keep and reuse one
#
# Build directories live outside the source tree, so neither git nor Bazel sees them.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly SOURCE_DIR=$PWD

step() { printf '\n=== [cmake.sh %4ds] %s\n' "${SECONDS}" "$*"; }

# ./bazelw installs every Debian package the project needs (cmake included) and is quiet
# when they are all there; `bazel --version` starts no server.
step "Debian packages (through ./bazelw)"
./bazelw --version >/dev/null

scratch=$(mktemp -d "${TMPDIR:-/tmp}/unidist-cmake.XXXXXX")
trap 'rm -rf "${scratch}"' EXIT
build_dir=${UNIDIST_CMAKE_BUILD_DIR:-${scratch}/build}
prefix=${scratch}/prefix
consumer_build_dir=${scratch}/consumer-build

# ccache (installed by ./bazelw) keeps compiled objects between runs under the same cache
# directory as Bazel's disk cache, so that a rerun on this machine recompiles only what
# changed; a cold cache costs nothing extra.
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_DIR="${CCACHE_DIR:-${HOME}/.cache/unidist/ccache}"
  # Paths relative to the build directory, so that a fresh scratch directory hits too.
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-/}"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

step "configure ${build_dir}"
cmake -S "${SOURCE_DIR}" -B "${build_dir}" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}"

step "build (-j2)"
cmake --build "${build_dir}" -j2

step "ctest (the same tests as ./bazelw test //...)"
ctest --test-dir "${build_dir}" --output-on-failure -j2

step "install into ${prefix}"
cmake --install "${build_dir}" --prefix "${prefix}"

step "the installed headers: all under include/unidist/, each compiles on its own"
top_level=$(find "${prefix}/include" -mindepth 1 -maxdepth 1 -printf '%f\n')
if [[ "${top_level}" != "unidist" ]]; then
  echo "cmake.sh: ${prefix}/include holds more than unidist/:" ${top_level} >&2
  exit 1
fi
while IFS= read -r header; do
  c++ -std=c++17 -fsyntax-only -Wall -Wextra -Werror -I"${prefix}/include" -x c++ "${header}"
done < <(find "${prefix}/include" -name '*.h' | sort)
echo "$(find "${prefix}/include" -name '*.h' | wc -l) headers, every one self-contained"

step "examples/consumer: find_package(unidist) from the install"
cmake -S examples/consumer -B "${consumer_build_dir}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="${prefix}" "${launcher[@]}"
cmake --build "${consumer_build_dir}" -j2
"${consumer_build_dir}/consumer"
# unidist::api alone brings the multiprocessing and sequential backends and no MPI.
if ldd "${consumer_build_dir}/consumer" | grep -i 'libmpi'; then
  echo "cmake.sh: the consumer, linked with unidist::api only, links MPI" >&2
  exit 1
fi
# Read whole first: with pipefail, `ldd | grep -q` fails when grep's early exit makes
# ldd's next write raise SIGPIPE.
on_mimalloc_libs="$(ldd "${consumer_build_dir}/consumer_on_mimalloc")"
if ! grep -q 'libmimalloc' <<<"${on_mimalloc_libs}"; then
  echo "cmake.sh: consumer_on_mimalloc does not link mimalloc" >&2
  exit 1
fi
ctest --test-dir "${consumer_build_dir}" --output-on-failure

step "done"
