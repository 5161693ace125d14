#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager and kube-scheduler from Debian bookworm's
# `kubernetes` source package (1.20.2, with vendor/), and take etcd from Debian's etcd-server.
# Nothing is downloaded but Debian packages. Usage: build-control-plane.sh DEST_DIR
# Facts this relies on are in shared/DESIGN.md ("Sandbox cluster").
set -euo pipefail
dest=${1:?usage: build-control-plane.sh DEST_DIR}
work=${KUBECOPILOT_BUILD_DIR:-$(dirname "$dest")/build}
step() { echo "[control-plane] $*"; }

if ! command -v apt-get >/dev/null; then
  echo "apt-get is not available, so the control plane cannot be built here." >&2
  exit 3
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

step "1/5 enabling deb-src and bookworm-backports"
src_list=/etc/apt/sources.list.d/kubecopilot.sources
if [ ! -f "$src_list" ]; then
  $SUDO tee "$src_list" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
$SUDO apt-get update -qq

step "2/5 installing build tools (golang-1.21-go, rsync, jq, dpkg-dev, reflect2 1.0.2, etcd-server)"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  -t bookworm-backports golang-1.21-go >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  rsync jq dpkg-dev make golang-github-modern-go-reflect2-dev etcd-server >/dev/null
# etcd-server's package starts a system etcd on :2379; the sandbox runs its own.
$SUDO systemctl disable --now etcd >/dev/null 2>&1 || true

step "3/5 fetching Debian's kubernetes source package"
mkdir -p "$work"
cd "$work"
if [ ! -d src/vendor ]; then
  rm -rf src kubernetes-*
  apt-get source -qq kubernetes >/dev/null
  mv "$(find . -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)" src
fi

step "4/5 replacing vendored modern-go/reflect2 1.0.1 (crashes under Go >= 1.18) with Debian's 1.0.2"
rm -rf src/vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 src/vendor/github.com/modern-go/reflect2
sed -i 's#^github.com/modern-go/reflect2 v1.0.1#github.com/modern-go/reflect2 v1.0.2#' src/vendor/modules.txt || true

step "5/5 compiling (about 6 minutes on 2 cores)"
export GOPATH="$work/gopath" GOCACHE="$work/gocache" GOFLAGS=-mod=vendor GO111MODULE=on
export PATH=/usr/lib/go-1.21/bin:$PATH
mkdir -p "$GOPATH/src/k8s.io"
ln -sfn "$work/src" "$GOPATH/src/k8s.io/kubernetes"
cd "$GOPATH/src/k8s.io/kubernetes"
make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" KUBE_VERBOSE=0
out=_output/bin
[ -x "$out/kube-apiserver" ] || out=$(dirname "$(find _output -type f -name kube-apiserver | head -n1)")
mkdir -p "$dest"
install -m 0755 "$out/kube-apiserver" "$out/kube-controller-manager" "$out/kube-scheduler" "$dest/"
install -m 0755 "$(command -v etcd || echo /usr/bin/etcd)" "$dest/etcd"
step "done: binaries in $dest"
if [ -z "${KUBECOPILOT_KEEP_BUILD:-}" ]; then
  step "removing the build tree ($(du -sh "$work" 2>/dev/null | cut -f1)); set KUBECOPILOT_KEEP_BUILD=1 to keep it"
  rm -rf "$work"
fi
