#!/usr/bin/env bash
# Regenerates the code derived from proto/:
#   Sources/WaybillProto/Generated         messages (protoc-gen-swift, built from the swift-protobuf
#                                           version this package depends on)
#   Sources/WaybillWire/Generated          the method table            } protoc-gen-waybill
#   Sources/WaybillServer/Generated        the handler protocol        } (Sources/protoc-gen-waybill)
#   Sources/WaybillClient/Generated        the client's typed calls    }
#   scripts/generate-proto.sh           rewrite the committed code
#   scripts/generate-proto.sh --check   fail if the committed code is out of date with proto/
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler" >&2; exit 1; }
swift build --product protoc-gen-swift >/dev/null
swift build --product protoc-gen-waybill >/dev/null
bin="$(swift build --show-bin-path)"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/messages" "$out/rpc"
protoc --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
       --swift_out="$out/messages" --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
       -Iproto proto/waybill/v1/*.proto
protoc --plugin=protoc-gen-waybill="$bin/protoc-gen-waybill" --waybill_out="$out/rpc" \
       -Iproto proto/waybill/v1/*.proto

# generated directory -> committed directory
pairs=("messages:Sources/WaybillProto/Generated"
       "rpc/WaybillWire:Sources/WaybillWire/Generated"
       "rpc/WaybillServer:Sources/WaybillServer/Generated"
       "rpc/WaybillClient:Sources/WaybillClient/Generated")
status=0
for pair in "${pairs[@]}"; do
  from="$out/${pair%%:*}" target="${pair#*:}"
  if [ "${1:-}" = "--check" ]; then
    diff -ru "$target" "$from" || status=1
  else
    rm -rf "$target"; mkdir -p "$target"
    cp "$from"/*.swift "$target"/
    echo "Wrote $(ls "$target" | wc -l) files to $target"
  fi
done
if [ "${1:-}" = "--check" ]; then
  if [ $status -ne 0 ]; then
    echo "Generated Swift code is out of date with proto/: run scripts/generate-proto.sh" >&2
    exit 1
  fi
  echo "Generated Swift code matches proto/."
fi
