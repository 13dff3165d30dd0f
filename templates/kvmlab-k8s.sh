#!/bin/sh
{{! Kubernetes packages and the kubeadm bootstrap of a node with a role: installed as
    /usr/local/sbin/kvmlab-k8s (0700: it holds the token), run last in runcmd. Values arrive
    shell-quoted (*_sh). }}
# kvmlab-k8s: install kubelet, kubeadm and kubectl, then init or join the cluster. Written by
# kvmlab. Results (one line each) go to /var/lib/kvmlab/{packages,bootstrap}, copied to
# /run/kvmlab/, where kvmlab-report reads them; details to /var/log/kvmlab-k8s.log.
set -u
NODE={{node_sh}}
ROLE={{role}}
VERSION={{version_sh}}
# kubelet=$PIN and so on: "1.31.*" for a minor version, "1.31.2-*" for a patch release
PIN={{pin_sh}}
REPOSITORY={{repository_sh}}
# empty: the repository is trusted without a key
REPOSITORY_KEY={{repository_key_sh}}
INSTALL_PACKAGES={{install_packages}}
BOOTSTRAP={{#bootstrap}}1{{/bootstrap}}{{^bootstrap}}0{{/bootstrap}}
TOKEN={{token_sh}}
CA_HASH={{ca_hash_sh}}
CONTROL_PLANE_IP={{control_plane_ip}}
POD_SUBNET={{pod_subnet_sh}}
SERVICE_SUBNET={{service_subnet_sh}}
CRI_SOCKET=unix:///run/containerd/containerd.sock
STATE=/var/lib/kvmlab
LOG=/var/log/kvmlab-k8s.log

mkdir -p "$STATE" /run/kvmlab
export DEBIAN_FRONTEND=noninteractive

# result NAME LINE: what kvmlab-report tells
result() {
    printf '%s\n' "$2" >"$STATE/$1"
    cp "$STATE/$1" "/run/kvmlab/$1"
    echo "kvmlab-k8s: $1: $2"
}

# 0: installed or skipped; 1: the lab asked for packages and there are none
packages() {
    if [ "$INSTALL_PACKAGES" = false ]; then
        result packages skipped
        return 0
    fi
    mkdir -p /etc/apt/keyrings
    if [ -n "$REPOSITORY_KEY" ]; then
        if ! /usr/lib/apt/apt-helper download-file "$REPOSITORY_KEY" \
                /etc/apt/keyrings/kubernetes.asc >>"$LOG" 2>&1; then
            unreachable "cannot download $REPOSITORY_KEY"
            return
        fi
        opt="signed-by=/etc/apt/keyrings/kubernetes.asc"
    else
        opt="trusted=yes"
    fi
    printf 'deb [%s] %s /\n' "$opt" "$REPOSITORY" >/etc/apt/sources.list.d/kubernetes.list
    apt-get update >>"$LOG" 2>&1
    # apt-get update succeeds even when a source is unreachable: ask for the version instead
    if ! apt-cache madison kubeadm 2>>"$LOG" | grep -q " $VERSION[.-]"; then
        unreachable "no kubeadm $VERSION from $REPOSITORY"
        return
    fi
    if ! apt-get install -y "kubelet=$PIN" "kubeadm=$PIN" "kubectl=$PIN" >>"$LOG" 2>&1; then
        result packages "failed apt-get install kubelet kubeadm kubectl $PIN (see $LOG)"
        return 1
    fi
    apt-mark hold kubelet kubeadm kubectl >>"$LOG" 2>&1
    result packages "installed $(dpkg-query -W -f '${Package}=${Version} ' kubelet kubeadm kubectl |
        sed 's/ $//')"
    return 0
}

# auto: a warning, and the image may still carry kubeadm; true: a failure
unreachable() {
    result packages "unreachable $1"
    [ "$INSTALL_PACKAGES" = auto ]
}

bootstrap() {
    if ! command -v kubeadm >/dev/null 2>&1; then
        result bootstrap "kubeadm is not installed"
        return 1
    fi
    set -- --node-name "$NODE" --cri-socket "$CRI_SOCKET"
    if [ "$ROLE" = control-plane ]; then
        if [ -e /etc/kubernetes/admin.conf ]; then
            result bootstrap ok
            return 0
        fi
        set -- "$@" --token "$TOKEN" --token-ttl 0 \
            --apiserver-advertise-address "$CONTROL_PLANE_IP" \
            --control-plane-endpoint "$CONTROL_PLANE_IP:6443"
        [ -z "$POD_SUBNET" ] || set -- "$@" --pod-network-cidr "$POD_SUBNET"
        [ -z "$SERVICE_SUBNET" ] || set -- "$@" --service-cidr "$SERVICE_SUBNET"
        if out=$(kubeadm init "$@" 2>&1); then
            printf '%s\n' "$out" >>"$LOG"
            result bootstrap ok
            return 0
        fi
        printf '%s\n' "$out" >>"$LOG"
        why=$(printf '%s\n' "$out" | grep -i -m1 'error' | cut -c1-200)
        result bootstrap "kubeadm init failed: ${why:-see $LOG}"
        return 1
    fi
    if [ -e /etc/kubernetes/kubelet.conf ]; then
        result bootstrap ok
        return 0
    fi
    # the control plane may still be coming up: every 10 s, for 10 minutes
    i=0
    while [ "$i" -lt 60 ]; do
        if kubeadm join "$CONTROL_PLANE_IP:6443" --token "$TOKEN" \
                --discovery-token-ca-cert-hash "$CA_HASH" "$@" >>"$LOG" 2>&1; then
            result bootstrap ok
            return 0
        fi
        # a join that got half way leaves files the next attempt trips over
        kubeadm reset -f --cri-socket "$CRI_SOCKET" >>"$LOG" 2>&1
        i=$((i + 1))
        sleep 10
    done
    result bootstrap "kubeadm join $CONTROL_PLANE_IP:6443 failed 60 times (see $LOG)"
    return 1
}

rc=0
packages || rc=1
if [ "$BOOTSTRAP" = 1 ]; then
    bootstrap || rc=1
fi
exit "$rc"
