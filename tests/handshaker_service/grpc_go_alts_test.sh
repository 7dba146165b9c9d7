#!/bin/bash
# grpc-go 1.33's own ALTS (credentials/alts, unmodified) using
# alts_handshaker_service as its handshaker, against itself and against this
# project's native ALTS tools:
#   1. grpc-go ALTS client <-> grpc-go ALTS server, both through the service
#   2. grpc-go ALTS client -> interop_server --use_alts (in-process handshake)
#   3. interop_client --use_alts -> grpc-go ALTS server through the service
#   4. refusals: a target service account that does not match, an untrusted
#      root (either side), a client not in --allow; the service keeps serving
# Every scenario makes TestService calls (megabytes, every payload checked)
# and checks the peer identities both sides saw.
#
# grpc-go refuses ALTS unless /sys/class/dmi/id/product_name says Google
# Compute Engine. The script re-runs itself in a new mount and network
# namespace (unshare -m -n) with an overlay on /sys/class that holds that
# file and only loopback up; the host is untouched. Needs root: without it
# (or without namespaces) it exits 77, which ctest reports as skipped.
#
# usage: grpc_go_alts_test.sh SERVICE KEYGEN GO_PEER INTEROP_SERVER INTEROP_CLIENT [SKIP_REASON]
#   INTEROP_SERVER / INTEROP_CLIENT may be empty (scenarios 2 and 3 are then skipped).
set -u

HSS=$1
KEYGEN=$2
GO_PEER=$3
INTEROP_SERVER=${4:-}
INTEROP_CLIENT=${5:-}
SKIP_REASON=${6:-}

skip() {
  echo "SKIPPED: $*"
  exit 77
}

if [ -n "$SKIP_REASON" ]; then skip "$SKIP_REASON"; fi
if [ -z "$GO_PEER" ] || [ ! -x "$GO_PEER" ]; then skip "the grpc-go peer is not built"; fi

if [ -z "${HSS_IN_NAMESPACE:-}" ]; then
  if [ "$(id -u)" != 0 ]; then skip "needs root for a mount and network namespace"; fi
  command -v unshare > /dev/null || skip "no unshare (util-linux)"
  command -v ip > /dev/null || skip "no ip (iproute2)"
  unshare -m -n true 2> /dev/null || skip "cannot create mount and network namespaces here"
  HSS_WORK=$(mktemp -d /tmp/hss_grpc_go.XXXXXX)
  export HSS_WORK HSS_IN_NAMESPACE=1
  unshare -m -n /bin/bash "$0" "$@"
  rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    echo "logs kept in $HSS_WORK"
  else
    rm -rf "$HSS_WORK"
  fi
  exit $rc
fi

# ---- inside the namespace ----
W=$HSS_WORK
mount --make-rprivate / || exit 1
mkdir -p "$W/dmi/upper/dmi/id" "$W/dmi/work"
echo "Google Compute Engine" > "$W/dmi/upper/dmi/id/product_name"
mount -t overlay overlay -o "lowerdir=/sys/class,upperdir=$W/dmi/upper,workdir=$W/dmi/work" \
  /sys/class || skip "cannot mount an overlay on /sys/class"
ip link set lo up || exit 1

FAILURES=0
PIDS=()
pass() { echo "PASS: $*"; }
failed() {
  echo "FAIL: $*"
  FAILURES=$((FAILURES + 1))
}
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null; done
  wait 2> /dev/null
}
trap cleanup EXIT

# wait_for FILE TEXT: until FILE has a line with TEXT (30 s at most).
wait_for() {
  for _ in $(seq 600); do
    grep -q -- "$2" "$1" 2> /dev/null && return 0
    sleep 0.05
  done
  echo "timed out waiting for '$2' in $1:"
  cat "$1"
  return 1
}

# start NAME COMMAND...: runs COMMAND in the background, output to $W/NAME.log,
# and waits for its LISTENING line; sets ADDR to the address.
start() {
  local name=$1
  shift
  "$@" > "$W/$name.log" 2>&1 &
  PIDS+=($!)
  wait_for "$W/$name.log" "^LISTENING " || exit 1
  ADDR=$(sed -n 's/^LISTENING //p' "$W/$name.log" | head -1)
}

# expect FILE TEXT WHAT: FILE must contain TEXT.
expect() {
  if grep -q -- "$2" "$1"; then pass "$3"; else failed "$3: no '$2' in $1:"; cat "$1"; fi
}

# ---- credentials ----
K() { "$KEYGEN" "$@" > /dev/null || exit 1; }
K create-root --name hss-root --out "$W/root"
K create-root --name other-root --out "$W/other"
K issue-leaf --issuer-key "$W/root.key" --service-account server@test --attr env=ci --out "$W/server"
K issue-leaf --issuer-key "$W/root.key" --service-account client@test --attr team=qa --out "$W/client"
K issue-leaf --issuer-key "$W/root.key" --service-account intruder@test --out "$W/intruder"
K issue-leaf --issuer-key "$W/other.key" --service-account client@test --out "$W/stranger"
R="--roots $W/root.root"

# ---- handshaker services: one per workload, as on two machines ----
start hs_server "$HSS" --listen 127.0.0.1:0 --cert "$W/server.chain" --key "$W/server.key" $R \
  --allow client@test --verbose
HS_SERVER=$ADDR
start hs_client "$HSS" --listen 127.0.0.1:0 --cert "$W/client.chain" --key "$W/client.key" $R \
  --verbose
HS_CLIENT=$ADDR
expect "$W/hs_server.log" "^identity server@test env=ci (default)" "service prints its identity"

# ---- 1. grpc-go <-> grpc-go, both through the service ----
start go_server "$GO_PEER" -mode server -handshaker "$HS_SERVER"
GO_SERVER=$ADDR
"$GO_PEER" -mode client -handshaker "$HS_CLIENT" -target "$GO_SERVER" -target_sa server@test \
  -expect_server_sa server@test -expect_username client@test -bytes 4194304 \
  > "$W/s1_client.log" 2>&1
rc=$?
cat "$W/s1_client.log"
if [ $rc -eq 0 ]; then pass "1: grpc-go client <-> grpc-go server through the service"; else
  failed "1: grpc-go client exited $rc"; fi
expect "$W/s1_client.log" "^client: server server@test local client@test (ALTSRP_GCM_AES128_REKEY, rpc 2.1)" \
  "1: the client saw server@test"
expect "$W/go_server.log" "^server: UnaryCall from client@test as server@test" "1: the server saw client@test"
expect "$W/hs_server.log" "^ok server as server@test with client@test" "1: server side handshaked by the service"
expect "$W/hs_client.log" "^ok client as client@test with server@test" "1: client side handshaked by the service"

# ---- 2. grpc-go client -> interop_server --use_alts (native handshake) ----
if [ -n "$INTEROP_SERVER" ]; then
  start interop_server "$INTEROP_SERVER" --host=127.0.0.1 --port=0 --use_alts \
    --alts_cert="$W/server.chain" --alts_key="$W/server.key" --alts_roots="$W/root.root" \
    --alts_allow=client@test
  NATIVE_SERVER=$ADDR
  "$GO_PEER" -mode client -handshaker "$HS_CLIENT" -target "$NATIVE_SERVER" -target_sa server@test \
    -expect_server_sa server@test -expect_username client@test -bytes 4194304 \
    > "$W/s2_client.log" 2>&1
  rc=$?
  cat "$W/s2_client.log"
  if [ $rc -eq 0 ]; then pass "2: grpc-go client -> interop_server --use_alts"; else
    failed "2: grpc-go client exited $rc"; fi
  expect "$W/s2_client.log" "^client: server server@test local client@test" "2: the client saw server@test"
  expect "$W/s2_client.log" "^client: server saw client@test" "2: interop_server saw client@test"
else
  echo "SKIPPED: 2 (no interop_server)"
fi

# ---- 3. interop_client --use_alts -> grpc-go server through the service ----
if [ -n "$INTEROP_CLIENT" ]; then
  GO_PORT=${GO_SERVER##*:}
  : > "$W/s3_client.log"
  for c in empty_unary large_unary client_streaming server_streaming ping_pong \
    cancel_after_begin cancel_after_first_response; do
    "$INTEROP_CLIENT" --server_host=127.0.0.1 --server_port="$GO_PORT" --test_case="$c" \
      --use_alts --alts_cert="$W/client.chain" --alts_key="$W/client.key" \
      --alts_roots="$W/root.root" --alts_target=server@test --expect_username=client@test \
      >> "$W/s3_client.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then pass "3: interop_client $c -> grpc-go server"; else
      failed "3: interop_client $c exited $rc"; cat "$W/s3_client.log"; fi
  done
  expect "$W/go_server.log" "^server: StreamingInputCall from client@test as server@test" \
    "3: the grpc-go server saw client@test"
else
  echo "SKIPPED: 3 (no interop_client)"
fi

# ---- 4. refusals ----
# a. TargetServiceAccounts that the server is not.
"$GO_PEER" -mode client -handshaker "$HS_CLIENT" -target "$GO_SERVER" -target_sa someone-else@test \
  -expect_fail > "$W/s4a.log" 2>&1 || failed "4a: the mismatched target was not refused"
cat "$W/s4a.log"
expect "$W/s4a.log" "PermissionDenied.*server@test" "4a: the client hears PERMISSION_DENIED naming the server"
expect "$W/hs_client.log" "^failed client as client@test .*PERMISSION_DENIED" "4a: the service logs the refusal"

# b1. The client's service does not trust the server's root.
start hs_untrusting "$HSS" --listen 127.0.0.1:0 --cert "$W/client.chain" --key "$W/client.key" \
  --roots "$W/other.root"
"$GO_PEER" -mode client -handshaker "$ADDR" -target "$GO_SERVER" -expect_fail \
  > "$W/s4b1.log" 2>&1 || failed "4b1: an untrusted server was not refused"
cat "$W/s4b1.log"
expect "$W/s4b1.log" "Unauthenticated" "4b1: the client hears UNAUTHENTICATED"

# b2. The server's service does not trust the client's root.
start hs_stranger "$HSS" --listen 127.0.0.1:0 --cert "$W/stranger.chain" --key "$W/stranger.key" $R
"$GO_PEER" -mode client -handshaker "$ADDR" -target "$GO_SERVER" -expect_fail \
  > "$W/s4b2.log" 2>&1 || failed "4b2: an untrusted client was not refused"
cat "$W/s4b2.log"
wait_for "$W/hs_server.log" "^failed server as server@test .*UNAUTHENTICATED" &&
  pass "4b2: the server's service refused the untrusted client (UNAUTHENTICATED)"
expect "$W/hs_server.log" "untrusted root" "4b2: ... and says why"

# c. A client the server's --allow does not list.
start hs_intruder "$HSS" --listen 127.0.0.1:0 --cert "$W/intruder.chain" --key "$W/intruder.key" $R
"$GO_PEER" -mode client -handshaker "$ADDR" -target "$GO_SERVER" -target_sa server@test -expect_fail \
  > "$W/s4c.log" 2>&1 || failed "4c: a client not in --allow was not refused"
cat "$W/s4c.log"
wait_for "$W/hs_server.log" "^failed server as server@test .*PERMISSION_DENIED.*intruder@test" &&
  pass "4c: the server's service refused intruder@test (PERMISSION_DENIED)"
expect "$W/go_server.log" "." "4c: the grpc-go server is still up"

# The services kept serving: a good client still gets through.
"$GO_PEER" -mode client -handshaker "$HS_CLIENT" -target "$GO_SERVER" -target_sa server@test \
  -expect_username client@test -bytes 1048576 > "$W/s4_after.log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then pass "4: the services keep serving after the refusals"; else
  failed "4: a good client failed after the refusals"; cat "$W/s4_after.log"; fi

echo "---- service logs ----"
cat "$W/hs_server.log" "$W/hs_client.log"
if [ $FAILURES -ne 0 ]; then
  echo "$FAILURES check(s) failed"
  exit 1
fi
echo "all grpc-go ALTS scenarios passed"
