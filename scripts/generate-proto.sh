#!/usr/bin/env bash
# Regenerates Sources/WaybillProto/Generated from proto/ with protoc + protoc-gen-swift
# (built from the swift-protobuf version this package depends on).
#   scripts/generate-proto.sh           rewrite the committed code
#   scripts/generate-proto.sh --check   fail if the committed code is out of date with proto/
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler" >&2; exit 1; }
swift build --product protoc-gen-swift >/dev/null
plugin="$(swift build --show-bin-path)/protoc-gen-swift"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
protoc --plugin=protoc-gen-swift="$plugin" \
       --swift_out="$out" --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
       -Iproto proto/waybill/v1/*.proto

target=Sources/WaybillProto/Generated
if [ "${1:-}" = "--check" ]; then
  if ! diff -ru "$target" "$out"; then
    echo "Generated Swift code is out of date with proto/: run scripts/generate-proto.sh" >&2
    exit 1
  fi
  echo "Generated Swift code matches proto/."
else
  rm -rf "$target"; mkdir -p "$target"
  cp "$out"/*.swift "$target"/
  echo "Wrote $(ls "$target" | wc -l) files to $target"
fi
