# handshake_bench_smoke.cmake: runs benchmarks/handshake_bench for a moment
# over both transports and checks its JSON results. Usage:
#   cmake -DPROGRAM=<path> -DJSON=<out path> -P handshake_bench_smoke.cmake
# Fails (FATAL_ERROR) if the program exits non-zero (it does when any
# handshake, record exchange or mode check failed), the JSON does not parse,
# a row is missing, out of order or lacks a field, or a row reports errors,
# fewer handshakes than the program's rounds, or no rate. Figures are never
# compared with anything.

cmake_minimum_required(VERSION 3.25)

foreach(_var PROGRAM JSON)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "handshake_bench_smoke: -D${_var}=... is required")
  endif()
endforeach()

# 0.05 s per mode: every mode runs its warm-up and at least one handshake in
# each of the program's 5 interleaved rounds.
set(_args --seconds=0.05 --transport=both)
set(_min_handshakes 5)
set(_string_fields mode transport)
set(_number_fields handshakes_per_s handshakes_per_cpu_s handshakes_per_s_incl_setup
                   handshakes errors)
set(_expected_rows)
foreach(_transport socketpair tcp)
  foreach(_mode alts_full alts_full_cached alts_resumed tls13_mutual_boringssl
                alts_full_reactor)
    list(APPEND _expected_rows "${_mode}/${_transport}")
  endforeach()
endforeach()

file(REMOVE "${JSON}")
execute_process(COMMAND "${PROGRAM}" ${_args} "--json=${JSON}"
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
message("${_out}")
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} exited with ${_rc}:\n${_err}")
endif()
if(NOT EXISTS "${JSON}")
  message(FATAL_ERROR "${PROGRAM} wrote no JSON to ${JSON}")
endif()
file(READ "${JSON}" _doc)

string(JSON _rows ERROR_VARIABLE _json_error LENGTH "${_doc}" results)
if(_json_error)
  message(FATAL_ERROR "results do not parse: ${_json_error}\n${_doc}")
endif()
list(LENGTH _expected_rows _want)
if(NOT _rows EQUAL _want)
  message(FATAL_ERROR "expected ${_want} result rows, got ${_rows}:\n${_doc}")
endif()

math(EXPR _last "${_rows} - 1")
set(_seen)
foreach(_i RANGE ${_last})
  foreach(_field ${_string_fields} ${_number_fields})
    string(JSON _type ERROR_VARIABLE _json_error TYPE "${_doc}" results ${_i} ${_field})
    if(_json_error)
      message(FATAL_ERROR "row ${_i} has no '${_field}': ${_json_error}\n${_doc}")
    endif()
    if(_field IN_LIST _string_fields)
      set(_want_type STRING)
    else()
      set(_want_type NUMBER)
    endif()
    if(NOT _type STREQUAL _want_type)
      message(FATAL_ERROR "row ${_i} field '${_field}' is ${_type}, not ${_want_type}")
    endif()
  endforeach()
  string(JSON _mode GET "${_doc}" results ${_i} mode)
  string(JSON _transport GET "${_doc}" results ${_i} transport)
  string(JSON _errors GET "${_doc}" results ${_i} errors)
  string(JSON _handshakes GET "${_doc}" results ${_i} handshakes)
  string(JSON _rate GET "${_doc}" results ${_i} handshakes_per_s)
  if(NOT _errors EQUAL 0)
    message(FATAL_ERROR "row ${_i} (${_mode}/${_transport}) reports ${_errors} errors:\n${_doc}")
  endif()
  if(_handshakes LESS _min_handshakes)
    message(FATAL_ERROR "row ${_i} (${_mode}/${_transport}) ran ${_handshakes} handshakes, "
                        "fewer than ${_min_handshakes}")
  endif()
  # A rate is a decimal (e.g. 1234.56); a missing or zero one means the
  # clock never ran. CMake compares numbers as integers here, so check the
  # text.
  if(NOT _rate MATCHES "^[0-9]*\\.?[0-9]+([eE][-+]?[0-9]+)?$" OR _rate MATCHES "^0*\\.?0*$")
    message(FATAL_ERROR "row ${_i} (${_mode}/${_transport}) has rate '${_rate}'")
  endif()
  list(APPEND _seen "${_mode}/${_transport}")
endforeach()
if(NOT _seen STREQUAL _expected_rows)
  message(FATAL_ERROR "rows are '${_seen}', expected '${_expected_rows}'")
endif()
