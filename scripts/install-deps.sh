#!/usr/bin/env bash
# Installs the Debian packages Waybill's build and tests need, if missing (needs root or sudo).
#   protobuf-compiler        protoc, for the generated-code drift check
#   protobuf-c-compiler      protoc-c, for the C client
#   libprotobuf-c-dev        the protobuf-c runtime the C client links
#   libsqlite3-dev           SQLite (GRDB links the system library)
#   libssl-dev, openssl      the C client's TLS (OpenSSL) and its test certificates
#   valgrind, jq             C client tests and its interop script
#   prometheus               a real Prometheus scrapes a live server in a test (admin listener)
#   python3-grpcio, python3-protobuf, protobuf-compiler-grpc
#                            the Python gRPC interop test (clients/python: stubs generated from proto/)
#   chromium, chromium-driver, python3-selenium
#                            the operator console's end-to-end tests in a real browser (e2e/)
set -euo pipefail
need=()
command -v protoc   >/dev/null 2>&1 || need+=(protobuf-compiler)
command -v protoc-c >/dev/null 2>&1 || need+=(protobuf-c-compiler)
[ -f /usr/include/protobuf-c/protobuf-c.h ] || need+=(libprotobuf-c-dev)
[ -f /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
command -v openssl  >/dev/null 2>&1 || need+=(openssl)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v jq       >/dev/null 2>&1 || need+=(jq)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v grpc_python_plugin >/dev/null 2>&1 || need+=(protobuf-compiler-grpc)
/usr/bin/python3 -c 'import grpc' >/dev/null 2>&1 || need+=(python3-grpcio)
/usr/bin/python3 -c 'import google.protobuf' >/dev/null 2>&1 || need+=(python3-protobuf)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
/usr/bin/python3 -c 'import selenium' >/dev/null 2>&1 || need+=(python3-selenium)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
