# check_bench_json.cmake: runs one whole-system benchmark program with tiny
# sizes and checks its JSON results. Usage:
#   cmake -DPROGRAM=<path> -DKIND=throughput|alloc_stats|handshake_bench|stress|rpc_stress|idle_memory|many_active
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
#   _nullable_fields of those, the ones that may be null instead (unknown);
#                    checks on them apply when they are numbers
#   _expected_rows   the row names, in order
#   _int_checks      field:OP:value, OP an integer comparison of if()
#                    (EQUAL, GREATER_EQUAL, ...) every row's field passes
#   _positive_fields decimals every row has greater than zero
#   _row_checks      ROW:field:OP:value, OP a numeric comparison of if()
#                    (EQUAL, LESS, LESS_EQUAL, ...; decimals compare as
#                    doubles) that the row named ROW passes; a value with a
#                    '/' is another row's field, ROW.field
#   _svg             a file the program draws; it must exist and name every
#                    word of _svg_words
set(_int_checks)
set(_nullable_fields)
set(_positive_fields)
set(_row_checks)
set(_svg)
set(_svg_words)
if(KIND STREQUAL "throughput")
  # 4 MiB per run, two rounds: every mode and frame size runs twice.
  set(_args --bytes=4194304 --rounds=2)
  set(_key_fields mode frame_size)
  set(_string_fields mode sender)
  set(_number_fields frame_size mb_per_s cpu_s_per_gb sender_cpu_s_per_gb
                     receiver_cpu_s_per_gb bytes runs errors)
  # One row per mode and frame size, in the order a round runs them.
  set(_expected_rows "tcp/0" "tcp_aes_gcm/16384" "alts/16384" "tls13_boringssl/16384" "alts/65536"
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
    foreach(_op write_1k read_1k echo_256k empty_wakeup empty_frame_wakeup read_1k_many_conns
                read_1k_freed_elsewhere)
      if(_op STREQUAL "read_1k_freed_elsewhere" AND NOT _policy STREQUAL "on_demand")
        continue()  # a pinned connection has no lease to hand over
      endif()
      list(APPEND _expected_rows "${_op}/${_policy}")
    endforeach()
  endforeach()
  # The published claim: no operation in steady state allocates, whichever
  # policy (the program also exits non-zero if one does).
  set(_int_checks "iterations:EQUAL:20" "mean_count:EQUAL:0" "allocating_ops:EQUAL:0")
  list(APPEND _number_fields allocating_ops)
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
                  tls13_mutual_ed25519_boringssl alts_full_reactor)
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
elseif(KIND STREQUAL "rpc_stress")
  # 64 ALTS channels of 20 calls each with churn: one row for the whole run,
  # every call completed (interrupted ones run again), and calls of every
  # kind, cancelled and past their deadline included, actually ran, as did
  # the churn.
  set(_args --conns=64 --calls=20 --max-size=4096 --churn-per-s=500 --cancel-fraction=0.1
            --deadline-fraction=0.1 --deadline-ms=20)
  set(_key_fields conns)
  set(_string_fields)
  set(_number_fields conns calls_per_s p50_us p99_us bytes_verified server_bytes_verified errors
                     peak_rss_bytes pool_high_water rss_start_bytes rss_after_bytes calls
                     unary_calls stream_calls cancelled_calls deadline_calls interrupted_calls
                     reopened)
  set(_expected_rows "64")
  set(_int_checks "calls:EQUAL:1280" "unary_calls:GREATER:0" "stream_calls:GREATER:0"
                  "cancelled_calls:GREATER:0" "deadline_calls:GREATER:0" "reopened:GREATER:0")
  set(_positive_fields calls_per_s bytes_verified server_bytes_verified)
elseif(KIND STREQUAL "idle_memory")
  # Two sweep points of 16 and 32 pairs, every mode 3 times, alternating,
  # plus the SVG. The published claims: an idle on-demand endpoint holds no
  # pool buffer and at most 1 KiB of heap with its peer identity kept, less
  # than tuned TLS, which holds less than untuned TLS; a pinned one holds
  # exactly one buffer; a whole idle gRPC endpoint over ALTS holds no pool
  # buffer and at most 2 KiB of heap.
  set(_svg "${JSON}.svg")
  # 50 ms of idling: the socket buffer figure (not checked here) needs more.
  set(_args --sweep=16,32 --repeats=3 --idle_ms=50 "--plot=${_svg}")
  set(_key_fields mode conns)
  set(_string_fields mode)
  set(_number_fields conns endpoints repeats heap_bytes_per_endpoint pool_buffers_outstanding
                     rss_bytes_per_endpoint kernel_bytes_per_endpoint
                     kernel_sockbuf_bytes_per_endpoint kernel_slab_bytes_per_endpoint errors)
  # The slab figure (and so the kernel total) is unknown below its
  # resolution, which 32 pairs are.
  set(_nullable_fields kernel_bytes_per_endpoint kernel_slab_bytes_per_endpoint)
  set(_expected_rows)
  foreach(_n 16 32)
    foreach(_mode on_demand pinned tls13_boringssl tls13_boringssl_tuned rpc_on_demand)
      list(APPEND _expected_rows "${_mode}/${_n}")
    endforeach()
    list(APPEND _row_checks
         "rpc_on_demand/${_n}:pool_buffers_outstanding:EQUAL:0"
         "rpc_on_demand/${_n}:heap_bytes_per_endpoint:LESS_EQUAL:2048"
         "on_demand/${_n}:pool_buffers_outstanding:EQUAL:0"
         "on_demand/${_n}:heap_bytes_per_endpoint:LESS_EQUAL:1024"
         "on_demand/${_n}:heap_bytes_per_endpoint:LESS:tls13_boringssl_tuned/${_n}.heap_bytes_per_endpoint"
         "tls13_boringssl_tuned/${_n}:heap_bytes_per_endpoint:LESS:tls13_boringssl/${_n}.heap_bytes_per_endpoint"
         "pinned/${_n}:pool_buffers_outstanding:EQUAL:1")
  endforeach()
  # A negative delta is an error (errors != 0), so these hold for every row.
  set(_int_checks "repeats:EQUAL:3" "kernel_sockbuf_bytes_per_endpoint:GREATER_EQUAL:0"
                  "kernel_bytes_per_endpoint:GREATER_EQUAL:0" "rss_bytes_per_endpoint:GREATER_EQUAL:0")
  set(_positive_fields heap_bytes_per_endpoint)
  set(_svg_words on_demand pinned tls13_boringssl tls13_boringssl_tuned rpc_on_demand heap RSS kernel
                 "idle endpoints" "bytes per endpoint")
elseif(KIND STREQUAL "idle_memory_kernel")
  # The kernel's share, published beside the heap: 1000 on-demand pairs
  # (enough sockets for the slab counter to resolve them), 3 runs. An idle
  # socket holds no socket buffer memory, and the kernel's share of an
  # on-demand endpoint is larger than its heap (when /proc/slabinfo can be
  # read; otherwise the kernel figures are null and only sockbuf is checked).
  set(_args --modes=on_demand --conns=1000 --repeats=3)
  set(_key_fields mode conns)
  set(_string_fields mode)
  set(_number_fields conns repeats heap_bytes_per_endpoint kernel_bytes_per_endpoint
                     kernel_sockbuf_bytes_per_endpoint kernel_slab_bytes_per_endpoint errors)
  set(_nullable_fields kernel_bytes_per_endpoint kernel_slab_bytes_per_endpoint)
  set(_expected_rows "on_demand/1000")
  set(_int_checks "kernel_sockbuf_bytes_per_endpoint:EQUAL:0")
  set(_row_checks
      "on_demand/1000:kernel_bytes_per_endpoint:GREATER:on_demand/1000.heap_bytes_per_endpoint")
elseif(KIND STREQUAL "many_active")
  # 64 connections (more than the AEAD context cache has slots), 0.2 s per
  # mode: every mode delivers messages with no error; the pinned mode never
  # sets up an AEAD context while the on-demand one re-keys.
  set(_args --conns=64 --seconds=0.2 --warmup_s=0.05 --rounds=1)
  set(_key_fields mode)
  set(_string_fields mode)
  set(_number_fields conns messages_per_s cpu_us_per_message runs errors)
  set(_expected_rows on_demand pinned tls13_boringssl)
  set(_int_checks "conns:EQUAL:64" "runs:EQUAL:1")
  set(_positive_fields messages_per_s cpu_us_per_message)
  set(_row_checks "pinned:aead_inits_per_message:EQUAL:0"
                  "on_demand:aead_inits_per_message:GREATER:0")
else()
  message(FATAL_ERROR "check_bench_json: unknown KIND '${KIND}'")
endif()

file(REMOVE "${JSON}")
if(_svg)
  file(REMOVE "${_svg}")
endif()
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
    if(_type STREQUAL "NULL" AND _field IN_LIST _nullable_fields)
      continue()
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
    string(JSON _type TYPE "${_doc}" results ${_i} ${_field})
    if(_type STREQUAL "NULL" AND _field IN_LIST _nullable_fields)
      continue()
    endif()
    string(JSON _got GET "${_doc}" results ${_i} ${_field})
    if(NOT _got ${_op} _value)
      message(FATAL_ERROR "row ${_i} (${_key}) has ${_field} ${_got}, not ${_op} ${_value}")
    endif()
  endforeach()
  # Positive means a well-formed number that is not zero; its text is
  # checked, so "0.0" and "-0" fail too.
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

# _row_checks: one row's field against a number or another row's field.
foreach(_row_check ${_row_checks})
  string(REPLACE ":" ";" _parts "${_row_check}")
  list(GET _parts 0 _row)
  list(GET _parts 1 _field)
  list(GET _parts 2 _op)
  list(GET _parts 3 _value)
  list(FIND _seen "${_row}" _index)
  if(_index LESS 0)
    message(FATAL_ERROR "check '${_row_check}': no row ${_row}")
  endif()
  string(JSON _type TYPE "${_doc}" results ${_index} ${_field})
  if(_type STREQUAL "NULL" AND _field IN_LIST _nullable_fields)
    continue()
  endif()
  string(JSON _got GET "${_doc}" results ${_index} ${_field})
  set(_what "${_value}")
  if(_value MATCHES "/")
    string(REPLACE "." ";" _ref "${_value}")
    list(GET _ref 0 _ref_row)
    list(GET _ref 1 _ref_field)
    list(FIND _seen "${_ref_row}" _ref_index)
    if(_ref_index LESS 0)
      message(FATAL_ERROR "check '${_row_check}': no row ${_ref_row}")
    endif()
    string(JSON _value GET "${_doc}" results ${_ref_index} ${_ref_field})
    set(_what "${_what} (${_value})")
  endif()
  if(NOT _got ${_op} _value)
    message(FATAL_ERROR "${_row} has ${_field} ${_got}, not ${_op} ${_what}")
  endif()
endforeach()

if(_svg)
  if(NOT EXISTS "${_svg}")
    message(FATAL_ERROR "${PROGRAM} drew no SVG at ${_svg}")
  endif()
  file(READ "${_svg}" _svg_text)
  if(NOT _svg_text MATCHES "^<\\?xml" OR NOT _svg_text MATCHES "</svg>\n$")
    message(FATAL_ERROR "${_svg} is not a whole SVG document")
  endif()
  foreach(_word ${_svg_words})
    string(FIND "${_svg_text}" ">${_word}" _at)
    if(_at LESS 0)
      string(FIND "${_svg_text}" "${_word}" _at)
    endif()
    if(_at LESS 0)
      message(FATAL_ERROR "${_svg} does not mention '${_word}'")
    endif()
  endforeach()
endif()
