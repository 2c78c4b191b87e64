"""doxygen_html: an HTML site made by the system doxygen, as a Bazel tree artifact.

Like protoc (see //bazel:proto.bzl), doxygen is Debian's (/usr/bin/doxygen, installed by
./bazelw) and is found on the fixed action PATH (--incompatible_strict_action_env).

The checked-in Doxyfile holds the settings that never change. The settings that depend on
where the files are (INPUT, EXAMPLE_PATH, STRIP_FROM_PATH, USE_MDFILE_AS_MAINPAGE,
OUTPUT_DIRECTORY, FILTER_PATTERNS, WARN_LOGFILE) are computed here from File.path values
and appended after it, so the rule works from this workspace and from a consumer's, where
our files live under external/unidist/.

The public headers are read where users include them from: `headers` names them by their
include paths ("unidist/unidist.h"), and the rule finds each in the include directories of
`header_deps` (the _virtual_includes trees of include_prefix), so that the reference shows
`#include <unidist/unidist.h>` and files named as users write them.

Any doxygen warning fails the build, with the warnings printed: an undocumented public
name, a broken \\ref, or a \\snippet whose marker was edited away in the example.
"""

def _public_headers(ctx):
    """The Files of `headers`, looked up in the include directories of `header_deps`.

    Returns (files, include directories they were found in)."""
    compilation_context = cc_common.merge_cc_infos(
        cc_infos = [dep[CcInfo] for dep in ctx.attr.header_deps],
    ).compilation_context
    by_path = {f.path: f for f in compilation_context.headers.to_list()}
    directories = compilation_context.includes.to_list() + compilation_context.quote_includes.to_list()
    files = []
    roots = []
    for include_path in ctx.attr.headers:
        found = None
        for directory in directories:
            found = by_path.get(directory + "/" + include_path)
            if found:
                if directory not in roots:
                    roots.append(directory)
                break
        if not found:
            fail("%s: no header \"%s\" in the include directories of header_deps" % (
                ctx.label,
                include_path,
            ))
        files.append(found)
    return files, roots

def _doxygen_html_impl(ctx):
    out = ctx.attr.out or ctx.attr.name
    html = ctx.actions.declare_directory(out)
    warnings = ctx.actions.declare_file(out + ".warnings.txt")

    # Our files' root in the execroot: "" here, "external/unidist" in a consumer's build.
    # Paths are shown relative to it (api/unidist.h, not external/unidist/api/unidist.h).
    root = ctx.label.workspace_root
    mainpage = ctx.file.mainpage
    headers, header_roots = _public_headers(ctx)
    inputs = ctx.files.srcs + headers
    if mainpage not in inputs:
        inputs = inputs + [mainpage]

    # Paths are shown relative to the include directory a header was found in, and other
    # files relative to our root.
    strip = " ".join(['"%s"' % d for d in header_roots + [root or "."]])
    overrides = [
        "INPUT = " + " ".join(['"%s"' % f.path for f in inputs]),
        "STRIP_FROM_PATH = " + strip,
        "STRIP_FROM_INC_PATH = " + strip,
        'USE_MDFILE_AS_MAINPAGE = "%s"' % mainpage.path,
        'OUTPUT_DIRECTORY = "%s"' % html.path,
        "HTML_OUTPUT = .",
        'WARN_LOGFILE = "%s"' % warnings.path,
    ]
    if ctx.files.examples:
        # \include and \snippet find a file by its name or a path suffix of it
        # (examples/quickstart.cc), among the files listed here.
        overrides.append("EXAMPLE_PATH = " + " ".join(['"%s"' % f.path for f in ctx.files.examples]))
    if ctx.file.comment_filter:
        # Run by doxygen through the shell, on the action's PATH (python3 is in /usr/bin).
        filter_command = "python3 " + ctx.file.comment_filter.path
        overrides.append('FILTER_PATTERNS = "*.h=%s"' % filter_command)
        inputs = inputs + [ctx.file.comment_filter]

    # doxygen reads its configuration from stdin ("doxygen -"): the Doxyfile through
    # @INCLUDE, then the overrides (a later setting replaces an earlier one).
    command = """set -eu
{{
  echo '@INCLUDE = "{doxyfile}"'
  printf '%s\\n' "$@"
}} | doxygen - || {{
  cat "{warnings}" >&2
  exit 1
}}
# Warnings name files by absolute path; keep them relative to the execroot, so the log
# reads like compiler output and does not depend on the machine.
sed -i "s|$PWD/||" "{warnings}"
# Any warning fails the build, and all of them are printed (doxygen's WARN_AS_ERROR = YES
# would stop at the first). The test is a non-empty log, not a count of "warning:" lines,
# so that doxygen's "error:" lines fail it too.
count=$(grep -c ': warning: ' "{warnings}" || true)
if [ -s "{warnings}" ]; then
  cat "{warnings}" >&2
  echo "doxygen: $count warning(s); document the names above or fix the pages" >&2
  exit 1
fi
""".format(doxyfile = ctx.file.doxyfile.path, warnings = warnings.path)

    ctx.actions.run_shell(
        command = command,
        arguments = overrides,
        inputs = inputs + ctx.files.examples + [ctx.file.doxyfile],
        outputs = [html, warnings],
        mnemonic = "Doxygen",
        progress_message = "Generating HTML documentation %s" % html.short_path,
        use_default_shell_env = True,  # PATH=/bin:/usr/bin:/usr/local/bin
    )
    return [DefaultInfo(files = depset([html, warnings]))]

doxygen_html = rule(
    implementation = _doxygen_html_impl,
    doc = "Runs doxygen over `srcs` and outputs the HTML site as the directory `out`.",
    attrs = {
        "srcs": attr.label_list(
            allow_files = [".h", ".md"],
            doc = "Markdown pages (and headers read by their paths), in the order doxygen " +
                  "should read them; `headers` come after them.",
        ),
        "headers": attr.string_list(
            doc = "Public headers, by the path users include them by " +
                  "(\"unidist/unidist.h\"), found in the include directories of " +
                  "`header_deps`.",
        ),
        "header_deps": attr.label_list(
            providers = [CcInfo],
            doc = "The cc libraries whose include directories hold `headers`.",
        ),
        "examples": attr.label_list(
            allow_files = True,
            doc = "Source files the pages quote with \\include or \\snippet (EXAMPLE_PATH).",
        ),
        "mainpage": attr.label(
            allow_single_file = [".md"],
            mandatory = True,
            doc = "The Markdown page that becomes index.html.",
        ),
        "doxyfile": attr.label(
            allow_single_file = True,
            mandatory = True,
            doc = "The fixed settings; the path-dependent ones are added by the rule.",
        ),
        "comment_filter": attr.label(
            allow_single_file = [".py"],
            doc = "A doxygen input filter for the headers (FILTER_PATTERNS), run with " +
                  "python3 from the action's PATH.",
        ),
        "out": attr.string(
            doc = "Name of the output directory, in this package (default: the rule's " +
                  "name). The warnings go to <out>.warnings.txt beside it.",
        ),
    },
)
