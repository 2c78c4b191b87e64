"""cc_compile_command: the command that compiles a user's source file against some cc targets.

For tests that compile code themselves (api/compile_fail_test.sh): the rule writes the C++
compile command of the configured toolchain, with the flags of this build (--copt,
--cxxopt, the toolchain's features) and the include paths of `deps`, as the action that
compiles a cc_library depending on `deps` would get them, one argument per line. The
headers of `deps` (the _virtual_includes trees of include_prefix included) become the
target's runfiles, and every path in the command is rewritten to where the file is in
the runfiles tree, so that the command works from a test's working directory
($TEST_SRCDIR/<workspace>). The caller adds the source file and -fsyntax-only (or -c).
"""

load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")

_CPP_COMPILE = "c++-compile"

def _runfiles_path(ctx, path):
    """An execroot-relative path as the runfiles-relative path of the same file or directory."""
    for root in [ctx.bin_dir.path, ctx.genfiles_dir.path]:
        if path == root:
            return "."
        if path.startswith(root + "/"):
            path = path[len(root) + 1:]
            break
    if path.startswith("external/"):
        return "../" + path[len("external/"):]
    return path

def _runfiles_paths(ctx, directories):
    return depset([_runfiles_path(ctx, d) for d in directories.to_list()])

def _cc_compile_command_impl(ctx):
    cc_toolchain = find_cpp_toolchain(ctx)
    feature_configuration = cc_common.configure_features(
        ctx = ctx,
        cc_toolchain = cc_toolchain,
        requested_features = ctx.features,
        unsupported_features = ctx.disabled_features,
    )
    compilation_context = cc_common.merge_cc_infos(
        cc_infos = [dep[CcInfo] for dep in ctx.attr.deps],
    ).compilation_context

    variables = cc_common.create_compile_variables(
        feature_configuration = feature_configuration,
        cc_toolchain = cc_toolchain,
        user_compile_flags = ctx.fragments.cpp.copts + ctx.fragments.cpp.cxxopts + ctx.attr.copts,
        include_directories = _runfiles_paths(ctx, compilation_context.includes),
        quote_include_directories = _runfiles_paths(ctx, compilation_context.quote_includes),
        system_include_directories = _runfiles_paths(ctx, compilation_context.system_includes),
        preprocessor_defines = compilation_context.defines,
    )
    compiler = cc_common.get_tool_for_action(
        feature_configuration = feature_configuration,
        action_name = _CPP_COMPILE,
    )
    flags = cc_common.get_memory_inefficient_command_line(
        feature_configuration = feature_configuration,
        action_name = _CPP_COMPILE,
        variables = variables,
    )
    command = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(command, "\n".join([compiler] + flags) + "\n")
    return [DefaultInfo(
        files = depset([command]),
        runfiles = ctx.runfiles(
            files = [command],
            transitive_files = compilation_context.headers,
        ),
    )]

cc_compile_command = rule(
    implementation = _cc_compile_command_impl,
    doc = "Writes the C++ compile command for sources that depend on `deps` to " +
          "<name>.txt, one argument per line, paths relative to the runfiles root.",
    attrs = {
        "deps": attr.label_list(
            providers = [CcInfo],
            doc = "The libraries whose headers the compiled sources include.",
        ),
        "copts": attr.string_list(
            doc = "Flags after the build's own, as a cc_library's copts.",
        ),
        "_cc_toolchain": attr.label(
            default = Label("@bazel_tools//tools/cpp:current_cc_toolchain"),
        ),
    },
    fragments = ["cpp"],
    toolchains = ["@bazel_tools//tools/cpp:toolchain_type"],
)
