"""Tests that run once per execution backend (docs/backends.md).

unidist_backend_test declares an end-to-end test once for the default backend and once more
for each backend in EXTRA_TEST_BACKENDS, compiled once and linked per backend:

  unidist_test              the backend UNIDIST_BACKEND names (multiprocessing when unset;
                            `UNIDIST_BACKEND=sequential ./bazelw test //...` sets it,
                            .bazelrc passes it through)
  unidist_test_sequential   always the sequential backend

A test that needs what a backend lacks skips itself: testing/backend_traits.h.
"""

# The backends every e2e test also runs on, beside the default. A new backend adds its
# name here (its abilities, which tests ask through testing/backend_traits.h, are in its
# registration: backend/backend.h).
# (Not mpi: its tests need mpirun, so mpi/run_mpi_tests.sh runs the same binaries under it.)
EXTRA_TEST_BACKENDS = ["sequential"]

def unidist_backend_test(name, srcs, deps = [], size = None, tags = [], **kwargs):
    """A cc_test `name` on the default backend, plus `name`_<backend> for the others.

    Args:
      name: the test on the default backend; the others get a suffix.
      srcs: the test's sources, compiled once (into `name`_lib).
      deps: as for cc_test.
      size: as for cc_test.
      tags: as for cc_test.
      **kwargs: passed to every cc_test.
    """
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        deps = deps,
        alwayslink = True,  # the tests register themselves from static initializers
    )
    native.cc_test(
        name = name,
        size = size,
        tags = tags,
        deps = [":" + name + "_lib"],
        **kwargs
    )
    for backend in EXTRA_TEST_BACKENDS:
        native.cc_test(
            name = name + "_" + backend,
            size = size,
            tags = tags,
            env = {"UNIDIST_BACKEND": backend},
            deps = [":" + name + "_lib"],
            **kwargs
        )

def unidist_backend_sh_test(name, **kwargs):
    """An sh_test `name` on the default backend, plus `name`_<backend> for the others."""
    native.sh_test(name = name, **kwargs)
    for backend in EXTRA_TEST_BACKENDS:
        native.sh_test(
            name = name + "_" + backend,
            env = {"UNIDIST_BACKEND": backend},
            **kwargs
        )
