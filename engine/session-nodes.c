/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A session's nodes: what planning needs to know about them (the hypervisor's answers, kvm,
 * the lab's secrets), the wait for readiness after `up`, and their directories in the state. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/nodedomain.h"
#include "kvmlab/session.h"
#include "kvmlab/storage.h"
#include "kvmlab/virt.h"
#include "kvmlab/vmnet.h"

static char *secrets_dir(const LabSession *s)
{
    char *p = NULL;
    return asprintf(&p, "%s/labs/%s/secrets", s->state_root, s->lab->name) < 0 ? NULL : p;
}

/* Where this host remembers that kvm accepts guests but never runs them: per kernel and QEMU. */
static char *kvm_silent_file(const LabSession *s)
{
    struct utsname u;
    struct stat st;
    char *p = NULL;
    if (uname(&u) < 0)
        return NULL;
    long long qemu = stat("/usr/bin/qemu-system-x86_64", &st) == 0 ? (long long)st.st_mtime : 0;
    if (asprintf(&p, "%s/cache/kvm-silent-%s-%llx", s->state_root, u.release, qemu) < 0)
        return NULL;
    return p;
}

int lab_session_observe_nodes(LabSession *s, HostState *h, bool make_secrets, Error *err)
{
    const Lab *lab = s->lab;
    if (!lab->n_nodes)
        return 0;
    /* the files the disks take their content from and the ISOs: a missing one stops the plan
     * at its line before anything changes */
    int r = storage_disk_sources_read(lab, &h->disk_sources, &h->n_disk_sources, err);
    if (r < 0)
        return r;
    /* the hypervisor's answer for every machine type the nodes use */
    char **machines = calloc(lab->n_nodes + 1, sizeof(*machines));
    size_t nm = 0;
    if (!machines)
        return error_set(err, -ENOMEM, "Out of memory");
    for (size_t i = 0; i < lab->n_nodes; i++) {
        NodeDisks nd = {0};
        Error ignore = ERROR_INIT;
        if (storage_node_disks(lab, &lab->nodes[i], NULL, 0, &nd, &ignore) >= 0)
            machines[nm++] = steal_pointer(&nd.machine.machine);
        node_disks_clear(&nd);
        error_clear(&ignore);
    }
    bool known = false;
    Error ignore = ERROR_INIT;
    if (nm && lab_session_caps(s, machines, nm, &h->caps, &h->n_caps, &known, &ignore) < 0) {
        h->caps = NULL;
        h->n_caps = 0;
    }
    error_clear(&ignore);
    for (size_t i = 0; i < nm; i++)
        free(machines[i]);
    free(machines);

    /* kvm: offered when the daemon answers for it */
    if (s->conn) {
        char *caps = virConnectGetDomainCapabilities(s->conn, NULL, "x86_64", NULL, "kvm", 0);
        h->kvm = caps != NULL;
        free(caps);
        virResetLastError();
    } else {
        h->kvm = access("/dev/kvm", R_OK | W_OK) == 0;
    }
    _cleanup_free_ char *silent = kvm_silent_file(s);
    if (silent && fs_read_all(silent, &h->kvm_silent, NULL, NULL) < 0)
        h->kvm_silent = NULL;

    /* the lab's secrets: made by `up` (before anything else of the lab exists), only read by
     * `plan` */
    _cleanup_free_ char *dir = secrets_dir(s);
    if (!dir)
        return error_set(err, -ENOMEM, "Out of memory");
    _cleanup_free_ char *pub = fs_path_join(dir, "id_ed25519.pub");
    _cleanup_free_ char *ca = fs_path_join(dir, "ca.crt");
    bool have = pub && access(pub, R_OK) == 0 &&
                (!lab->kubernetes.bootstrap || (ca && access(ca, R_OK) == 0));
    if (make_secrets || have) {
        /* made by this run: a failed run takes them away again */
        s->secrets_made = make_secrets && access(dir, F_OK) < 0;
        h->secrets = calloc(1, sizeof(*h->secrets));
        if (!h->secrets)
            return error_set(err, -ENOMEM, "Out of memory");
        _cleanup_free_ char *labdir = NULL;
        if (asprintf(&labdir, "%s/labs/%s", s->state_root, lab->name) < 0)
            return error_set(err, -ENOMEM, "Out of memory");
        r = fs_mkdir_p(labdir, 0711, err);
        if (r < 0)
            return r;
        r = lab_secrets_load(dir, lab->kubernetes.bootstrap, h->secrets, err);
        if (r < 0)
            return r;
    }
    return 0;
}

char *lab_session_lease_source(const LabSession *s, const char *key)
{
    char *src = NULL;
    for (size_t i = 0; i < s->lab->n_networks; i++) {
        const LabNetwork *net = &s->lab->networks[i];
        if (strcmp(net->name, key) != 0)
            continue;
        if (net->backend == VMNET_BACKEND_BRIDGE && net->type != VMNET_BRIDGED) {
            if (asprintf(&src, "file:%s/labs/%s/net/%s/leases", s->state_root, s->lab->name, key) <
                0)
                return NULL;
            return src;
        }
        /* a bridged network's leases are the LAN's: the guest agent tells */
        if (net->type == VMNET_BRIDGED)
            return NULL;
    }
    return vmnet_object_name(s->lab->name, key);
}

int lab_session_wait(LabSession *s, const Plan *plan, int timeout_s, LabWaitProgressFn progress,
                     void *userdata, NodeWait **ret, size_t *ret_n, Error *err)
{
    size_t n = 0;
    *ret = NULL;
    *ret_n = 0;
    for (size_t i = 0; i < plan->n_want; i++)
        n += plan->want[i].kind == RESOURCE_DOMAIN && !plan->want[i].passive;
    if (!n)
        return 0;
    if (!s->conn)
        return error_set(err, -ENOTCONN, "Lab '%s' has no host connection", s->lab->name);
    NodeWait *w = calloc(n, sizeof(*w));
    const char ***names = calloc(n, sizeof(*names));
    if (!w || !names) {
        free(w);
        free(names);
        return error_set(err, -ENOMEM, "Out of memory");
    }
    size_t k = 0;
    int r = 0;
    for (size_t i = 0; i < plan->n_want && r >= 0; i++) {
        const Resource *res = &plan->want[i];
        if (res->kind != RESOURCE_DOMAIN || res->passive)
            continue;
        const DomainPlan *d = res->data;
        NodeWait *x = &w[k];
        names[k] = calloc(d->n_nics + 1, sizeof(**names));
        if (!names[k]) {
            r = error_set(err, -ENOMEM, "Out of memory");
            break;
        }
        for (size_t j = 0; j < d->n_nics; j++)
            names[k][j] = lab_session_lease_source(s, d->nics[j].network);
        *x = (NodeWait){
                .node = d->node,
                .domain = res->name,
                .console_log = d->console_log,
                /* only guests known to talk on their console from the first second (cloud-init
                 * images and kvmlab's own) tell a silent kvm apart from a quiet guest */
                .xml_tcg = d->kvm && d->cloud_init ? d->xml_tcg : NULL,
                .insist_kvm = d->insist_kvm,
                .cloud_init = d->cloud_init,
                .bootstrap_expected = s->lab->kubernetes.bootstrap && d->role != LAB_ROLE_NONE,
                .packages_required = s->lab->kubernetes.install_packages == LAB_INSTALL_TRUE,
                .nics = d->nics,
                .n_nics = d->n_nics,
                .net_names = names[k],
        };
        k++;
    }
    if (r >= 0)
        r = node_wait_all(s->conn, w, n, timeout_s, progress, userdata, err);
    /* a fallback seen once is remembered for this host: later nodes start under tcg at once */
    for (size_t i = 0; i < n; i++) {
        /* remembered only once tcg showed the guest itself was fine */
        if (!w[i].fell_back || w[i].phase != NODE_PHASE_READY)
            continue;
        _cleanup_free_ char *file = kvm_silent_file(s);
        _cleanup_free_ char *dir = NULL;
        if (file && asprintf(&dir, "%s/cache", s->state_root) >= 0 &&
            fs_mkdir_p(dir, 0755, NULL) >= 0)
            (void)fs_write_atomic(file,
                                  "kvm accepted a guest here once but never ran it: nodes with "
                                  "accel auto start under tcg",
                                  0644, NULL);
        break;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; names[i] && j < w[i].n_nics; j++)
            free((char *)names[i][j]);
        free(names[i]);
    }
    free(names);
    *ret = w;
    *ret_n = n;
    return r;
}

/* The seed files of node directory @dir that @keep (a path, may be NULL) is not. */
static void prune_seeds(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "seed", 4) != 0 || !strstr(e->d_name, ".iso"))
            continue;
        _cleanup_free_ char *p = fs_path_join(dir, e->d_name);
        if (p && (!keep || strcmp(p, keep) != 0))
            (void)unlink(p);
    }
    closedir(d);
}

void lab_session_prune_nodes(LabSession *s, const Plan *plan)
{
    _cleanup_free_ char *dir = NULL;
    if (asprintf(&dir, "%s/labs/%s/nodes", s->state_root, s->lab->name) < 0)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        _cleanup_free_ char *p = fs_path_join(dir, e->d_name);
        if (!p)
            continue;
        const DomainPlan *want = NULL;
        for (size_t i = 0; plan && i < plan->n_want && !want; i++)
            if (plan->want[i].kind == RESOURCE_DOMAIN && strcmp(plan->want[i].key, e->d_name) == 0)
                want = plan->want[i].data;
        if (want) {
            /* the node as the plan made it: only its current seed stays */
            prune_seeds(p, want->seed_path);
            continue;
        }
        /* a node whose domain still exists (an undone removal) keeps its files */
        _cleanup_free_ char *name = vmnet_object_name(s->lab->name, e->d_name);
        virDomainPtr dom = s->conn && name ? virDomainLookupByName(s->conn, name) : NULL;
        virResetLastError();
        if (dom) {
            virDomainFree(dom);
            continue;
        }
        (void)fs_rm_rf(p, NULL);
    }
    closedir(d);
    (void)rmdir(dir);
}

void lab_session_forget_secrets(LabSession *s)
{
    if (!s->secrets_made)
        return;
    _cleanup_free_ char *dir = secrets_dir(s);
    if (dir)
        (void)fs_rm_rf(dir, NULL);
    s->secrets_made = false;
}

void lab_node_status_clear(LabNodeStatus *n)
{
    if (!n)
        return;
    free(n->domain);
    free(n->state);
    for (size_t i = 0; i < n->n_addresses; i++)
        free(n->addresses[i]);
    free(n->addresses);
    free(n->console_log);
    node_report_clear(&n->report);
    memset(n, 0, sizeof(*n));
}

static int add_address(LabNodeStatus *n, const char *a)
{
    for (size_t i = 0; i < n->n_addresses; i++)
        if (strcmp(n->addresses[i], a) == 0)
            return 0;
    char **v = reallocarray(n->addresses, n->n_addresses + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    n->addresses = v;
    if (!(v[n->n_addresses] = strdup(a)))
        return -ENOMEM;
    n->n_addresses++;
    return 0;
}

int lab_session_node_status(LabSession *s, const LabNode *node, LabNodeStatus *ret, Error *err)
{
    LabNodeStatus n = {0};
    _cleanup_domain_ virDomainPtr dom = NULL;
    _cleanup_free_ char *log = NULL;
    size_t len = 0;
    n.node = node;
    n.domain = vmnet_object_name(s->lab->name, node->name);
    if (!n.domain || asprintf(&n.console_log, "%s/labs/%s/nodes/%s/console.log", s->state_root,
                              s->lab->name, node->name) < 0)
        goto oom;
    dom = s->conn ? virDomainLookupByName(s->conn, n.domain) : NULL;
    virResetLastError();
    if (!dom) {
        n.state = strdup("absent");
    } else {
        int state = VIR_DOMAIN_NOSTATE, reason = 0;
        (void)virDomainGetState(dom, &state, &reason, 0);
        n.state = strdup(state == VIR_DOMAIN_RUNNING   ? "running"
                         : state == VIR_DOMAIN_PAUSED  ? "paused"
                         : state == VIR_DOMAIN_SHUTOFF ? "shut off"
                                                       : "other");
        n.running = state == VIR_DOMAIN_RUNNING;
    }
    if (!n.state)
        goto oom;
    for (size_t i = 0; n.running && i < node->n_nics; i++) {
        _cleanup_free_ char *net = lab_session_lease_source(s, node->nics[i].network);
        _cleanup_free_ char *a = node_address_lookup(s->conn, n.domain, net, &node->nics[i].mac);
        virResetLastError();
        if (a && add_address(&n, a) < 0)
            goto oom;
        if (!a && node->nics[i].has_ip) {
            char ip[IPV4_STRLEN];
            if (add_address(&n, addr_ipv4_format(node->nics[i].ip, ip)) < 0)
                goto oom;
        }
    }
    if (n.running && fs_read_all(n.console_log, &log, &len, NULL) >= 0 &&
        node_report_parse(log, len, &n.report) < 0)
        goto oom;
    for (size_t i = 0; n.report.found && i < n.report.n_addresses; i++)
        if (add_address(&n, n.report.addresses[i]) < 0)
            goto oom;
    *ret = n;
    return 0;
oom:
    lab_node_status_clear(&n);
    return error_set(err, -ENOMEM, "Out of memory");
}

const char *lab_session_netns(const LabSession *s)
{
    return s->sandbox ? s->sandbox->netns : NULL;
}

char *lab_session_ssh_key(const LabSession *s)
{
    char *p = NULL;
    return asprintf(&p, "%s/labs/%s/secrets/id_ed25519", s->state_root, s->lab->name) < 0 ? NULL
                                                                                          : p;
}
