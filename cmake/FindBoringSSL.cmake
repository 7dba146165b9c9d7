# FindBoringSSL
# -------------
# Finds BoringSSL's libcrypto and libssl without ever picking up the system
# OpenSSL (which shares the header and library names).
#
# Search order:
#   1. -DBORINGSSL_ROOT=<dir>  (a user's own build: <dir>/include and
#      <dir>/lib, <dir>/build, <dir>/build/{crypto,ssl} or <dir>).
#   2. Debian's android-libboringssl-dev: /usr/include/android and
#      /usr/lib/<multiarch>/android.
# Only these locations are searched (NO_DEFAULT_PATH), and the headers found
# must carry <openssl/is_boringssl.h>, so an OpenSSL tree is rejected.
#
# Imported targets: BoringSSL::crypto, BoringSSL::ssl.
# Variables: BoringSSL_FOUND, BoringSSL_INCLUDE_DIR, BoringSSL_CRYPTO_LIBRARY,
#            BoringSSL_SSL_LIBRARY, BoringSSL_LIBRARY_DIR.

set(_bssl_include_hints "")
set(_bssl_lib_hints "")
if(BORINGSSL_ROOT)
  list(APPEND _bssl_include_hints "${BORINGSSL_ROOT}/include")
  list(APPEND _bssl_lib_hints "${BORINGSSL_ROOT}/lib" "${BORINGSSL_ROOT}/lib64"
       "${BORINGSSL_ROOT}/build" "${BORINGSSL_ROOT}/build/crypto"
       "${BORINGSSL_ROOT}/build/ssl" "${BORINGSSL_ROOT}")
else()
  if(CMAKE_LIBRARY_ARCHITECTURE)
    list(APPEND _bssl_lib_hints "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android")
  endif()
  list(APPEND _bssl_lib_hints "/usr/lib/x86_64-linux-gnu/android"
       "/usr/lib/aarch64-linux-gnu/android" "/usr/lib/android")
  list(APPEND _bssl_include_hints "/usr/include/android")
endif()

find_path(BoringSSL_INCLUDE_DIR NAMES openssl/is_boringssl.h
          PATHS ${_bssl_include_hints} NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)

# Debian ships only versioned shared objects plus unversioned links; accept both.
set(_bssl_saved_suffixes ${CMAKE_FIND_LIBRARY_SUFFIXES})
list(APPEND CMAKE_FIND_LIBRARY_SUFFIXES ".so.0")
find_library(BoringSSL_CRYPTO_LIBRARY NAMES crypto
             PATHS ${_bssl_lib_hints} NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
find_library(BoringSSL_SSL_LIBRARY NAMES ssl
             PATHS ${_bssl_lib_hints} NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
set(CMAKE_FIND_LIBRARY_SUFFIXES ${_bssl_saved_suffixes})

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(BoringSSL
  REQUIRED_VARS BoringSSL_INCLUDE_DIR BoringSSL_CRYPTO_LIBRARY BoringSSL_SSL_LIBRARY
  REASON_FAILURE_MESSAGE
    "install android-libboringssl-dev (tools/install-deps.sh) or pass -DBORINGSSL_ROOT=<your BoringSSL build>")

if(BoringSSL_FOUND)
  get_filename_component(BoringSSL_LIBRARY_DIR "${BoringSSL_CRYPTO_LIBRARY}" DIRECTORY)
  if(NOT TARGET BoringSSL::crypto)
    add_library(BoringSSL::crypto UNKNOWN IMPORTED)
    set_target_properties(BoringSSL::crypto PROPERTIES
      IMPORTED_LOCATION "${BoringSSL_CRYPTO_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${BoringSSL_INCLUDE_DIR}")
    # pthread is needed by static BoringSSL builds.
    find_package(Threads REQUIRED)
    set_property(TARGET BoringSSL::crypto APPEND PROPERTY
      INTERFACE_LINK_LIBRARIES Threads::Threads)
  endif()
  if(NOT TARGET BoringSSL::ssl)
    add_library(BoringSSL::ssl UNKNOWN IMPORTED)
    set_target_properties(BoringSSL::ssl PROPERTIES
      IMPORTED_LOCATION "${BoringSSL_SSL_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${BoringSSL_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES BoringSSL::crypto)
  endif()
endif()
mark_as_advanced(BoringSSL_INCLUDE_DIR BoringSSL_CRYPTO_LIBRARY BoringSSL_SSL_LIBRARY)
