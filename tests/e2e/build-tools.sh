#!/usr/bin/env bash
# Build the end-to-end test tools from Go modules into a versioned cache:
#   $CACHE/k8s-$K8S_VERSION/bin/{kube-apiserver,kubectl}
#   $CACHE/etcd-$ETCD_VERSION/bin/etcd      (etcd version = the one k8s.io/kubernetes pins)
#   $CACHE/helm-$HELM_VERSION/bin/helm
#   $CACHE/helm-$HELM4_VERSION/bin/helm     (Helm 4: server-side apply with field manager `helm`)
#   $CACHE/gloo-$GLOO_VERSION/crds/*.yaml
#   $CACHE/gloo-$GLOO_VERSION/bin/gloo      (the gloo control plane, projects/gloo/cmd)
#   $CACHE/krew-$KREW_VERSION/bin/{krew,validate-krew-manifest}
#   $CACHE/podinfo-$PODINFO_VERSION/{bin/{podinfo,podcli},ui/}   (the application the e2e pods run)
#   $CACHE/vegeta-$VEGETA_VERSION/bin/vegeta   (load that opens connections as kube-apiserver's Go client does)
# CACHE is ${KUBECTL_CANARY_CACHE:-$HOME/.cache/kubectl-canary}. Whatever is
# already there is reused, so a warm run only tests a few files.
#
# Usage: build-tools.sh                 build what is missing
#        build-tools.sh --print-paths   print KEY=VALUE lines (versions, paths); builds nothing
set -euo pipefail

# The single place where the tool versions live; tests/e2e/tools.py reads them
# through --print-paths.
K8S_VERSION=v1.37.2
HELM_VERSION=v3.22.0
HELM4_VERSION=v4.3.2
GLOO_VERSION=v1.22.1
KREW_VERSION=v0.4.3
# podinfo's releases (6.x) are not Go module versions of github.com/stefanprodan/podinfo (its go.mod
# has no /v6 suffix), so the Go module proxy serves them as pseudo-versions; this one is the commit of
# 2025-09-10 whose pkg/version says 6.9.2 (build_podinfo checks `podinfo --version`).
PODINFO_VERSION=v1.8.1-0.20250910200901-e86405a8674e
PODINFO_APP_VERSION=6.9.2
VEGETA_VERSION=v12.12.0

CACHE=${KUBECTL_CANARY_CACHE:-$HOME/.cache/kubectl-canary}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
K8S_DIR=$CACHE/k8s-$K8S_VERSION
HELM_DIR=$CACHE/helm-$HELM_VERSION
HELM4_DIR=$CACHE/helm-$HELM4_VERSION
GLOO_DIR=$CACHE/gloo-$GLOO_VERSION
KREW_DIR=$CACHE/krew-$KREW_VERSION
PODINFO_DIR=$CACHE/podinfo-$PODINFO_VERSION
VEGETA_DIR=$CACHE/vegeta-$VEGETA_VERSION

# name:git-blob of the Gloo CRDs the tests rely on (solo-io/gloo v1.22.1).
GLOO_CRD_BLOBS=(
  gateway.solo.io_v1_RouteTable.yaml:5099e7fa7c6e4360dd3cf86be8b7533061f3f6c7
  gateway.solo.io_v1_VirtualService.yaml:25d72d2a9cfe26e3562fddbe4dea25be3397cf4e
  gloo.solo.io_v1_Upstream.yaml:4e37583432c4c4845705b86b5b5a180d1fd2a664
  gloo.solo.io_v1_UpstreamGroup.yaml:547b1ad2baa60da6dda836ccc289e71d6178a455
)

log() { printf '[build-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# All go commands run module-aware, outside any workspace, without cgo, and may
# add requirements to the throwaway wrapper go.mod files.
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 GO111MODULE=on

# mod_field MOD@VER FIELD: download a module (zip when FIELD=Dir) and print a field.
mod_field() {
  local json
  json=$("$GO" mod download -json "$1") || die "go mod download $1 failed: $json"
  printf '%s\n' "$json" | sed -n "s/^\t\"$2\": \"\(.*\)\",\{0,1\}$/\1/p" | head -n1
}

# The etcd version is derived from k8s.io/kubernetes's go.mod once, then
# remembered in the cache so warm runs need no network.
etcd_version() {
  local rec=$K8S_DIR/etcd-version gomod ver
  if [[ -s $rec ]]; then cat "$rec"; return; fi
  gomod=$("$GO" list -m -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
  [[ -f $gomod ]] || die "cannot fetch go.mod of k8s.io/kubernetes@$K8S_VERSION"
  ver=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$gomod")
  [[ $ver == v3.* ]] || die "no go.etcd.io/etcd/server/v3 requirement in $gomod"
  mkdir -p "$K8S_DIR" && printf '%s\n' "$ver" >"$rec.tmp.$$" && mv -f "$rec.tmp.$$" "$rec"
  echo "$ver"
}

print_paths() {
  local ev
  ev=$(etcd_version)
  cat <<EOF
CACHE=$CACHE
K8S_VERSION=$K8S_VERSION
ETCD_VERSION=$ev
HELM_VERSION=$HELM_VERSION
GLOO_VERSION=$GLOO_VERSION
KUBE_APISERVER=$K8S_DIR/bin/kube-apiserver
KUBECTL=$K8S_DIR/bin/kubectl
KUBE_CONTROLLER_MANAGER=$K8S_DIR/bin/kube-controller-manager
ETCD=$CACHE/etcd-$ev/bin/etcd
HELM=$HELM_DIR/bin/helm
HELM4_VERSION=$HELM4_VERSION
HELM4=$HELM4_DIR/bin/helm
GLOO_CRDS=$GLOO_DIR/crds
GLOO=$GLOO_DIR/bin/gloo
KREW_VERSION=$KREW_VERSION
KREW=$KREW_DIR/bin/krew
VALIDATE_KREW_MANIFEST=$KREW_DIR/bin/validate-krew-manifest
PODINFO_VERSION=$PODINFO_VERSION
PODINFO_APP_VERSION=$PODINFO_APP_VERSION
PODINFO=$PODINFO_DIR/bin/podinfo
PODCLI=$PODINFO_DIR/bin/podcli
PODINFO_UI=$PODINFO_DIR/ui
VEGETA_VERSION=$VEGETA_VERSION
VEGETA=$VEGETA_DIR/bin/vegeta
EOF
}

# The go directive and godebug settings of the wrapped module's go.mod, so the
# wrapper (the main module) gets the same language version and GODEBUG defaults.
gomod_header() {
  awk '/^go / { print } /^godebug \(/ { b = 1 } b || /^godebug [^(]/ { print } b && /^\)/ { b = 0 }' "$1"
}

# new_wrapper DEP_GOMOD MODULE VERSION: a temp module that requires MODULE@VERSION.
new_wrapper() {
  local dir=$WORK/$(basename "$2")-wrapper
  mkdir -p "$dir"
  { echo "module kubectl-canary.local/tools"; gomod_header "$1"; echo "require $2 $3"; } >"$dir/go.mod"
  echo "$dir"
}

# bin_name PKG: the file go build names a main package (x/server/v3 -> server).
bin_name() {
  local base=${1##*/}
  if [[ $base =~ ^v[0-9]+$ ]]; then base=${1%/*}; base=${base##*/}; fi
  echo "$base"
}

# go_build DIR OUTDIR LDFLAGS PKG...: build the main packages into a temp dir on
# the cache's file system, then rename, so a killed build leaves no half binary.
go_build() {
  local dir=$1 out=$2 ldflags=$3 tmp pkg
  shift 3
  mkdir -p "$out"
  tmp=$(mktemp -d "$out/.build.XXXXXX")
  (cd "$dir" && "$GO" build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/" "$@") || { rm -rf "$tmp"; die "go build $* failed"; }
  for pkg in "$@"; do mv -f "$tmp/$(bin_name "$pkg")" "$out/"; done
  rm -rf "$tmp"
}

build_k8s() {
  local gomod info date dir mod ld minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  log "k8s.io/kubernetes $K8S_VERSION: downloading module"
  gomod=$(mod_field "k8s.io/kubernetes@$K8S_VERSION" GoMod)
  info=$(mod_field "k8s.io/kubernetes@$K8S_VERSION" Info)
  date=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info")
  dir=$(new_wrapper "$gomod" k8s.io/kubernetes "$K8S_VERSION")
  # Every staging module (replace k8s.io/x => ./staging/src/k8s.io/x) becomes
  # its published v0.<minor>.<patch> release.
  { echo "replace ("
    awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print "\t" $1 " => " $1 " v0." substr(v, 4) }' v="$K8S_VERSION" "$gomod"
    echo ")"; } >>"$dir/go.mod"
  log "k8s.io/kubernetes $K8S_VERSION: $(grep -c ' => ' "$dir/go.mod") staging modules replaced"
  ld=""
  for mod in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $mod.gitVersion=$K8S_VERSION -X $mod.gitMajor=1 -X $mod.gitMinor=$minor"
    ld+=" -X $mod.gitTreeState=clean -X $mod.buildDate=$date"
  done
  log "building kube-apiserver, kube-controller-manager and kubectl (a cold build takes several minutes)"
  go_build "$dir" "$K8S_DIR/bin" "$ld" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kube-controller-manager
}

build_etcd() {
  local ver=$1 gomod dir
  log "etcd $ver (pinned by k8s.io/kubernetes $K8S_VERSION): downloading module"
  gomod=$(mod_field "go.etcd.io/etcd/server/v3@$ver" GoMod)
  # server/v3's own replaces point at sibling dirs (../api...), which only work
  # in etcd's repo; the wrapper uses the published siblings at the same version.
  dir=$(new_wrapper "$gomod" go.etcd.io/etcd/server/v3 "$ver")
  log "building etcd $ver"
  # The main package is go.etcd.io/etcd/server/v3 itself, which go build names
  # "server"; build it aside, then rename the finished binary to etcd.
  # Its version string is a constant in go.etcd.io/etcd/api/v3/version, so it
  # needs no ldflags.
  go_build "$dir" "$WORK/etcd-bin" "" go.etcd.io/etcd/server/v3
  mkdir -p "$CACHE/etcd-$ver/bin"
  install -m 0755 "$WORK/etcd-bin/server" "$CACHE/etcd-$ver/bin/.etcd.tmp.$$"
  mv -f "$CACHE/etcd-$ver/bin/.etcd.tmp.$$" "$CACHE/etcd-$ver/bin/etcd"
}

build_helm() {
  local gomod dir kminor ld
  log "helm $HELM_VERSION: downloading module"
  gomod=$(mod_field "helm.sh/helm/v3@$HELM_VERSION" GoMod)
  dir=$(new_wrapper "$gomod" helm.sh/helm/v3 "$HELM_VERSION")
  # Like helm's Makefile: the k8s version helm assumes follows its client-go.
  kminor=$(awk '$1 == "k8s.io/client-go" { split($2, p, "."); print p[2]; exit }' "$gomod")
  ld="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for mod in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ld+=" -X $mod.k8sVersionMajor=1 -X $mod.k8sVersionMinor=$kminor"
  done
  log "building helm $HELM_VERSION"
  go_build "$dir" "$HELM_DIR/bin" "$ld" helm.sh/helm/v3/cmd/helm
}

build_helm4() {
  local gomod dir
  log "helm $HELM4_VERSION: downloading module"
  gomod=$(mod_field "helm.sh/helm/v4@$HELM4_VERSION" GoMod)
  dir=$(new_wrapper "$gomod" helm.sh/helm/v4 "$HELM4_VERSION")
  log "building helm $HELM4_VERSION"
  go_build "$dir" "$HELM4_DIR/bin" \
    "-X helm.sh/helm/v4/internal/version.version=$HELM4_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
    helm.sh/helm/v4/cmd/helm
}

build_gloo() {
  local gomod dir
  log "gloo $GLOO_VERSION: downloading module"
  gomod=$(mod_field "github.com/solo-io/gloo@$GLOO_VERSION" GoMod)
  dir=$(new_wrapper "$gomod" github.com/solo-io/gloo "$GLOO_VERSION")
  # replace and exclude only act in the main module, and gloo needs its own (pinned
  # go-control-plane, k8s libraries, forks): copy both blocks from its go.mod verbatim.
  awk '/^(replace|exclude) \($/ { b = 1 } b { print } b && /^\)/ { b = 0 }' "$gomod" >>"$dir/go.mod"
  log "gloo $GLOO_VERSION: $(grep -c ' => ' "$dir/go.mod") replaces copied; building (a cold build takes several minutes)"
  go_build "$dir" "$GLOO_DIR/bin" "-X github.com/solo-io/gloo/pkg/version.Version=${GLOO_VERSION#v}" \
    github.com/solo-io/gloo/projects/gloo/cmd
  mv -f "$GLOO_DIR/bin/cmd" "$GLOO_DIR/bin/gloo"
}

# go_install OUTDIR ARGS...: `go install ARGS` into a temp dir on the cache's file system, then every binary
# moved into OUTDIR, so a killed build leaves no half binary. `go install mod@version` builds in module mode
# with the module's own go.mod (and its replaces).
go_install() {
  local out=$1 tmp
  shift
  mkdir -p "$out"
  tmp=$(mktemp -d "$out/.build.XXXXXX")
  GOFLAGS=-buildvcs=false GOBIN=$tmp "$GO" install "$@" || { rm -rf "$tmp"; die "go install $* failed"; }
  mv -f "$tmp"/* "$out/"
  rm -rf "$tmp"
}

build_krew() {
  log "krew $KREW_VERSION: building krew and validate-krew-manifest (sigs.k8s.io/krew)"
  go_install "$KREW_DIR/bin" "sigs.k8s.io/krew/cmd/krew@$KREW_VERSION" \
    "sigs.k8s.io/krew/cmd/validate-krew-manifest@$KREW_VERSION"
}

build_podinfo() {
  log "podinfo $PODINFO_APP_VERSION ($PODINFO_VERSION): building podinfo and podcli"
  local tmp src
  mkdir -p "$PODINFO_DIR"
  tmp=$(mktemp -d "$PODINFO_DIR/.build.XXXXXX")
  go_install "$tmp/bin" -trimpath \
    -ldflags "-s -w -X github.com/stefanprodan/podinfo/pkg/version.REVISION=${PODINFO_VERSION##*-}" \
    "github.com/stefanprodan/podinfo/cmd/podinfo@$PODINFO_VERSION" \
    "github.com/stefanprodan/podinfo/cmd/podcli@$PODINFO_VERSION"
  # The image's WORKDIR holds ./ui next to ./podinfo (its HTML page for browsers); copy it from the module.
  src=$(mod_field "github.com/stefanprodan/podinfo@$PODINFO_VERSION" Dir)
  [[ -f $src/ui/vue.html ]] || { rm -rf "$tmp"; die "no ui/vue.html in $src"; }
  cp -R "$src/ui" "$tmp/ui" && chmod -R u+w "$tmp/ui"
  [[ $("$tmp/bin/podinfo" --version) == "$PODINFO_APP_VERSION" ]] || { rm -rf "$tmp"; die "built podinfo is not $PODINFO_APP_VERSION"; }
  rm -rf "$PODINFO_DIR/bin" "$PODINFO_DIR/ui"
  mv "$tmp/ui" "$PODINFO_DIR/ui" && mv "$tmp/bin" "$PODINFO_DIR/bin"
  rm -rf "$tmp"
}

build_vegeta() {
  log "vegeta $VEGETA_VERSION: building (github.com/tsenart/vegeta/v12)"
  go_install "$VEGETA_DIR/bin" "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"
}

# check_blobs DIR: every CRD the tests rely on is in DIR with the expected git blob hash.
check_blobs() {
  local entry name want got
  for entry in "${GLOO_CRD_BLOBS[@]}"; do
    name=${entry%%:*} want=${entry#*:}
    [[ -f $1/$name ]] || { log "missing $1/$name"; return 1; }
    got=$(git hash-object "$1/$name")
    [[ $got == "$want" ]] || { log "$1/$name: git blob $got, expected $want"; return 1; }
  done
}

fetch_gloo_crds() {
  local dir src tmp
  log "Gloo CRDs $GLOO_VERSION: downloading github.com/solo-io/gloo"
  mkdir -p "$GLOO_DIR"
  tmp=$(mktemp -d "$GLOO_DIR/.crds.XXXXXX")
  dir=$(mod_field "github.com/solo-io/gloo@$GLOO_VERSION" Dir) ||
    { rm -rf "$tmp"; die "cannot download github.com/solo-io/gloo@$GLOO_VERSION for its CRDs (is the Go module proxy reachable? GOPROXY=$("$GO" env GOPROXY))"; }
  src=$dir/install/helm/gloo/crds
  [[ -d $src ]] || { rm -rf "$tmp"; die "github.com/solo-io/gloo@$GLOO_VERSION has no install/helm/gloo/crds"; }
  check_blobs "$src" || { rm -rf "$tmp"; die "Gloo CRDs in $src do not match the expected git blobs"; }
  # Module cache files are read-only; the cache copy should be ordinary files.
  install -m 0644 "$src"/*.yaml "$tmp/"
  rm -rf "$GLOO_DIR/crds" && mv "$tmp" "$GLOO_DIR/crds"
  log "Gloo CRDs: $(ls "$GLOO_DIR/crds" | wc -l) files from $src"
}

main() {
  if [[ ${1:-} == --print-paths ]]; then print_paths; return; fi
  [[ $# -eq 0 ]] || die "usage: $0 [--print-paths]"
  local ev start=$SECONDS
  mkdir -p "$CACHE"
  # One builder at a time (e.g. two pytest runs); the loser reuses the result.
  exec 9>"$CACHE/.lock"
  flock 9
  ev=$(etcd_version)
  if [[ -x $K8S_DIR/bin/kube-apiserver && -x $K8S_DIR/bin/kubectl && -x $K8S_DIR/bin/kube-controller-manager && -x $CACHE/etcd-$ev/bin/etcd &&
        -x $HELM_DIR/bin/helm && -x $HELM4_DIR/bin/helm && -f $GLOO_DIR/crds/gateway.solo.io_v1_RouteTable.yaml &&
        -x $GLOO_DIR/bin/gloo && -x $KREW_DIR/bin/krew && -x $KREW_DIR/bin/validate-krew-manifest && -x $PODINFO_DIR/bin/podinfo &&
        -x $PODINFO_DIR/bin/podcli && -f $PODINFO_DIR/ui/vue.html && -x $VEGETA_DIR/bin/vegeta ]]; then
    log "all tools present in $CACHE"
    return
  fi
  command -v "$GO" >/dev/null || die "go not found (set GO=/path/to/go)"
  # Leftovers of a killed build (we hold the lock, so no build is running).
  find "$CACHE" -maxdepth 3 \( -name '.build.*' -o -name '.crds.*' -o -name '.etcd.tmp.*' \) -exec rm -rf {} +
  log "building missing tools into $CACHE with $("$GO" version)"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/kubectl-canary-build.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  [[ -f $GLOO_DIR/crds/gateway.solo.io_v1_RouteTable.yaml ]] || fetch_gloo_crds
  [[ -x $CACHE/etcd-$ev/bin/etcd ]] || build_etcd "$ev"
  [[ -x $HELM_DIR/bin/helm ]] || build_helm
  [[ -x $HELM4_DIR/bin/helm ]] || build_helm4
  [[ -x $K8S_DIR/bin/kube-apiserver && -x $K8S_DIR/bin/kubectl && -x $K8S_DIR/bin/kube-controller-manager ]] || build_k8s
  [[ -x $GLOO_DIR/bin/gloo ]] || build_gloo
  [[ -x $KREW_DIR/bin/krew && -x $KREW_DIR/bin/validate-krew-manifest ]] || build_krew
  [[ -x $PODINFO_DIR/bin/podinfo && -x $PODINFO_DIR/bin/podcli && -f $PODINFO_DIR/ui/vue.html ]] || build_podinfo
  [[ -x $VEGETA_DIR/bin/vegeta ]] || build_vegeta
  log "done in $((SECONDS - start))s"
}

main "$@"
