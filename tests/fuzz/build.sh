#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/, for long runs:
#   bash tests/fuzz/build.sh && build-fuzz/fuzz_cli -max_total_time=600 build-fuzz/corpus-cli tests/fuzz/corpus/cli
# (the first folder gets what the fuzzer finds; copy an input that fails into tests/fuzz/corpus/cli
# with its fix, so that CTest's replay keeps it fixed).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p build-fuzz/corpus-cli
version=$(sed -n 's/^project(defector VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt) # as CMake sets it
clang -std=c11 -D_POSIX_C_SOURCE=200809L -DDF_VERSION="\"$version\"" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Iinclude -Iengine -Itests/fuzz tests/fuzz/fuzz_cli.c tests/fuzz/fuzz_util.c engine/error.c -lz -o build-fuzz/fuzz_cli
echo "built build-fuzz/fuzz_cli"
