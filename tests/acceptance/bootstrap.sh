#!/bin/sh
# Acceptance: kubernetes.bootstrap for real, offline. Stub kubelet, kubeadm and kubectl packages
# (dpkg-deb, pkgs.k8s.io's version shape, 1.31.3, 1.31.4 and 1.32.0) in a flat apt repository
# (apt-ftparchive) served by busybox httpd from a namespace of this test, joined by a veth to
# the lab's sandbox namespace: the guests reach it through the lab's NAT. A two-node lab
# (control plane and worker, TCG) comes up with install_packages: true and bootstrap: true.
# Then, from inside the guests: the newest 1.31 packages are installed and held though 1.32 is
# the candidate; the stub kubeadm recorded `init` with the host's token and the host's CA on
# the control plane (ca.key 0600), and `join` with the token and the CA hash openssl computes
# from secrets/ca.crt on the worker (which has no ca.key); kubelet is active; status shows the
# packages and bootstrap checks ok; the token is in no output of plan, up or status. `down`
# leaves no namespace, state or process. Root only. TAP output.
#   bootstrap.sh KVMLAB_BINARY
set -u
K=$(realpath "$1")
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
# the image store is shared with the other acceptance tests of this build: one image per run
export KVMLAB_STATE_DIR=${KVMLAB_STATE_DIR:-${KVMLAB_BUILD_ROOT:?}/test-state}
export KVMLAB_NETNS_PREFIX=${KVMLAB_NETNS_PREFIX:-kvt-}
SRC=${KVMLAB_SOURCE_ROOT:?}
T=$(mktemp -d)
LAB=bs$(($$ % 100000))
NS=${KVMLAB_NETNS_PREFIX}$LAB
REPONS=${KVMLAB_NETNS_PREFIX}repo-$$
# the repository's side of the veth and the lab's sandbox side
REPO_IP=10.213.77.2
SB_IP=10.213.77.1
PORT=8213
URL=http://$REPO_IP:$PORT/
UPPID=""
HTTPD=""
cleanup() {
  [ -n "$UPPID" ] && kill -9 "$UPPID" 2>/dev/null
  "$K" -q down --lab "$LAB" >/dev/null 2>&1
  [ -n "$HTTPD" ] && kill "$HTTPD" 2>/dev/null
  ip netns del "$REPONS" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
n=0; bad=0
. "$SRC/tests/lib/tap.sh"
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); bad=$((bad + 1)); echo "not ok $n - $1"; }
is() { # DESC GOT WANT
  if [ "$2" = "$3" ]; then ok "$1"; else notok "$1 (got '$2', wanted '$3')"; fi
}
# `kvmlab ssh NODE -- CMD...` output, trimmed
on() { node=$1; shift; "$K" ssh -f "$T/lab.yaml" "$node" -- "$@" 2>"$T/ssh.err" | tr -d '\r'; }
# one value of status --json, with python3 (a JSON parser independent of kvmlab)
js() { python3 -c "import json,sys; d=json.load(open('$T/status.json')); print($1)"; }
# the argument after KEY in an argv file (one argument per line)
after() { awk -v k="$1" 'p { print; exit } $0 == k { p = 1 }' "$2"; }

echo "TAP version 13"
t00=$(date +%s)
for tool in dpkg-deb:dpkg apt-ftparchive:apt-utils busybox:busybox openssl:openssl python3:python3; do
  command -v "${tool%%:*}" >/dev/null || notok "${tool%%:*} is installed (package ${tool#*:})"
done

# --- the stub packages -----------------------------------------------------------------------
# mkdeb NAME VERSION (UPSTREAM is the version before the Debian revision, as kubeadm reports it)
mkdeb() {
  name=$1 version=$2 upstream=${2%-*}
  d=$T/pkg/$name-$version
  mkdir -p "$d/DEBIAN" "$d/usr/bin"
  cat > "$d/DEBIAN/control" <<EOF
Package: $name
Version: $version
Architecture: amd64
Maintainer: kvmlab tests <kvmlab@example.invalid>
Section: admin
Priority: optional
Description: kvmlab acceptance stub of $name $upstream
EOF
  case $name in
  kubelet)
    # as the real package: a unit that is enabled on install; kubeadm starts it (kubelet-start)
    mkdir -p "$d/lib/systemd/system"
    cat > "$d/lib/systemd/system/kubelet.service" <<'EOF'
[Unit]
Description=kvmlab stub kubelet
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/bin/sh -c 'while :; do sleep 3600; done'
Restart=always

[Install]
WantedBy=multi-user.target
EOF
    cat > "$d/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable kubelet.service
fi
EOF
    chmod 0755 "$d/DEBIAN/postinst"
    printf '#!/bin/sh\necho "Kubernetes v%s"\n' "$upstream" > "$d/usr/bin/kubelet"
    ;;
  kubeadm)
    cat > "$d/usr/bin/kubeadm" <<EOF
#!/bin/sh
# kvmlab stub kubeadm $upstream: records its argv, one argument per line, --- between calls
log=/var/log/kvmlab-stub-kubeadm.args
{ if [ -s "\$log" ]; then echo ---; fi; for a in "\$@"; do printf '%s\n' "\$a"; done; } >>"\$log"
case \${1:-} in
init)
    mkdir -p /etc/kubernetes
    echo "# kvmlab stub admin.conf" >/etc/kubernetes/admin.conf
    systemctl enable kubelet && systemctl restart kubelet ;;
join)
    mkdir -p /etc/kubernetes
    echo "# kvmlab stub kubelet.conf" >/etc/kubernetes/kubelet.conf
    systemctl enable kubelet && systemctl restart kubelet ;;
reset)
    rm -f /etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf ;;
version)
    echo 'kubeadm version: &version.Info{GitVersion:"v$upstream"}' ;;
esac
exit 0
EOF
    ;;
  kubectl)
    printf '#!/bin/sh\necho "Client Version: v%s"\n' "$upstream" > "$d/usr/bin/kubectl"
    ;;
  esac
  chmod 0755 "$d/usr/bin/$name"
  dpkg-deb --root-owner-group --build "$d" "$T/repo/${name}_${version}_amd64.deb" >/dev/null
}
mkdir -p "$T/repo" "$T/pkg"
built=0
for v in 1.31.3-1.1 1.31.4-1.1 1.32.0-1.1; do
  for p in kubelet kubeadm kubectl; do mkdeb $p $v && built=$((built + 1)); done
done
is "nine stub packages are built" "$built" 9
is "a stub has pkgs.k8s.io's fields" \
  "$(dpkg-deb -f "$T/repo/kubeadm_1.31.4-1.1_amd64.deb" Package Version Architecture | tr '\n' ' ')" \
  "Package: kubeadm Version: 1.31.4-1.1 Architecture: amd64 "
(cd "$T/repo" && apt-ftparchive packages . > Packages && apt-ftparchive release . > "$T/Release" &&
  mv "$T/Release" Release)
is "the flat repository lists them" "$(grep -c '^Package: ' "$T/repo/Packages")" 9
grep_out "its Release has the Packages' sha256" repo/Release "$(sha256sum "$T/repo/Packages" | cut -c1-64)"

# --- the lab -----------------------------------------------------------------------------------
t0=$(date +%s)
check "the debian-12 image is built (or already in the store)" 0 "$K" image build debian-12
echo "# image ready after $(( $(date +%s) - t0 )) s"

cat > "$T/lab.yaml" <<EOL
lab: $LAB
connect: sandbox
accel: tcg
networks:
  vmnet8: {type: nat, subnet: 192.168.213.0/24}
images:
  debian12: {build: debian-12}
nodes:
  - {name: cp, role: control-plane, image: debian12, cpus: 2, memory: 2048, networks: [vmnet8]}
  - {name: worker, role: worker, image: debian12, cpus: 1, memory: 1536, networks: [vmnet8]}
kubernetes:
  version: "1.31"
  repository: "$URL"
  repository_key: none
  bootstrap: true
  install_packages: true
  pod_subnet: 10.244.0.0/16
EOL

# `up` makes the sandbox namespace first; the repository joins it while the nodes boot
t0=$(date +%s)
"$K" up -f "$T/lab.yaml" --timeout 900 >"$T/up.out" 2>"$T/up.err" &
UPPID=$!
SOCK=$KVMLAB_STATE_DIR/sandbox/$LAB/sock/libvirt-sock
i=0
while [ $i -lt 600 ] && ! { ip netns list | awk '{print $1}' | grep -qx "$NS" && [ -S "$SOCK" ]; }; do
  sleep 0.5; i=$((i + 1))
done
is "up made the sandbox namespace and its daemon" "$(ip netns list | awk '{print $1}' | grep -cx "$NS")" 1
ip netns add "$REPONS"
ip -n "$REPONS" link set lo up
# made inside the namespaces: the root namespace never sees the pair
ip -n "$REPONS" link add "vr$$" type veth peer name "vs$$" netns "$NS"
ip -n "$REPONS" addr add "$REPO_IP/30" dev "vr$$"
ip -n "$REPONS" link set "vr$$" up
ip -n "$NS" addr add "$SB_IP/30" dev "vs$$"
ip -n "$NS" link set "vs$$" up
# replies go back to the sandbox's side: masqueraded, the guests' packets come from $SB_IP
ip netns exec "$REPONS" busybox httpd -f -p "$REPO_IP:$PORT" -h "$T/repo" &
HTTPD=$!
sleep 1
is "httpd serves the repository to the sandbox namespace" \
  "$(ip netns exec "$NS" busybox wget -q -O - "${URL}Packages" 2>/dev/null | grep -c '^Package: ')" 9

# the repository's namespace knows only its /30: a guest's packet is answered only when the
# sandbox's masquerade made it come from $SB_IP
is "the repository's namespace has no route to the lab's subnet" \
  "$(ip -n "$REPONS" route get 192.168.213.10 2>&1 | grep -c 'unreachable')" 1
check "up with bootstrap: true exits 0" 0 wait "$UPPID"
UPPID=""
echo "# up (two nodes, packages and bootstrap) in $(( $(date +%s) - t0 )) s"
cp "$T/up.out" "$T/out"; cp "$T/up.err" "$T/err"
grep_out "up says the lab is up" out "is up"

# --- the host's secrets ------------------------------------------------------------------------
SEC=$KVMLAB_STATE_DIR/labs/$LAB/secrets
TOKEN=$(cat "$SEC/token")
HASH=sha256:$(openssl x509 -pubkey -noout -in "$SEC/ca.crt" | openssl pkey -pubin -outform der |
  sha256sum | cut -d' ' -f1)
is "the host's token has kubeadm's shape" \
  "$(printf '%s' "$TOKEN" | grep -cE '^[a-z0-9]{6}\.[a-z0-9]{16}$')" 1
"$K" status --json -f "$T/lab.yaml" >"$T/status.json" 2>"$T/status.err"
CPIP=$(js "[x for x in d['nodes'] if x['name']=='cp'][0]['addresses'][0]")

# --- from inside the guests --------------------------------------------------------------------
for node in cp worker; do
  is "$node: the repository is the source kvmlab-k8s wrote" \
    "$(on $node cat /etc/apt/sources.list.d/kubernetes.list)" "deb [trusted=yes] $URL /"
  is "$node: kubeadm, kubectl and kubelet are held, nothing else" \
    "$(on $node apt-mark showhold | tr '\n' ' ')" "kubeadm kubectl kubelet "
  is "$node: the newest 1.31 of each is installed" \
    "$(on $node dpkg-query -W -f '${Package}=${Version} ' kubeadm kubectl kubelet)" \
    "kubeadm=1.31.4-1.1 kubectl=1.31.4-1.1 kubelet=1.31.4-1.1 "
  on $node apt-cache policy kubeadm >"$T/policy"
  is "$node: apt's candidate is 1.32 (the repository's newest)" \
    "$(sed -n 's/^ *Candidate: //p' "$T/policy")" 1.32.0-1.1
  is "$node: installed is 1.31.4, pinned by the install" \
    "$(sed -n 's/^ *Installed: //p' "$T/policy")" 1.31.4-1.1
  is "$node: kubectl runs" "$(on $node kubectl version --client)" "Client Version: v1.31.4"
  is "$node: kubelet is active" "$(on $node systemctl is-active kubelet)" active
  is "$node: kubelet is enabled" "$(on $node systemctl is-enabled kubelet)" enabled
  # in dpkg-query's order (by name), whatever templates/README.md says
  is "$node: kvmlab-k8s recorded the packages" \
    "$(on $node cat /var/lib/kvmlab/packages | tr ' ' '\n' | sort | tr '\n' ' ')" \
    "installed kubeadm=1.31.4-1.1 kubectl=1.31.4-1.1 kubelet=1.31.4-1.1 "
  is "$node: and the bootstrap" "$(on $node cat /var/lib/kvmlab/bootstrap)" ok
  on $node sudo cat /var/log/kvmlab-stub-kubeadm.args >"$T/args.$node"
  is "$node: kubeadm ran once" "$(grep -c '^---$' "$T/args.$node")" 0
  is "$node: the token is passed as given" "$(after --token "$T/args.$node")" "$TOKEN"
  is "$node: with the node's name" "$(after --node-name "$T/args.$node")" "$node"
  is "$node: and containerd's socket" "$(after --cri-socket "$T/args.$node")" \
    unix:///run/containerd/containerd.sock
done

is "cp: kubeadm init" "$(head -1 "$T/args.cp")" init
is "cp: the token never expires" "$(after --token-ttl "$T/args.cp")" 0
is "cp: advertises its address" "$(after --apiserver-advertise-address "$T/args.cp")" "$CPIP"
is "cp: the endpoint is its address" "$(after --control-plane-endpoint "$T/args.cp")" "$CPIP:6443"
is "cp: the lab's pod subnet" "$(after --pod-network-cidr "$T/args.cp")" 10.244.0.0/16
no_grep_out "cp: no service subnet when the lab has none" args.cp "^--service-cidr$"
is "cp: admin.conf was written (kubeadm init ran)" \
  "$(on cp sudo sh -c 'test -s /etc/kubernetes/admin.conf && echo yes')" yes
is "cp: its ca.crt is the host's" \
  "$(on cp sudo sha256sum /etc/kubernetes/pki/ca.crt | cut -d' ' -f1)" \
  "$(sha256sum "$SEC/ca.crt" | cut -d' ' -f1)"
is "cp: its ca.key is the host's" \
  "$(on cp sudo sha256sum /etc/kubernetes/pki/ca.key | cut -d' ' -f1)" \
  "$(sha256sum "$SEC/ca.key" | cut -d' ' -f1)"
is "cp: ca.key is 0600 root" "$(on cp sudo stat -c '%a %U' /etc/kubernetes/pki/ca.key)" "600 root"

is "worker: kubeadm join" "$(head -1 "$T/args.worker")" join
is "worker: the control plane's endpoint" "$(sed -n 2p "$T/args.worker")" "$CPIP:6443"
is "worker: the CA hash openssl computes from the host's ca.crt" \
  "$(after --discovery-token-ca-cert-hash "$T/args.worker")" "$HASH"
is "worker: has no ca.key" \
  "$(on worker sudo sh -c 'test -e /etc/kubernetes/pki/ca.key && echo yes || echo no')" no
is "worker: kubelet.conf was written (kubeadm join ran)" \
  "$(on worker sudo sh -c 'test -s /etc/kubernetes/kubelet.conf && echo yes')" yes
is "worker: kvmlab-k8s, which holds the token, is root-only" \
  "$(on worker sudo stat -c %a /usr/local/sbin/kvmlab-k8s)" 700

# --- status and the token in what kvmlab prints ------------------------------------------------
is "status: both nodes ready, cloud-init done" \
  "$(js "','.join(x['cloud_init'] for x in d['nodes'])")" "done,done"
is "status: bootstrap ok on both" \
  "$(js "[(x['name'], c['ok'], c['warn']) for x in d['nodes'] for c in x['preflight'] if c['check']=='bootstrap']")" \
  "[('cp', True, False), ('worker', True, False)]"
is "status: packages ok, not a warning, on both" \
  "$(js "[(x['name'], c['ok'], c['warn']) for x in d['nodes'] for c in x['preflight'] if c['check']=='packages']")" \
  "[('cp', True, False), ('worker', True, False)]"
is "status: every preflight check passed" \
  "$(js "[c['check'] for x in d['nodes'] for c in x['preflight'] if not c['ok'] or c['warn']]")" "[]"
"$K" status -f "$T/lab.yaml" >"$T/status.txt" 2>&1
"$K" plan -f "$T/lab.yaml" >"$T/plan.txt" 2>&1
"$K" plan --json -f "$T/lab.yaml" >"$T/plan.json" 2>&1
"$K" up -f "$T/lab.yaml" >"$T/up2.out" 2>&1
for f in up.out up.err up2.out status.json status.err status.txt plan.txt plan.json; do
  is "the token is not in the output of $f" "$(grep -cF "$TOKEN" "$T/$f")" 0
done
grep_out "a second up changes nothing" up2.out "nothing changed"

# --- down leaves nothing -----------------------------------------------------------------------
check "down" 0 "$K" down -f "$T/lab.yaml"
is "the lab's namespace is gone" "$(ip netns list | awk '{print $1}' | grep -cx "$NS")" 0
is "and with it the repository's veth" "$(ip -n "$REPONS" -o link show | grep -c "vr$$")" 0
is "no QEMU of the lab is left" "$(pgrep -f "guest=$LAB-" | wc -l)" 0
is "no state of the lab is left" "$(ls -A "$KVMLAB_STATE_DIR/labs/$LAB" 2>/dev/null | wc -l)" 0
kill "$HTTPD"
wait "$HTTPD" 2>/dev/null
is "the repository's httpd is gone" "$(kill -0 "$HTTPD" 2>/dev/null && echo running)" ""
HTTPD=""
ip netns del "$REPONS"
is "the repository's namespace is gone" "$(ip netns list | awk '{print $1}' | grep -cx "$REPONS")" 0
echo "# whole test: $(( $(date +%s) - t00 )) s"

echo "1..$n"
[ "$bad" = 0 ]
