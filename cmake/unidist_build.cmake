# The functions every package's CMakeLists.txt uses. They mirror the Bazel build: one
# library per package, built from every .cc in the package (subdirectories included) except
# the tests, so that a new source file is picked up without editing any list; the package's
# .proto files compiled by the system protoc into a library of their own (generated code is
# built without our warning flags, as in Bazel); one test binary per *_test.cc.
#
#   unidist_package_library(<name> [PUBLIC_DEPS ...] [PRIVATE_DEPS ...] [PROTO_DEPS ...]
#                           [PUBLIC_HEADERS <header>...] [EXCLUDE <file>...]
#                           [EXCLUDE_DIRS <subdirectory>...] [TESTONLY] [NO_INSTALL]
#                           [OBJECT] [EXPORT_SET <set>])
#   unidist_package_tests([DEPS ...] [EXCLUDE_DIRS <subdirectory>...])
#   unidist_warnings(<target>)
#
# Library target: unidist_<name>, alias unidist::<name>, installed (unless NO_INSTALL).
# TESTONLY libraries go to the export set unidistTestingTargets (needs GoogleTest), the
# others to unidistTargets unless EXPORT_SET names another (a package component, such as
# unidistMpiTargets for `find_package(unidist COMPONENTS mpi)`).
#
# Include paths, as in Bazel:
#   * PUBLIC_HEADERS: the package's headers that the public API includes, which users and
#     our sources include as "unidist/<path>" (Bazel: include_prefix): api/unidist.h is
#     "unidist/unidist.h" and api/internal/bridge.h "unidist/internal/bridge.h" (the api
#     package is the root of unidist/), common/codec.h is "unidist/common/codec.h". In the
#     build tree they are symlinks under <build>/include/unidist/, made at configure time;
#     they are installed under <prefix>/include/unidist/, and they are the only headers
#     installed. The target's include directory is <build>/include, installed
#     <prefix>/include: every path a user can include starts with unidist/.
#   * Every other header is ours only, included by its path from the source root
#     ("process_manager/worker_pool.h", "common/worker_protocol.pb.h" from the build root).
#     Those two roots are unidist_internal_includes, which our libraries, tests and
#     programs link and which is never exported: a library with PUBLIC_HEADERS (whose
#     users are the public's) links it PRIVATE, the others PUBLIC (their users are ours).

include_guard(GLOBAL)

# The source root and the build root (generated .pb.h files), for our own sources' includes
# of headers that are not public (see "Include paths" above). Build tree only.
add_library(unidist_internal_includes INTERFACE)
target_include_directories(unidist_internal_includes INTERFACE
  "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>" "$<BUILD_INTERFACE:${PROJECT_BINARY_DIR}>")

# Warnings are errors in our own sources, as in .bazelrc's --per_file_copt.
function(unidist_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(UNIDIST_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Every source file of the current package, relative to it, minus tests, EXCLUDEs and the
# files under EXCLUDE_DIRS.
function(_unidist_package_files out_var pattern)
  cmake_parse_arguments(ARG "" "" "EXCLUDE;EXCLUDE_DIRS" ${ARGN})
  file(GLOB_RECURSE files CONFIGURE_DEPENDS RELATIVE "${CMAKE_CURRENT_SOURCE_DIR}"
       "${CMAKE_CURRENT_SOURCE_DIR}/${pattern}")
  list(FILTER files EXCLUDE REGEX "_test\\.cc$")
  if(ARG_EXCLUDE)
    list(REMOVE_ITEM files ${ARG_EXCLUDE})
  endif()
  foreach(dir IN LISTS ARG_EXCLUDE_DIRS)
    list(FILTER files EXCLUDE REGEX "^${dir}/")
  endforeach()
  list(SORT files)
  set(${out_var} "${files}" PARENT_SCOPE)
endfunction()

# The package's path from the project root, e.g. "process_manager".
function(_unidist_package_path out_var)
  file(RELATIVE_PATH path "${PROJECT_SOURCE_DIR}" "${CMAKE_CURRENT_SOURCE_DIR}")
  set(${out_var} "${path}" PARENT_SCOPE)
endfunction()

function(_unidist_install target export_set)
  install(TARGETS ${target}
    EXPORT ${export_set}
    ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
    LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
    RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
    # An OBJECT library's object files (unidist::mpi), linked into each consumer.
    OBJECTS DESTINATION "${CMAKE_INSTALL_LIBDIR}/unidist-objects")
endfunction()

# unidist_<name>_proto: the code protoc generates for the package's .proto files, written
# to the build tree at the .proto's path from the project root (common/worker_protocol.pb.h),
# like Bazel's unidist_cc_proto. Its headers are ours only (not installed). <proto_deps> are the proto libraries of the .proto files
# these import (e.g. unidist::common_proto). Installed into <export_set> unless it is "".
# Sets <out_var> to the target, or to "" when the package has no .proto file.
function(_unidist_proto_library out_var name export_set proto_deps)
  file(GLOB_RECURSE protos CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/*.proto")
  if(NOT protos)
    set(${out_var} "" PARENT_SCOPE)
    return()
  endif()
  set(target unidist_${name}_proto)
  add_library(${target})
  add_library(unidist::${name}_proto ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name}_proto)
  foreach(proto IN LISTS protos)
    file(RELATIVE_PATH relative "${PROJECT_SOURCE_DIR}" "${proto}")
    string(REGEX REPLACE "\\.proto$" "" base "${relative}")
    set(header "${PROJECT_BINARY_DIR}/${base}.pb.h")
    set(source "${PROJECT_BINARY_DIR}/${base}.pb.cc")
    add_custom_command(
      OUTPUT "${header}" "${source}"
      COMMAND protobuf::protoc "--proto_path=${PROJECT_SOURCE_DIR}"
              "--cpp_out=${PROJECT_BINARY_DIR}" "${proto}"
      DEPENDS "${proto}" protobuf::protoc
      COMMENT "protoc ${relative}"
      VERBATIM)
    target_sources(${target} PRIVATE "${source}" "${header}")
  endforeach()
  target_link_libraries(${target} PUBLIC ${proto_deps} protobuf::libprotobuf
    PRIVATE $<BUILD_INTERFACE:unidist_internal_includes>)
  target_compile_features(${target} PUBLIC cxx_std_17)
  if(export_set)
    _unidist_install(${target} ${export_set})
  endif()
  set(${out_var} ${target} PARENT_SCOPE)
endfunction()

# The path "unidist/..." that users include the package's header <header> by (see
# PUBLIC_HEADERS above).
function(_unidist_public_path out_var header)
  _unidist_package_path(package)
  if(package STREQUAL "api")
    set(${out_var} "unidist/${header}" PARENT_SCOPE)
  else()
    set(${out_var} "unidist/${package}/${header}" PARENT_SCOPE)
  endif()
endfunction()

# Makes <target>'s PUBLIC_HEADERS includable as "unidist/..." in the build tree and
# installs them there (see PUBLIC_HEADERS above).
function(_unidist_public_headers target)
  foreach(header IN LISTS ARGN)
    _unidist_public_path(path "${header}")
    set(link "${PROJECT_BINARY_DIR}/include/${path}")
    get_filename_component(link_dir "${link}" DIRECTORY)
    file(MAKE_DIRECTORY "${link_dir}")
    file(CREATE_LINK "${CMAKE_CURRENT_SOURCE_DIR}/${header}" "${link}" SYMBOLIC)
    get_filename_component(path_dir "${path}" DIRECTORY)
    install(FILES "${header}" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/${path_dir}")
  endforeach()
  target_include_directories(${target} PUBLIC
    "$<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>"
    "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
endfunction()

function(unidist_package_library name)
  cmake_parse_arguments(ARG "TESTONLY;NO_INSTALL;OBJECT" "EXPORT_SET"
                        "PUBLIC_DEPS;PRIVATE_DEPS;PROTO_DEPS;PUBLIC_HEADERS;EXCLUDE;EXCLUDE_DIRS"
                        ${ARGN})
  if(ARG_TESTONLY)
    set(export_set unidistTestingTargets)
  elseif(ARG_EXPORT_SET)
    set(export_set ${ARG_EXPORT_SET})
  else()
    set(export_set unidistTargets)
  endif()
  set(target unidist_${name})
  _unidist_package_files(sources "*.cc" EXCLUDE ${ARG_EXCLUDE} EXCLUDE_DIRS ${ARG_EXCLUDE_DIRS})
  _unidist_package_files(headers "*.h" EXCLUDE ${ARG_EXCLUDE} EXCLUDE_DIRS ${ARG_EXCLUDE_DIRS})
  if(ARG_OBJECT)
    # For sources that register task functions in static initializers (Bazel's alwayslink):
    # an archive member nobody references would be dropped by the linker.
    add_library(${target} OBJECT)
  else()
    add_library(${target})
  endif()
  add_library(unidist::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  target_sources(${target} PRIVATE ${sources} ${headers})
  if(ARG_PUBLIC_HEADERS)
    _unidist_public_headers(${target} ${ARG_PUBLIC_HEADERS})
    target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:unidist_internal_includes>)
  else()
    target_link_libraries(${target} PUBLIC $<BUILD_INTERFACE:unidist_internal_includes>)
  endif()
  target_compile_features(${target} PUBLIC cxx_std_17)
  target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  unidist_warnings(${target})
  if(ARG_NO_INSTALL)
    set(export_set "")
  endif()
  _unidist_proto_library(proto ${name} "${export_set}" "${ARG_PROTO_DEPS}")
  if(proto)
    target_link_libraries(${target} PUBLIC ${proto})
  endif()
  if(export_set)
    _unidist_install(${target} ${export_set})
  endif()
endfunction()

# One test binary per *_test.cc of the package (subdirectories included), named like its
# Bazel target: //process_manager:fork_server_test is the binary
# process_manager/fork_server_test and the CTest test "//process_manager:fork_server_test".
# EXCLUDE_DIRS: subdirectories that are not part of the package (examples/consumer/).
function(unidist_package_tests)
  cmake_parse_arguments(ARG "" "" "DEPS;EXCLUDE_DIRS" ${ARGN})
  if(NOT UNIDIST_TESTS)
    return()
  endif()
  _unidist_package_path(package)
  string(REPLACE "/" "_" prefix "${package}")
  file(GLOB_RECURSE tests CONFIGURE_DEPENDS RELATIVE "${CMAKE_CURRENT_SOURCE_DIR}"
       "${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc")
  foreach(dir IN LISTS ARG_EXCLUDE_DIRS)
    list(FILTER tests EXCLUDE REGEX "^${dir}/")
  endforeach()
  list(SORT tests)
  foreach(test IN LISTS tests)
    get_filename_component(test_name "${test}" NAME_WE)
    set(target ${prefix}_${test_name})
    add_executable(${target} "${test}")
    set_target_properties(${target} PROPERTIES OUTPUT_NAME ${test_name})
    target_link_libraries(${target} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main
      unidist_internal_includes)
    unidist_warnings(${target})
    add_test(NAME "//${package}:${test_name}" COMMAND ${target})
    # Bazel's timeout for size = "large"; no test here comes close.
    set_tests_properties("//${package}:${test_name}" PROPERTIES TIMEOUT 900 LABELS "${package}")
  endforeach()
endfunction()
