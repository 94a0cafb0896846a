#!/usr/bin/env bash
# Builds, once, the real Ollama server and the tiny-model writer that
# runner/model's real-server test uses, and prints the directory holding
# them (ollama, tinygguf). Both come from the tools module
# runner/model/internal/ollamatool (its own go.mod, so Ollama's ~80 requires
# stay out of the main module). The binaries are cached outside the
# repository, keyed by Ollama's version, the build flags, the Go version and
# the tools module's files, so later runs only print the path.
# Cache root: $SITEWARDEN_OLLAMA_CACHE, default $(go env GOCACHE)/../sitewarden-ollama.
# Needs the Debian packages nlohmann-json3-dev and libstb-dev (.ci/deps.sh)
# and an AVX2 CPU (the build uses -march=x86-64-v3). Fails loudly.
set -euo pipefail

GO=${GO:-go}
VERSION=0.17.4
root=$(cd "$(dirname "$0")/.." && pwd)
tool="$root/runner/model/internal/ollamatool"
cache=${SITEWARDEN_OLLAMA_CACHE:-$("$GO" env GOCACHE)/../sitewarden-ollama}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

march="-O2 -march=x86-64-v3"
ldflags="-s -w -X github.com/ollama/ollama/version.Version=$VERSION"
gover=$("$GO" env GOVERSION)

for h in /usr/include/nlohmann/json_fwd.hpp /usr/include/stb/stb_image.h; do
	if [ ! -f "$h" ]; then
		echo "ollama.sh: $h missing; run 'make deps' (installs nlohmann-json3-dev and libstb-dev)" >&2
		exit 1
	fi
done
if ! grep -qw avx2 /proc/cpuinfo; then
	echo "ollama.sh: this CPU has no AVX2; the Ollama build uses -march=x86-64-v3" >&2
	exit 1
fi

key=$( { echo "$VERSION|$march|$ldflags|$gover"; cat "$tool/go.mod" "$tool/go.sum"; find "$tool" -type f \( -name '*.go' -o -name '*.h' \) | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-16)
dir="$cache/$VERSION-$key"
if [ -x "$dir/ollama" ] && [ -x "$dir/tinygguf" ]; then
	echo "$dir"
	exit 0
fi

# One build at a time (parallel 'go test' processes may all ask).
exec 9>"$cache/.lock"
flock -w 1800 9 || { echo "ollama.sh: timed out waiting for another build ($cache/.lock)" >&2; exit 1; }
if [ -x "$dir/ollama" ] && [ -x "$dir/tinygguf" ]; then
	echo "$dir"
	exit 0
fi

tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "ollama.sh: building Ollama v$VERSION into $dir (about 5 minutes on 2 cores the first time)" >&2
(
	cd "$tool"
	CGO_ENABLED=1 CGO_CPPFLAGS="-I$tool/cstub" CGO_CFLAGS="$march" CGO_CXXFLAGS="$march" \
		"$GO" build -mod=readonly -trimpath -ldflags="$ldflags" -o "$tmp/ollama" github.com/ollama/ollama
	CGO_ENABLED=0 "$GO" build -mod=readonly -trimpath -o "$tmp/tinygguf" ./cmd/tinygguf
) >&2
mkdir -p "$dir"
mv "$tmp/ollama" "$tmp/tinygguf" "$dir/"
echo "ollama.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$dir"
