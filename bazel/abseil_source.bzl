"""Abseil built from Debian's source package, for the ThreadSanitizer build.

The normal build links Debian's prebuilt libabsl_*.so. Those are not instrumented, so under
ThreadSanitizer every absl::Mutex lock and unlock is invisible and TSan reports races that
are not there. `--define=unidist_absl=source` (set by `build:tsan` in .bazelrc) makes the
@unidist_deps//:absl_* targets (one per Abseil library, and the umbrella :absl) build Abseil
from source instead, with the same flags as our code, from the Debian source package of
exactly the version libabsl-dev installs:

  * the .orig tarball and the Debian patches are fetched with `apt-get source` from Debian's
    archive (the one host the machines reach) into the repository directory, with apt
    pointed at a private sources.list and state directory: the system's apt configuration
    and lists are not touched;
  * both tarballs are checked against the sha256 pinned below;
  * Debian's patches are applied in `debian/patches/series` order, so the options match the
    system library (absl::string_view/optional/any/variant are Abseil's own types, hardened
    mode); only the inline namespace is renamed (see _INLINE_NAMESPACE);
  * then the `patches` of the rule, if any (none today: the one false race TSan reports
    inside this version's absl::Mutex is suppressed instead, see
    third_party/abseil_source/tsan_suppressions.cc);
  * Abseil's own BUILD.bazel files build it. Their references to GoogleTest, Google
    Benchmark and bazel_skylib are mapped to @unidist_abseil_source_stand_ins.

Bazel fetches a repository only when a target that is analyzed depends on it, and the
select() in third_party/system_libraries.BUILD names these targets only under the define,
so a normal build or test never runs apt-get. (`bazel query 'deps(...)'` follows every
branch of a select() and does fetch it; `bazel cquery` does not.)

Headers: our sources and Abseil's include "absl/...". Bazel passes the repository root as
`-iquote external/unidist_abseil_source`, and GCC searches -iquote directories for quoted
includes before the system directories, so /usr/include/absl is never read in this build.
"""

# libabsl-dev in Debian 12 (bookworm). Update together with the system package: once Debian
# publishes a newer revision, this one leaves the archive and the fetch fails.
ABSEIL_DEBIAN_VERSION = "20220623.1-1+deb12u2"
_UPSTREAM_VERSION = "20220623.1"
_ORIG_TARBALL = "abseil_20220623.1.orig.tar.gz"
_ORIG_SHA256 = "abfe2897f3a30edaa74bc34365afe3c2a3cd012091a97dc7e008f7016adcd5fe"
_DEBIAN_TARBALL = "abseil_20220623.1-1+deb12u2.debian.tar.xz"
_DEBIAN_SHA256 = "e08490fc7b6f3beca1925953b0c4fb92df2de5e2a01295e4641e2a3d4e528eeb"

# Debian's patch names the inline namespace `debian3`, like the headers in /usr/include/absl.
# A different name here means that an object compiled against /usr/include/absl, or Debian's
# libabsl_*.so, cannot be linked with this build by accident: the symbols would not resolve.
_DEBIAN_INLINE_NAMESPACE = "#define ABSL_OPTION_INLINE_NAMESPACE_NAME debian3\n"
_INLINE_NAMESPACE = "#define ABSL_OPTION_INLINE_NAMESPACE_NAME debian3_unidist_source\n"

def _run(rctx, args, what, working_directory = ""):
    result = rctx.execute(args, timeout = 900, working_directory = working_directory)
    if result.return_code != 0:
        fail("%s failed (exit code %d): %s\n%s%s" % (
            what,
            result.return_code,
            " ".join([str(arg) for arg in args]),
            result.stdout,
            result.stderr,
        ))
    return result

def _check_sha256(rctx, path, expected):
    result = _run(rctx, ["sha256sum", path], "sha256sum")
    actual = result.stdout.split(" ")[0].strip()
    if actual != expected:
        fail("%s has sha256 %s, expected %s" % (path, actual, expected))

def _git_style_patch(text):
    """Adds a `diff --git` line before each file's `--- a/F` / `+++ b/F` header.

    Debian's quilt patches are plain unified diffs; without those lines Bazel's patch
    reader takes the next file's `--- a/F` for a removed line of the hunk before it.
    """
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if (line.startswith("--- ") and i + 1 < len(lines) and
            lines[i + 1].startswith("+++ ") and not (i > 0 and lines[i - 1].startswith("diff "))):
            path = lines[i + 1][4:].split("\t")[0].strip()
            out.append("diff --git a/%s %s" % (path.partition("/")[2], path))
        out.append(line)
    return "\n".join(out) + "\n"

def _apply_patch(rctx, text):
    rctx.file("apt/git_style.patch", _git_style_patch(text))
    rctx.patch("apt/git_style.patch", strip = 1)

def _abseil_debian_source_impl(rctx):
    # apt-get with a private sources.list, list directory and cache; "-o Dir::Etc::SourceParts"
    # keeps /etc/apt/sources.list.d out.
    apt_dir = rctx.path("apt")
    rctx.file("apt/sources.list", "deb-src %s %s main\n" % (rctx.attr.mirror, rctx.attr.suite))
    rctx.file("apt/lists/partial/.keep", "")
    rctx.file("apt/cache/.keep", "")
    apt_get = [
        "apt-get",
        "-qq",
        "-o",
        "Dir::Etc::SourceList=%s/sources.list" % apt_dir,
        "-o",
        "Dir::Etc::SourceParts=/dev/null",
        "-o",
        "Dir::State::Lists=%s/lists" % apt_dir,
        "-o",
        "Dir::Cache=%s/cache" % apt_dir,
        "-o",
        "Dir::Cache::pkgcache=",
        "-o",
        "Dir::Cache::srcpkgcache=",
    ]
    rctx.report_progress("apt-get update (deb-src %s)" % rctx.attr.suite)
    _run(rctx, apt_get + ["update"], "apt-get update")
    rctx.report_progress("apt-get source abseil=%s" % ABSEIL_DEBIAN_VERSION)
    _run(
        rctx,
        apt_get + ["source", "--download-only", "abseil=" + ABSEIL_DEBIAN_VERSION],
        "apt-get source",
        working_directory = str(apt_dir),
    )
    orig = rctx.path("apt/" + _ORIG_TARBALL)
    debian = rctx.path("apt/" + _DEBIAN_TARBALL)
    _check_sha256(rctx, orig, _ORIG_SHA256)
    _check_sha256(rctx, debian, _DEBIAN_SHA256)

    rctx.extract(orig, stripPrefix = "abseil-" + _UPSTREAM_VERSION)
    rctx.extract(debian, output = "apt/packaging")
    patches = "apt/packaging/debian/patches/"
    for line in rctx.read(patches + "series").splitlines():
        name = line.split("#")[0].strip()
        if name:
            _apply_patch(rctx, rctx.read(patches + name))
    for patch in rctx.attr.patches:
        _apply_patch(rctx, rctx.read(patch))

    options = rctx.read("absl/base/options.h")
    if options.count(_DEBIAN_INLINE_NAMESPACE) != 1:
        fail("absl/base/options.h: Debian's inline namespace line not found")
    rctx.file(
        "absl/base/options.h",
        options.replace(_DEBIAN_INLINE_NAMESPACE, _INLINE_NAMESPACE),
        executable = False,
    )

    # Upstream's WORKSPACE declares http_archives; a repository's own WORKSPACE is not read,
    # but keep only what is true here.
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    rctx.delete("apt")

    # Warn (the build still works: nothing links the system library) if the system package
    # has moved on.
    installed = rctx.execute(["dpkg-query", "-W", "-f=${Version}", "libabsl-dev"])
    if installed.return_code == 0 and installed.stdout.strip() != ABSEIL_DEBIAN_VERSION:
        print("libabsl-dev %s is installed, but Abseil is built from the source of %s; " %
              (installed.stdout.strip(), ABSEIL_DEBIAN_VERSION) +
              "update ABSEIL_DEBIAN_VERSION in bazel/abseil_source.bzl.")

abseil_debian_source = repository_rule(
    implementation = _abseil_debian_source_impl,
    doc = "Abseil from Debian's source package (upstream tarball + Debian's patches).",
    attrs = {
        "patches": attr.label_list(
            allow_files = True,
            doc = "Applied (-p1) after Debian's patches.",
        ),
        "mirror": attr.string(default = "http://deb.debian.org/debian"),
        "suite": attr.string(default = "bookworm"),
    },
)

def _abseil_stand_ins_impl(rctx):
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    rctx.symlink(rctx.attr.build_file, "BUILD")
    rctx.file("lib/BUILD", "")
    rctx.symlink(rctx.attr.selects, "lib/selects.bzl")

# What Abseil's BUILD files load or depend on from other repositories: GoogleTest, Google
# Benchmark (Debian's, by link flags) and skylib's selects.config_setting_group.
_abseil_stand_ins = repository_rule(
    implementation = _abseil_stand_ins_impl,
    attrs = {
        "build_file": attr.label(mandatory = True, allow_single_file = True),
        "selects": attr.label(mandatory = True, allow_single_file = True),
    },
)

def abseil_source_repositories():
    """Declares @unidist_abseil_source and its stand-ins, unless the workspace has them."""
    stand_ins = "unidist_abseil_source_stand_ins"
    if not native.existing_rule(stand_ins):
        _abseil_stand_ins(
            name = stand_ins,
            build_file = Label("//third_party/abseil_source:stand_ins.BUILD"),
            selects = Label("//third_party/abseil_source:selects.bzl"),
        )
    if not native.existing_rule("unidist_abseil_source"):
        abseil_debian_source(
            name = "unidist_abseil_source",
            repo_mapping = {
                "@bazel_skylib": "@" + stand_ins,
                "@com_github_google_benchmark": "@" + stand_ins,
                "@com_google_googletest": "@" + stand_ins,
            },
        )
