#!/usr/bin/env bash
# Installs everything engram builds and tests with, from Debian 12's archive.
# Idempotent; run as root (or through sudo) on a fresh machine.
#   sudo deploy/install_deps.sh
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  # Test vectors are generated and checked with numpy.
  python3 python3-numpy
  # Throwaway certificates for the TLS tests.
  openssl
  # engramctl compression-map: Unicode normalisation and tokenizer.json.
  libicu-dev nlohmann-json3-dev
  # The Python client (python/): the module, its tests, the PyTorch example
  # and `pip install .` (setuptools, offline).
  python3-dev pybind11-dev libdlpack-dev python3-pytest python3-torch
  python3-setuptools python3-pip
  # The fuzzers (fuzz/): clang with libFuzzer and the sanitizer runtimes.
  clang libclang-rt-14-dev
  # Baselines of the benchmark comparison (bench/compare_baselines.sh).
  redis-server memcached
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install_deps: missing ${missing[*]}; run as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The Debian redis-server and memcached packages start system daemons; the
# benchmark starts its own on free ports, so leave the system ones alone.
echo "install_deps: installed ${missing[*]}"
