# check_bench_json.cmake: runs one whole-system benchmark program with tiny
# sizes and checks its JSON results. Usage:
#   cmake -DPROGRAM=<path> -DKIND=throughput|alloc_stats|handshake_bench|stress
#         -DJSON=<out path> -P check_bench_json.cmake
# Fails (FATAL_ERROR) if the program exits non-zero (each does when a
# transfer, handshake or echo failed), the JSON does not parse, a row is
# missing, out of order or lacks a field, a field has the wrong type, or a
# row reports errors != 0 or breaks its KIND's checks below. Figures are
# never compared with anything but the sizes the run was asked for.

cmake_minimum_required(VERSION 3.25)

foreach(_var PROGRAM KIND JSON)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "check_bench_json: -D${_var}=... is required")
  endif()
endforeach()

# Each KIND sets:
#   _args            the program's arguments (--json is added)
#   _key_fields      the fields that, joined with '/', name a row
#   _string_fields   fields every row has as strings
#   _number_fields   fields every row has as numbers ("errors" is one)
#   _expected_rows   the row names, in order
#   _int_checks      field:OP:value, OP an integer comparison of if()
#                    (EQUAL, GREATER_EQUAL, ...) every row's field passes
#   _positive_fields decimals every row has greater than zero
set(_int_checks)
set(_positive_fields)
if(KIND STREQUAL "throughput")
  # 4 MiB per run, two rounds: every mode and frame size runs twice.
  set(_args --bytes=4194304 --rounds=2)
  set(_key_fields mode frame_size)
  set(_string_fields mode sender)
  set(_number_fields frame_size mb_per_s cpu_s_per_gb sender_cpu_s_per_gb
                     receiver_cpu_s_per_gb bytes runs errors)
  # One row per mode and frame size, in the order a round runs them.
  set(_expected_rows "tcp/0" "alts/16384" "tls13_boringssl/16384" "alts/65536"
                     "alts/1048576" "tls13_boringssl_socket_bio/16384")
  set(_int_checks "bytes:EQUAL:4194304" "runs:EQUAL:2")
  set(_positive_fields mb_per_s cpu_s_per_gb)
elseif(KIND STREQUAL "alloc_stats")
  set(_args --iterations=20 --warmup=10)
  set(_key_fields operation policy)
  set(_string_fields operation policy)
  set(_number_fields mean_bytes mean_count iterations errors)
  set(_expected_rows)
  foreach(_policy on_demand pinned)
    foreach(_op write_1k read_1k echo_256k empty_wakeup empty_frame_wakeup)
      list(APPEND _expected_rows "${_op}/${_policy}")
    endforeach()
  endforeach()
  set(_int_checks "iterations:EQUAL:20")
elseif(KIND STREQUAL "handshake_bench")
  # 0.05 s per mode over both transports: every mode runs its warm-up and at
  # least one handshake in each of the program's 5 interleaved rounds.
  set(_args --seconds=0.05 --transport=both)
  set(_key_fields mode transport)
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
  set(_int_checks "handshakes:GREATER_EQUAL:5")
  # A missing or zero rate means the clock never ran.
  set(_positive_fields handshakes_per_s)
elseif(KIND STREQUAL "stress")
  # 64 connections with real handshakes and churn, 20 messages each: one row
  # for the whole run, every message echoed and verified.
  set(_args --conns=64 --messages=20 --max-size=4096 --churn-per-s=500)
  set(_key_fields conns)
  set(_string_fields)
  set(_number_fields conns messages_per_s p50_us p99_us bytes_verified errors peak_rss_bytes
                     pool_high_water rss_after_bytes messages)
  set(_expected_rows "64")
  set(_int_checks "messages:EQUAL:1280")
else()
  message(FATAL_ERROR "check_bench_json: unknown KIND '${KIND}'")
endif()

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

  set(_key_parts)
  foreach(_field ${_key_fields})
    string(JSON _part GET "${_doc}" results ${_i} ${_field})
    list(APPEND _key_parts "${_part}")
  endforeach()
  list(JOIN _key_parts "/" _key)

  string(JSON _errors GET "${_doc}" results ${_i} errors)
  if(NOT _errors EQUAL 0)
    message(FATAL_ERROR "row ${_i} (${_key}) reports ${_errors} errors:\n${_doc}")
  endif()
  foreach(_int_check ${_int_checks})
    string(REPLACE ":" ";" _int_check "${_int_check}")
    list(GET _int_check 0 _field)
    list(GET _int_check 1 _op)
    list(GET _int_check 2 _value)
    string(JSON _got GET "${_doc}" results ${_i} ${_field})
    if(NOT _got ${_op} _value)
      message(FATAL_ERROR "row ${_i} (${_key}) has ${_field} ${_got}, not ${_op} ${_value}")
    endif()
  endforeach()
  # A decimal (e.g. 1234.56) cannot be compared as a number here (CMake
  # compares integers), so its text is checked.
  foreach(_field ${_positive_fields})
    string(JSON _got GET "${_doc}" results ${_i} ${_field})
    if(NOT _got MATCHES "^[0-9]*\\.?[0-9]+([eE][-+]?[0-9]+)?$" OR _got MATCHES "^0*\\.?0*$")
      message(FATAL_ERROR "row ${_i} (${_key}) has ${_field} '${_got}'")
    endif()
  endforeach()
  list(APPEND _seen "${_key}")
endforeach()
if(NOT _seen STREQUAL _expected_rows)
  message(FATAL_ERROR "rows are '${_seen}', expected '${_expected_rows}'")
endif()
