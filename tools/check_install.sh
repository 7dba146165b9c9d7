#!/usr/bin/env bash
# tools/check_install.sh [BUILD_DIR] — checks that another project can use
# this one, the way a user would:
#   1. builds BUILD_DIR (default: build/plain through tools/build.sh plain;
#      a no-op when it is up to date),
#   2. installs it into a fresh temporary prefix, then moves the prefix (the
#      package must be relocatable),
#   3. checks that only public headers were installed and that each one
#      compiles alone, with the prefix as the project's only include path,
#   4. builds examples/ against the package (find_package with
#      CMAKE_PREFIX_PATH) and runs it through ctest,
#   5. compiles and links examples/secure_echo.cc with nothing but
#      `pkg-config --cflags --libs alts_ondemand`, and runs it,
#   6. checks each installed tool's --version against the project version
#      and CHANGELOG.md,
#   7. builds examples/ with these sources as a subproject (add_subdirectory)
#      and checks that no build flag of this project reached the parent.
# Prints the time each step took. Exits non-zero on the first failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
start=$SECONDS
step_start=$SECONDS
step() {
  echo "check_install: $1 ($((SECONDS - step_start)) s)"
  step_start=$SECONDS
}
fail() {
  echo "check_install: FAILED: $*" >&2
  exit 1
}

if [ $# -ge 1 ]; then
  dir=$(cd "$1" && pwd)
  cmake --build "$dir" -j "$jobs" >&2
else
  dir=$("$root/tools/build.sh" plain | tail -n 1)
fi
step "built $dir"

work=$(mktemp -d "${TMPDIR:-/tmp}/alts-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
cmake --install "$dir" --prefix "$work/stage" >"$work/install.log"
mv "$work/stage" "$work/prefix"
prefix=$work/prefix
step "installed into a temporary prefix and moved it to $prefix"

# 3. Public headers only: the layer directories and the version header.
for d in "$prefix"/include/*; do
  case $(basename "$d") in
    frame|alts|handshaker|conn|http2|rpc|alts_ondemand) ;;
    *) fail "unexpected directory include/$(basename "$d")" ;;
  esac
done
[ -f "$prefix/include/alts_ondemand/version.h" ] || fail "version.h not installed"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
cflags=$(pkg-config --cflags alts_ondemand)
case " $cflags " in
  *"$root"*) fail "pkg-config cflags name the source tree: $cflags" ;;
esac
(cd "$prefix/include" && find . -name '*.h' | sed 's|^\./||' | sort) >"$work/headers"
[ -s "$work/headers" ] || fail "no headers installed"
cd "$work"
# shellcheck disable=SC2086  # cflags is a list of flags
if ! xargs -P "$jobs" -I{} sh -c \
     'printf "#include \"%s\"\n" "$1" | c++ -std=c++20 -fsyntax-only $2 -x c++ - ||
      { echo "header does not compile alone: $1" >&2; exit 1; }' \
     sh {} "$cflags" <"$work/headers"; then
  fail "a header does not compile on its own"
fi
step "$(wc -l <"$work/headers") installed headers each compile alone"

# 4. The examples against the installed package.
cmake -S "$root/examples" -B "$work/examples" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix" >"$work/examples-configure.log" ||
  { cat "$work/examples-configure.log"; fail "examples do not configure against the package"; }
cmake --build "$work/examples" -j "$jobs" >&2
ctest --test-dir "$work/examples" --output-on-failure
step "examples built against the installed package and ran"

# 5. pkg-config alone.
# shellcheck disable=SC2046  # pkg-config prints a list of flags
c++ -std=c++20 -Wall -Wextra -o "$work/secure_echo_pc" "$root/examples/secure_echo.cc" \
    $(pkg-config --cflags --libs alts_ondemand)
"$work/secure_echo_pc" >"$work/secure_echo_pc.out" ||
  { cat "$work/secure_echo_pc.out"; fail "secure_echo built with pkg-config failed"; }
step "pkg-config --cflags --libs alts_ondemand compiles, links and runs secure_echo"

# 6. Versions: the project() line, the package, every tool and CHANGELOG.md.
version=$(sed -n 's/^project(alts_ondemand VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
[ -n "$version" ] || fail "no version in the project() line of CMakeLists.txt"
[ "$(pkg-config --modversion alts_ondemand)" = "$version" ] || fail "pkg-config version differs"
grep -q "^## \[$version\]" "$root/CHANGELOG.md" || fail "CHANGELOG.md has no section for $version"
tools=0
for t in "$prefix"/bin/*; do
  [ -x "$t" ] || continue
  got=$("$t" --version) || fail "$(basename "$t") --version failed"
  [ "$got" = "$(basename "$t") $version" ] ||
    fail "$(basename "$t") --version printed '$got', not '$(basename "$t") $version'"
  tools=$((tools + 1))
done
[ "$tools" -gt 0 ] || fail "no tools installed"
step "$tools installed tools print version $version (CHANGELOG.md has it)"

# 7. The sources as a subproject of examples/.
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$root/examples" -B "$work/subproject" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DALTS_ONDEMAND_SOURCE_DIR="$root" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
      "${launcher[@]}" >"$work/subproject-configure.log" ||
  { cat "$work/subproject-configure.log"; fail "examples do not configure with the sources"; }
grep -q "^ALTS_BUILD_TESTS:BOOL=OFF" "$work/subproject/CMakeCache.txt" ||
  fail "tests are built by default in a subproject"
cmake --build "$work/subproject" -j "$jobs" >&2
ctest --test-dir "$work/subproject" --output-on-failure
parent_cmd=$(grep -o '"command": "[^"]*examples/secure_echo.cc[^"]*"' \
             "$work/subproject/compile_commands.json") || fail "no compile command for secure_echo.cc"
case $parent_cmd in
  *-Wextra*|*-fsanitize*|*ALTS_*_BUILD*) fail "project flags leaked into the parent: $parent_cmd" ;;
esac
step "examples built with the sources as a subproject; no flags leaked into the parent"

echo "check_install: all checks passed in $((SECONDS - start)) s"
