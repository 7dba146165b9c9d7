#!/usr/bin/env bash
# Installs the Debian 12 packages this project builds with, if any is missing.
# Runs apt-get as root (through sudo when not root). Safe to run repeatedly.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev          # fuzzing (libFuzzer) and sanitizers
  android-libboringssl-dev          # BoringSSL (never the system OpenSSL)
  libabsl-dev libevent-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev                # JSON of the HPACK test stories (tests, tools)
  zlib1g-dev                        # gzip message compression (rpc/)
  # test oracles, interop peers and baselines
  libnghttp2-dev nghttp2-client nghttp2-server curl python3-h2
  golang-go golang-google-grpc-dev
  protoc-gen-go-1-3                 # Go code of the grpc-go interop peers (plugins=grpc)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
