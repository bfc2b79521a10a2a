#!/usr/bin/env bash
# The Debian package: `cpack -G DEB` of this build, inspected with dpkg-deb (its control fields,
# Depends naming the package of every library the binaries link, its files under /usr) and
# extracted into a temporary folder whose binary then runs the installed rule file on the
# installed sample data (with the build's outputs). Nothing is installed on the system.
source "$TESTS_DIR/fixtures/lib.sh"
[ -n "${BUILD_DIR:-}" ] || { echo "FAIL: environment variable BUILD_DIR is not set (run through ctest)"; exit 1; }
want_version=$(sed -n 's/^project(defector VERSION \([0-9.]*\).*/\1/p' "$REPO_DIR/CMakeLists.txt")
arch=$(dpkg --print-architecture)

cpack -G DEB --config "$BUILD_DIR/CPackConfig.cmake" -B "$T/pkg" >"$T/cpack.log" 2>&1
RC=$? ERR=$(cat "$T/cpack.log")
assert_rc cpack 0
DEB="$T/pkg/defector_${want_version}_$arch.deb"
check cpack "no $DEB; made: $(ls "$T/pkg")" test -f "$DEB"

# --- control fields ----------------------------------------------------------------------------
field() { dpkg-deb -f "$DEB" "$1"; }
check control "Package: $(field Package)" [ "$(field Package)" = defector ]
check control "Version: $(field Version), not $want_version" [ "$(field Version)" = "$want_version" ]
check control "Architecture: $(field Architecture), not $arch" [ "$(field Architecture)" = "$arch" ]
check control "no Maintainer" grep -qE '.+ <.+@.+>' <<<"$(field Maintainer)"
check control "no Description" test -n "$(field Description)"
DEPENDS=$(field Depends)
# every library the binaries link by name (ELF NEEDED) is provided by a package Depends names
for bin in "$BUILD_DIR/defector" "$BUILD_DIR/defector-gen"; do
  for soname in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    path=$(ldd "$bin" | awk -v s="$soname" '$1 == s { print $3 }')
    pkg=$( (dpkg -S "$path" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null) | head -1 | cut -d: -f1)
    check Depends "no Debian package found for $soname ($path)" test -n "$pkg"
    [ -n "$pkg" ] || continue
    check Depends "$(basename "$bin") links $soname from $pkg, which Depends lacks: $DEPENDS" \
      grep -qE "(^|, |\| )$pkg( |,|\$)" <<<"$DEPENDS"
  done
done
for pkg in libluajit2-5.1-2 libcsv3 zlib1g libc6; do
  check Depends "Depends lacks $pkg: $DEPENDS" grep -qE "(^|, |\| )$pkg( |,|\$)" <<<"$DEPENDS"
done

# --- files -------------------------------------------------------------------------------------
dpkg-deb -c "$DEB" | awk '{ print $NF }' >"$T/files"
for f in ./usr/bin/defector ./usr/bin/defector-gen ./usr/share/man/man1/defector.1 \
  ./usr/share/defector/rules/retention.lua ./usr/share/defector/rules/retention.test.lua \
  ./usr/share/defector/sample-data/events.csv.gz ./usr/share/doc/defector/README.md \
  ./usr/share/doc/defector/docs/rules.md; do
  check files "the package lacks $f" grep -qxF "$f" "$T/files"
done
refute files "files outside /usr: $(grep -v '^\./usr/' "$T/files" | grep -vx './' | head -3)" \
  grep -qv -e '^\./usr/' -e '^\./$' "$T/files"
check files "/usr/bin/defector is not executable" grep -qE '^-rwxr-xr-x .* \./usr/bin/defector$' <(dpkg-deb -c "$DEB")

# --- extracted, it runs -------------------------------------------------------------------------
dpkg-deb -x "$DEB" "$T/root"
DEFECTOR="$T/root/usr/bin/defector"
run_cli version --version
assert_rc "extracted --version" 0
check "extracted --version" "'$OUTPUT'" grep -q "^defector $want_version\\b" <<<"$OUTPUT"
S="$T/root/usr/share/defector"
run_cli run run "$S/rules/retention.lua" --data "$S/sample-data" -o "$T/out" --as-of 2026-11-01 -q
assert_rc "extracted run" 0
"$BUILD_DIR/defector" run "$REPO_DIR/rules/retention.lua" --data "$REPO_DIR/sample-data" --out "$T/built-out" \
  --as-of 2026-11-01 --no-progress 2>/dev/null
n=0
for f in "$T/built-out"/*.csv; do
  n=$((n + 1))
  check "extracted run" "$(basename "$f") differs from the build's run" cmp -s "$f" "$T/out/$(basename "$f")"
done
check "extracted run" "the build's run wrote no CSV" [ "$n" -ge 5 ]
run_cli test test "$S/rules/retention.lua"
assert_rc "extracted test" 0
LC_ALL=C MANWIDTH=120 man -l "$T/root/usr/share/man/man1/defector.1" >"$T/man.txt" 2>&1
check "extracted man page" "does not render: $(head -3 "$T/man.txt")" grep -q "defector check RULES" "$T/man.txt"
rm -rf "$T/pkg/_CPack_Packages"
finish
