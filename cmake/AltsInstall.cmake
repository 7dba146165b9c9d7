# AltsInstall: what `cmake --install` puts under the prefix.
#
#   include/<layer>/*.h                 public headers (layer directories only),
#   include/handshaker/proto/*.pb.h     the generated protobuf headers they use,
#   include/alts_ondemand/version.h     the generated version header
#   lib/libalts_<layer>.a               the libraries
#   bin/                                the tools (when ALTS_BUILD_TOOLS)
#   lib/cmake/alts_ondemand/            CMake package: alts::<layer> targets,
#                                       FindBoringSSL.cmake, version file
#   lib/pkgconfig/alts_ondemand.pc      for builds without CMake
#
# Everything is relocatable: the CMake package and the pkg-config file find
# the prefix from their own location.
#
# alts_install(LIBS...) takes the layer libraries that exist (in dependency
# order, lowest first; alts_finish_targets prepared them).

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ALTS_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/alts_ondemand" CACHE STRING
    "Where the CMake package is installed (relative to the prefix)")
mark_as_advanced(ALTS_INSTALL_CMAKEDIR)

# _alts_dependencies(LIBS...): reads the link interfaces of LIBS and sets, in
# the caller's scope,
#   ALTS_CONFIG_DEPENDENCIES  find_dependency lines for the CMake package,
#   ALTS_PC_REQUIRES, ALTS_PC_LIBS, ALTS_PC_CFLAGS  for the pkg-config file.
# A dependency missing from the table below gets a warning: a library may
# only depend on what an installed consumer can find again.
function(_alts_dependencies)
  set(_ours ${ARGN} alts_version)
  set(_items "")
  foreach(_lib IN LISTS ARGN)
    get_target_property(_links ${_lib} INTERFACE_LINK_LIBRARIES)
    if(_links)
      list(APPEND _items ${_links})
    endif()
  endforeach()

  set(_want_threads OFF)
  set(_want_boringssl OFF)
  set(_want_absl OFF)
  set(_want_protobuf OFF)
  set(_want_libevent OFF)
  set(_want_zlib OFF)
  set(_requires "")
  set(_bssl_libs "")
  foreach(_item IN LISTS _items)
    if(_item MATCHES "^\\$<BUILD_INTERFACE:")
      continue()  # build-tree only
    endif()
    string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" _item "${_item}")
    if(_item IN_LIST _ours)
      continue()
    elseif(_item MATCHES "^absl::(.+)$")
      set(_want_absl ON)
      list(APPEND _requires "absl_${CMAKE_MATCH_1}")
    elseif(_item STREQUAL "protobuf::libprotobuf")
      set(_want_protobuf ON)
      list(APPEND _requires protobuf)
    elseif(_item STREQUAL "PkgConfig::LIBEVENT")
      set(_want_libevent ON)
      list(APPEND _requires ${ALTS_LIBEVENT_MODULES})
    elseif(_item STREQUAL "BoringSSL::ssl")
      set(_want_boringssl ON)
      list(APPEND _bssl_libs "${BoringSSL_SSL_LIBRARY}" "${BoringSSL_CRYPTO_LIBRARY}")
    elseif(_item STREQUAL "BoringSSL::crypto")
      set(_want_boringssl ON)
      list(APPEND _bssl_libs "${BoringSSL_CRYPTO_LIBRARY}")
    elseif(_item STREQUAL "Threads::Threads")
      set(_want_threads ON)
    elseif(_item STREQUAL "ZLIB::ZLIB")
      set(_want_zlib ON)
      list(APPEND _requires zlib)
    else()
      # A warning, not an error, so a layer in progress still builds;
      # tools/check_install.sh fails on the broken package instead.
      message(WARNING
        "alts_ondemand: an installed library links '${_item}', which the "
        "installed package cannot find again. Add it to the table in "
        "cmake/AltsInstall.cmake (_alts_dependencies), or link it PRIVATE "
        "through $<BUILD_INTERFACE:...> if consumers never need it.")
    endif()
  endforeach()

  set(_deps "")
  if(_want_threads OR _want_boringssl)
    string(APPEND _deps "find_dependency(Threads)\n")
  endif()
  if(_want_boringssl)
    string(APPEND _deps "find_dependency(BoringSSL)\n")
  endif()
  if(_want_absl)
    string(APPEND _deps "find_dependency(absl CONFIG)\n")
  endif()
  if(_want_protobuf)
    string(APPEND _deps "find_dependency(Protobuf)\n")
  endif()
  if(_want_zlib)
    string(APPEND _deps "find_dependency(ZLIB)\n")
  endif()
  if(_want_libevent)
    list(JOIN ALTS_LIBEVENT_MODULES " " _modules)
    string(APPEND _deps
      "find_dependency(PkgConfig)\n"
      "if(NOT TARGET PkgConfig::LIBEVENT)\n"
      "  pkg_check_modules(LIBEVENT QUIET IMPORTED_TARGET ${_modules})\n"
      "  if(NOT LIBEVENT_FOUND)\n"
      "    set(alts_ondemand_NOT_FOUND_MESSAGE \"libevent (${_modules}) not found by pkg-config\")\n"
      "    set(alts_ondemand_FOUND FALSE)\n"
      "    set(CMAKE_MODULE_PATH \"\${_alts_ondemand_saved_module_path}\")\n"
      "    return()\n"
      "  endif()\n"
      "endif()\n")
  endif()
  set(ALTS_CONFIG_DEPENDENCIES "${_deps}" PARENT_SCOPE)

  list(REMOVE_DUPLICATES _requires)
  list(JOIN _requires " " _requires)
  set(ALTS_PC_REQUIRES "${_requires}" PARENT_SCOPE)

  # Libraries, highest layer first so static linking resolves in one pass.
  set(_libs "")
  foreach(_lib IN LISTS ARGN)
    get_target_property(_type ${_lib} TYPE)
    if(_type STREQUAL "STATIC_LIBRARY")
      list(PREPEND _libs "-l${_lib}")
    endif()
  endforeach()
  set(_cflags "")
  if(_want_boringssl)
    # Full paths, so the linker never picks the system OpenSSL's libcrypto;
    # a run path, since Debian keeps BoringSSL out of the loader's search.
    list(REMOVE_DUPLICATES _bssl_libs)
    list(APPEND _libs ${_bssl_libs} "-Wl,-rpath,${BoringSSL_LIBRARY_DIR}")
    set(_cflags "-I${BoringSSL_INCLUDE_DIR}")
  endif()
  if(_want_threads OR _want_boringssl)
    list(APPEND _libs -pthread)
  endif()
  list(JOIN _libs " " _libs)
  set(ALTS_PC_LIBS "${_libs}" PARENT_SCOPE)
  set(ALTS_PC_CFLAGS "${_cflags}" PARENT_SCOPE)
endfunction()

# _alts_tool_targets(OUT): the executables defined under tools/.
function(_alts_tool_targets out)
  set(_tools "")
  if(ALTS_BUILD_TOOLS AND NOT ALTS_FUZZ AND EXISTS "${PROJECT_SOURCE_DIR}/tools/CMakeLists.txt")
    _alts_project_targets(_targets "${PROJECT_SOURCE_DIR}/tools")
    foreach(_t IN LISTS _targets)
      get_target_property(_type ${_t} TYPE)
      if(_type STREQUAL "EXECUTABLE")
        list(APPEND _tools ${_t})
      endif()
    endforeach()
  endif()
  set(${out} ${_tools} PARENT_SCOPE)
endfunction()

function(alts_install)
  set(_libs ${ARGN})
  set(_targets alts_version ${_libs} alts_all)

  install(TARGETS ${_targets} EXPORT alts_ondemand-targets
          ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
          LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
          INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
  install(FILES "${ALTS_VERSION_HEADER}"
          DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/alts_ondemand")
  foreach(_lib IN LISTS _libs)
    get_target_property(_entries ${_lib} ALTS_PUBLIC_HEADERS)
    foreach(_entry IN LISTS _entries)
      string(REPLACE "|" ";" _parts "${_entry}")
      list(GET _parts 0 _file)
      list(LENGTH _parts _n)
      set(_dir "")
      if(_n GREATER 1)
        list(GET _parts 1 _dir)
      endif()
      install(FILES "${_file}" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/${_dir}")
    endforeach()
  endforeach()

  _alts_tool_targets(_tools)
  if(_tools)
    # The tools find BoringSSL where it was linked from (Debian keeps it
    # outside the loader's default search path).
    set_target_properties(${_tools} PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
    install(TARGETS ${_tools} RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
  endif()

  # CMake package.
  install(EXPORT alts_ondemand-targets NAMESPACE alts::
          FILE alts_ondemand-targets.cmake
          DESTINATION "${ALTS_INSTALL_CMAKEDIR}")
  _alts_dependencies(${_libs})
  set(_exported "")
  foreach(_t IN LISTS _targets)
    get_target_property(_name ${_t} EXPORT_NAME)
    list(APPEND _exported "alts::${_name}")
  endforeach()
  list(JOIN _exported ", " ALTS_EXPORTED_TARGETS)
  configure_package_config_file(
    "${PROJECT_SOURCE_DIR}/cmake/alts_ondemand-config.cmake.in"
    "${PROJECT_BINARY_DIR}/package/alts_ondemand-config.cmake"
    INSTALL_DESTINATION "${ALTS_INSTALL_CMAKEDIR}")
  # 0.x: a minor version may change the API, so only the same minor matches.
  write_basic_package_version_file(
    "${PROJECT_BINARY_DIR}/package/alts_ondemand-config-version.cmake"
    VERSION "${alts_ondemand_VERSION}" COMPATIBILITY SameMinorVersion)
  install(FILES "${PROJECT_BINARY_DIR}/package/alts_ondemand-config.cmake"
                "${PROJECT_BINARY_DIR}/package/alts_ondemand-config-version.cmake"
                "${PROJECT_SOURCE_DIR}/cmake/FindBoringSSL.cmake"
          DESTINATION "${ALTS_INSTALL_CMAKEDIR}")

  # pkg-config file; its prefix is relative to its own directory.
  file(RELATIVE_PATH ALTS_PC_PREFIX_FROM_PCDIR
       "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" ALTS_PC_PREFIX_FROM_PCDIR "${ALTS_PC_PREFIX_FROM_PCDIR}")
  configure_file("${PROJECT_SOURCE_DIR}/cmake/alts_ondemand.pc.in"
                 "${PROJECT_BINARY_DIR}/package/alts_ondemand.pc" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/package/alts_ondemand.pc"
          DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
endfunction()
