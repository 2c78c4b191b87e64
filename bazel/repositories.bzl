"""unidist_dependencies(): every external repository unidist-cpp needs, all local.

A consumer's WORKSPACE calls this after declaring @unidist:

    local_repository(name = "unidist", path = "...")
    load("@unidist//bazel:repositories.bzl", "unidist_dependencies")
    unidist_dependencies()

Bazel 4.2.3 (Debian's bazel-bootstrap) would otherwise download rules_cc, rules_java,
platforms and remote_coverage_tools; the machines reach no download host, so each gets a
local stand-in (see third_party/). The libraries come from Debian packages, installed by
./bazelw. Every repository is skipped if the workspace already defines one of that name,
so a consumer can bring its own.

With `--define=unidist_absl=source` (the tsan config) Abseil is built from Debian's source
package instead of linked from libabsl_*.so; see bazel/abseil_source.bzl. That repository
is fetched (with apt-get) only in such a build.

The repository rules locate our files through Label(), never through relative paths: a
relative path would resolve against the consumer's workspace.
"""

load("//bazel:abseil_source.bzl", "abseil_source_repositories")

def _copy_build_file_impl(rctx):
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    rctx.symlink(rctx.attr.build_file, "BUILD")
    for target, source in rctx.attr.symlinks.items():
        rctx.symlink(source, target)

# A repository made of one BUILD file of ours plus symlinks to files on this machine.
_copy_build_file = repository_rule(
    implementation = _copy_build_file_impl,
    attrs = {
        "build_file": attr.label(mandatory = True, allow_single_file = True),
        "symlinks": attr.string_dict(),
    },
    local = True,
)

def _rules_cc_stand_in_impl(rctx):
    rctx.file("WORKSPACE", 'workspace(name = "rules_cc")\n')
    rctx.file("BUILD", "")
    rctx.file("cc/BUILD", "")
    rctx.symlink(rctx.attr.defs, "cc/defs.bzl")

_rules_cc_stand_in = repository_rule(
    implementation = _rules_cc_stand_in_impl,
    attrs = {"defs": attr.label(mandatory = True, allow_single_file = True)},
)

def _maybe(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

def unidist_dependencies():
    """Declares the local repositories unidist-cpp builds with."""

    # Stand-ins for what Bazel 4.2.3 itself would download.
    _maybe(
        _rules_cc_stand_in,
        "rules_cc",
        defs = Label("//third_party/rules_cc:defs.bzl"),
    )
    _maybe(
        native.local_repository,
        "rules_java",
        path = "/usr/share/bazel/rules/java",  # Debian bazel-rules-java
    )
    _maybe(
        native.local_repository,
        "platforms",
        path = "/usr/share/bazel/tools/platforms",  # Debian bazel-platforms
    )
    _maybe(
        _copy_build_file,
        "remote_coverage_tools",
        build_file = Label("//third_party/remote_coverage_tools:stand_in.BUILD"),
    )

    # Abseil, Protobuf, glog, GoogleTest, Google Benchmark from Debian packages.
    _maybe(
        _copy_build_file,
        "unidist_deps",
        build_file = Label("//third_party:system_libraries.BUILD"),
        symlinks = {
            "protoc": "/usr/bin/protoc",
            # libopenmpi-dev's headers (mpicc -showme), outside the compiler's search path.
            "openmpi/include": "/usr/lib/x86_64-linux-gnu/openmpi/include",
        },
    )

    # Abseil from Debian's source package, for --define=unidist_absl=source (the tsan build).
    abseil_source_repositories()
