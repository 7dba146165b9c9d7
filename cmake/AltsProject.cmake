# AltsProject: how the project's own targets are declared and built.
#
#   alts_library(NAME DIR DEPS...)   a layer library (every .cc of DIR, tests
#                                    excluded; header-only when DIR has none)
#   alts_finish_targets(LIBS...)     after every subdirectory is added: names
#                                    the libraries alts::<layer>, applies the
#                                    project's build flags to the project's
#                                    own targets, prepares headers for install
#
# Build flags (warnings, ALTS_SANITIZE, ALTS_FUZZ, the repository root on the
# include path) are set on each target defined under this project's
# directories, never through directory-wide commands, so a parent project
# that adds this one with add_subdirectory or FetchContent gets none of them.

# ALTS_WARNING_FLAGS: the warnings every project target compiles with.
set(ALTS_WARNING_FLAGS -Wall -Wextra -Wno-unused-parameter)

# alts_library(NAME DIR DEPS...): a static library of every .cc in DIR
# (relative to the project root; *_test.cc excluded), or an INTERFACE library
# when DIR has headers only. DEPS are its public dependencies. The headers of
# DIR are its public headers: installed under include/DIR. Also named
# alts::<NAME without the alts_ prefix>.
function(alts_library name dir)
  file(GLOB _srcs CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${dir}/*.cc")
  list(FILTER _srcs EXCLUDE REGEX "_test\\.cc$")
  if(_srcs)
    add_library(${name} STATIC ${_srcs})
    set(_scope PUBLIC)
  else()
    add_library(${name} INTERFACE)
    set(_scope INTERFACE)
  endif()
  target_include_directories(${name} ${_scope}
                             "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>")
  target_link_libraries(${name} ${_scope} alts_version ${ARGN})
  set_property(TARGET ${name} PROPERTY ALTS_HEADER_DIR "${PROJECT_SOURCE_DIR}/${dir}")
  string(REGEX REPLACE "^alts_" "" _short "${name}")
  add_library(alts::${_short} ALIAS ${name})
endfunction()

# _alts_project_targets(OUT DIR): every target defined in DIR and below.
function(_alts_project_targets out dir)
  get_property(_targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  get_property(_subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(_sub IN LISTS _subdirs)
    _alts_project_targets(_more "${_sub}")
    list(APPEND _targets ${_more})
  endforeach()
  set(${out} ${_targets} PARENT_SCOPE)
endfunction()

# _alts_apply_build_flags(TARGET): warnings, sanitizers or fuzzing, and the
# repository root as a private include directory (tests and benchmarks
# include "tests/..." and "benchmarks/..." paths).
function(_alts_apply_build_flags target)
  get_target_property(_type ${target} TYPE)
  if(NOT _type MATCHES "^(STATIC_LIBRARY|SHARED_LIBRARY|MODULE_LIBRARY|OBJECT_LIBRARY|EXECUTABLE)$")
    return()
  endif()
  set(_compile ${ALTS_WARNING_FLAGS})
  set(_link "")
  set(_defs "")
  if(ALTS_SANITIZE)
    list(APPEND _compile -fsanitize=${ALTS_SANITIZE} -fno-omit-frame-pointer
         -fno-sanitize-recover=all)
    list(APPEND _link -fsanitize=${ALTS_SANITIZE})
    list(APPEND _defs ALTS_SANITIZER_BUILD=1)
  endif()
  if(ALTS_FUZZ)
    list(APPEND _compile -fsanitize=fuzzer-no-link,address,undefined
         -fno-omit-frame-pointer)
    list(APPEND _link -fsanitize=address,undefined)
    list(APPEND _defs ALTS_FUZZ_BUILD=1)
  endif()
  set_property(TARGET ${target} APPEND PROPERTY COMPILE_OPTIONS ${_compile})
  set_property(TARGET ${target} APPEND PROPERTY INCLUDE_DIRECTORIES "${PROJECT_SOURCE_DIR}")
  if(_defs)
    set_property(TARGET ${target} APPEND PROPERTY COMPILE_DEFINITIONS ${_defs})
  endif()
  if(_link)
    set_property(TARGET ${target} APPEND PROPERTY LINK_OPTIONS ${_link})
    # Sanitized static libraries need the runtime wherever they are linked,
    # also in a parent project's programs.
    if(_type STREQUAL "STATIC_LIBRARY")
      set_property(TARGET ${target} APPEND PROPERTY INTERFACE_LINK_OPTIONS
                   "$<BUILD_INTERFACE:${_link}>")
    endif()
  endif()
endfunction()

# _alts_prepare_library(TARGET): the alts::<layer> alias and export name,
# C++20 for consumers, build-tree include directories marked as such, and the
# public headers recorded in ALTS_PUBLIC_HEADERS as "ABSOLUTE_PATH|RELATIVE_DIR"
# (the directory under include/ it installs to).
function(_alts_prepare_library target)
  string(REGEX REPLACE "^alts_" "" _short "${target}")
  if(NOT TARGET alts::${_short})
    add_library(alts::${_short} ALIAS ${target})
  endif()
  set_property(TARGET ${target} PROPERTY EXPORT_NAME ${_short})
  target_compile_features(${target} INTERFACE cxx_std_20)

  # Include directories given as plain build paths (e.g. a layer's own
  # target_include_directories) are build-only; installed consumers get
  # include/ from the install rules.
  get_target_property(_dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
  if(_dirs)
    set(_fixed "")
    foreach(_d IN LISTS _dirs)
      if(NOT _d MATCHES "^\\$<" AND IS_ABSOLUTE "${_d}")
        list(APPEND _fixed "$<BUILD_INTERFACE:${_d}>")
      else()
        list(APPEND _fixed "${_d}")
      endif()
    endforeach()
    set_property(TARGET ${target} PROPERTY INTERFACE_INCLUDE_DIRECTORIES "${_fixed}")
  endif()

  # Public headers: the layer directory's *.h and the generated headers the
  # target builds under <build>/gen (protobuf), with their relative paths.
  get_target_property(_hdr_dir ${target} ALTS_HEADER_DIR)
  if(NOT _hdr_dir)
    get_target_property(_hdr_dir ${target} SOURCE_DIR)
  endif()
  file(GLOB _hdrs CONFIGURE_DEPENDS "${_hdr_dir}/*.h")
  set(_entries "")
  foreach(_h IN LISTS _hdrs)
    file(RELATIVE_PATH _rel "${PROJECT_SOURCE_DIR}" "${_h}")
    get_filename_component(_rel_dir "${_rel}" DIRECTORY)
    list(APPEND _entries "${_h}|${_rel_dir}")
  endforeach()
  get_target_property(_srcs ${target} SOURCES)
  foreach(_s IN LISTS _srcs)
    string(FIND "${_s}" "${PROJECT_BINARY_DIR}/gen/" _at)
    if(_s MATCHES "\\.h$" AND _at EQUAL 0)
      file(RELATIVE_PATH _rel "${PROJECT_BINARY_DIR}/gen" "${_s}")
      get_filename_component(_rel_dir "${_rel}" DIRECTORY)
      list(APPEND _entries "${_s}|${_rel_dir}")
    endif()
  endforeach()
  set_property(TARGET ${target} PROPERTY ALTS_PUBLIC_HEADERS "${_entries}")
endfunction()

# alts_finish_targets(LIBS...): call once, after every subdirectory. LIBS are
# the layer libraries (those that do not exist are skipped).
function(alts_finish_targets)
  set(_libs "")
  foreach(_lib IN LISTS ARGN)
    if(TARGET ${_lib})
      _alts_prepare_library(${_lib})
      list(APPEND _libs ${_lib})
    endif()
  endforeach()
  set(ALTS_LIBRARIES ${_libs} PARENT_SCOPE)

  _alts_project_targets(_targets "${PROJECT_SOURCE_DIR}")
  foreach(_t IN LISTS _targets)
    _alts_apply_build_flags(${_t})
  endforeach()
endfunction()
