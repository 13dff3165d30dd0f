/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A lab bound to a host: the sandbox or a URI, observation, subnet picking and planning. */
#include "kvmlab/session.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/spectext.h"
#include "kvmlab/virt.h"
#include "kvmlab/vmnet.h"

#define SYSTEM_SOCKET "/run/libvirt/libvirt-sock"
#define SYSTEM_URI    "qemu:///system"

int lab_session_resolve(const Lab *lab, char **ret_uri, bool *ret_sandbox, Error *err)
{
    const char *c = lab->connect;
    *ret_uri = NULL;
    *ret_sandbox = false;
    if (c && strcmp(c, "sandbox") == 0) {
        *ret_sandbox = true;
        return 0;
    }
    if (c) {
        *ret_uri = strdup(c);
        return *ret_uri ? 0 : error_set(err, -ENOMEM, "Out of memory");
    }
    if (access(SYSTEM_SOCKET, F_OK) == 0) {
        *ret_uri = strdup(SYSTEM_URI);
        return *ret_uri ? 0 : error_set(err, -ENOMEM, "Out of memory");
    }
    *ret_sandbox = true;
    return 0;
}

void lab_session_free(LabSession *s)
{
    if (!s)
        return;
    if (s->conn)
        virConnectClose(s->conn);
    sandbox_free(s->sandbox);
    free(s->warning);
    free(s->uri);
    free(s->state_root);
    free(s);
}

static void setup_backends(LabSession *s)
{
    s->n_backends = 0;
    if (!s->conn)
        return;
    vmnet_libvirt_backend(s->conn, &s->backends[s->n_backends++]);
    /* port forwards live in the namespace the lab's networks live in: the sandbox's, or this
     * host's own for a local system daemon (a remote URI gets none) */
    if (s->sandbox)
        vmnet_nft_backend(s->sandbox->netns, &s->backends[s->n_backends++]);
    else if (s->uri && strcmp(s->uri, SYSTEM_URI) == 0)
        vmnet_nft_backend(NULL, &s->backends[s->n_backends++]);
}

int lab_session_open(const Lab *lab, const char *state_root, SessionMode mode, LabSession **ret,
                     Error *err)
{
    LabSession *s = calloc(1, sizeof(*s));
    bool sandboxed = false;
    int r;

    if (!s)
        return error_set(err, -ENOMEM, "Out of memory");
    s->lab = lab;
    s->state_root = state_root ? strdup(state_root) : sandbox_state_root();
    r = lab_session_resolve(lab, &s->uri, &sandboxed, err);
    if (r < 0)
        goto fail;
    if (sandboxed) {
        r = sandbox_new(s->state_root, lab->name, &s->sandbox, err);
        if (r < 0)
            goto fail;
        free(s->uri);
        s->uri = strdup(s->sandbox->uri);
        if (mode == SESSION_REMOVE && sandbox_exists(s->sandbox)) {
            /* a sandbox that cannot start any more is still removed, blind */
            Error why = ERROR_INIT;
            if (sandbox_ensure(s->sandbox, &s->sandbox_started, &why) < 0) {
                if (asprintf(&s->warning, "cannot look inside: %s", why.message) < 0)
                    s->warning = NULL;
                error_clear(&why);
                *ret = s;
                return 0;
            }
        } else if (mode == SESSION_WRITE) {
            r = sandbox_ensure(s->sandbox, &s->sandbox_started, err);
            if (r < 0)
                goto fail;
        } else if (!sandbox_is_running(s->sandbox, NULL)) {
            /* nothing to observe: plan shows every object as new, down has nothing to do */
            *ret = s;
            return 0;
        }
    }
    virConnectPtr conn = NULL;
    r = virt_connect(s->uri, &conn, err);
    if (r < 0) {
        /* a sandbox this call started and cannot use is not left running */
        if (s->sandbox && s->sandbox_started)
            sandbox_destroy(s->sandbox, NULL);
        goto fail;
    }
    s->conn = conn;
    setup_backends(s);
    *ret = s;
    return 0;
fail:
    lab_session_free(s);
    return r;
}

static int observe_all(LabSession *s, Plan *p, Error *err)
{
    for (size_t i = 0; i < s->n_backends; i++) {
        Observed *o = NULL;
        size_t n = 0;
        int r = s->backends[i].observe(s->backends[i].ctx, &o, &n, err);
        if (r < 0)
            return r;
        Observed *all = realloc(p->have, (p->n_have + n + 1) * sizeof(*all));
        if (!all) {
            for (size_t j = 0; j < n; j++)
                observed_clear(&o[j]);
            free(o);
            return error_set(err, -ENOMEM, "Out of memory");
        }
        p->have = all;
        /* a backend that sees nothing returns NULL: memcpy() from NULL is undefined (UBSan) */
        if (n)
            memcpy(p->have + p->n_have, o, n * sizeof(*o));
        p->n_have += n;
        free(o);
    }
    return 0;
}

int lab_session_observe(LabSession *s, Observed **ret, size_t *ret_n, Error *err)
{
    Plan p = {0};
    int r = observe_all(s, &p, err);
    if (r < 0) {
        for (size_t i = 0; i < p.n_have; i++)
            observed_clear(&p.have[i]);
        free(p.have);
        return r;
    }
    /* keep only this lab's */
    size_t k = 0;
    for (size_t i = 0; i < p.n_have; i++) {
        if (p.have[i].lab && strcmp(p.have[i].lab, s->lab->name) == 0)
            p.have[k++] = p.have[i];
        else
            observed_clear(&p.have[i]);
    }
    *ret = p.have;
    *ret_n = k;
    return 0;
}

typedef struct NetList {
    Ipv4Net *v;
    size_t n;
} NetList;

static int netlist_add(NetList *l, const Ipv4Net *n)
{
    Ipv4Net *v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    l->v = v;
    l->v[l->n++] = *n;
    return 0;
}

static char *lab_state_file(const LabSession *s, const char *lab, const char *what)
{
    char *p = NULL;
    if (asprintf(&p, "%s/labs/%s/%s", s->state_root, lab, what) < 0)
        return NULL;
    return p;
}

/* Subnets recorded by other labs under the same state root (their sandboxes are other
 * daemons, so observing our own daemon does not show them). */
static void other_labs_subnets(const LabSession *s, NetList *used)
{
    _cleanup_free_ char *dir = fs_path_join(s->state_root, "labs");
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, s->lab->name) == 0)
            continue;
        _cleanup_free_ char *f = lab_state_file(s, de->d_name, "subnets");
        _cleanup_free_ char *text = NULL;
        if (!f || fs_read_all(f, &text, NULL, NULL) < 0)
            continue;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            Ipv4Net n;
            if (addr_cidr_parse(line, &n) == 0)
                netlist_add(used, &n);
        }
    }
    closedir(d);
}

static bool needs_subnet(const LabNetwork *n)
{
    return n->type == VMNET_NAT || n->type == VMNET_HOSTONLY;
}

static void spec_data_free(void *p)
{
    vmnet_spec_free(p);
}

static void forward_set_free(void *p)
{
    VmnetForwardSet *set = p;
    if (!set)
        return;
    free(set->lab);
    free(set->masquerade);
    free(set->forwards);
    free(set);
}

/* One resource for the lab's NAT: its nftables table with masquerade for the NAT networks and
 * every port forward. The subnets and the forwards' target addresses come from the networks'
 * specs, planned just before. */
static int plan_forwards(const Lab *lab, Plan *p, Error *err)
{
    VmnetForwardSet *set = calloc(1, sizeof(*set));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;

    if (!set || !(set->lab = strdup(lab->name)) || !(f = open_memstream(&buf, &len)))
        goto oom;
    for (size_t i = 0; i < p->n_want; i++) {
        const VmnetSpec *spec = p->want[i].kind == RESOURCE_NETWORK ? p->want[i].data : NULL;
        if (!spec || spec->type != VMNET_NAT)
            continue;
        if (spec->has_subnet) {
            char cidr[CIDR_STRLEN];
            Ipv4Net *m = realloc(set->masquerade, (set->n_masquerade + 1) * sizeof(*m));
            if (!m)
                goto oom;
            set->masquerade = m;
            m[set->n_masquerade++] = spec->subnet;
            fprintf(f, "masquerade=%s\n", addr_cidr_format(&spec->subnet, cidr));
        }
        if (spec->n_forwards == 0)
            continue;
        VmnetForward *v = realloc(set->forwards, (set->n + spec->n_forwards) * sizeof(*v));
        if (!v)
            goto oom;
        set->forwards = v;
        memcpy(v + set->n, spec->forwards, spec->n_forwards * sizeof(*v));
        set->n += spec->n_forwards;
        char *text = vmnet_forwards_format(spec);
        fputs(text ? text : "", f);
        free(text);
    }
    fclose(f);
    f = NULL;
    if (set->n == 0 && set->n_masquerade == 0) {
        /* no NAT: a table left from an earlier up is deleted by the diff */
        forward_set_free(set);
        free(buf);
        return 0;
    }
    Resource *w = &p->want[p->n_want++];
    w->kind = RESOURCE_PORTFWD;
    w->key = strdup("nat");
    w->name = vmnet_nft_table_name(lab->name);
    w->spec = buf;
    if (asprintf(&w->hash, "%016llx", (unsigned long long)hash_fnv1a_str(HASH_FNV_INIT, buf)) < 0)
        w->hash = NULL;
    w->data = set;
    w->data_free = forward_set_free;
    if (!w->key || !w->name || !w->hash)
        return error_set(err, -ENOMEM, "Out of memory");
    return 0;
oom:
    if (f)
        fclose(f);
    free(buf);
    forward_set_free(set);
    return error_set(err, -ENOMEM, "Out of memory");
}

int lab_session_plan(LabSession *s, Plan **ret, Error *err)
{
    const Lab *lab = s->lab;
    Plan *p = calloc(1, sizeof(*p));
    NetList used = {0};
    int r;

    if (!p || !(p->lab = strdup(lab->name))) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto fail;
    }
    r = observe_all(s, p, err);
    if (r < 0)
        goto fail;

    /* what a picked subnet must stay clear of */
    Ipv4Net *host = NULL;
    size_t n_host = 0;
    r = vmnet_host_subnets(&host, &n_host, err);
    if (r < 0)
        goto fail;
    for (size_t i = 0; i < n_host; i++)
        netlist_add(&used, &host[i]);
    free(host);
    other_labs_subnets(s, &used);
    for (size_t i = 0; i < p->n_have; i++)
        if (p->have[i].has_subnet && !(p->have[i].lab && strcmp(p->have[i].lab, lab->name) == 0))
            netlist_add(&used, &p->have[i].subnet);
    for (size_t i = 0; i < lab->n_networks; i++)
        if (lab->networks[i].has_subnet)
            netlist_add(&used, &lab->networks[i].subnet);

    p->want = calloc(lab->n_networks + 2, sizeof(*p->want));
    if (!p->want) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto fail;
    }
    for (size_t i = 0; i < lab->n_networks; i++) {
        const LabNetwork *net = &lab->networks[i];
        Resource *w = &p->want[p->n_want];
        Ipv4Net picked, *subnet = NULL;
        char cidr[CIDR_STRLEN];

        if (net->backend == VMNET_BACKEND_BRIDGE) {
            r = error_set(err, -ENOTSUP,
                          "Network '%s' asks for backend 'bridge', which this version of kvmlab "
                          "cannot make yet; use backend 'libvirt'",
                          net->name);
            goto fail;
        }
        w->kind = RESOURCE_NETWORK;
        w->key = strdup(net->name);
        w->name = vmnet_object_name(lab->name, net->name);
        p->n_want++;
        if (!net->has_subnet && needs_subnet(net)) {
            /* keep the subnet an earlier `up` picked, so the network stays as it is */
            for (size_t j = 0; j < p->n_have && !subnet; j++) {
                const Observed *o = &p->have[j];
                if (o->kind != RESOURCE_NETWORK || !o->lab || strcmp(o->lab, lab->name) != 0 ||
                    !o->key || strcmp(o->key, net->name) != 0)
                    continue;
                _cleanup_free_ char *v = spec_text_get(o->spec, "subnet");
                if (v && addr_cidr_parse(v, &picked) == 0) {
                    subnet = &picked;
                    r = asprintf(&w->note, "keeps subnet %s picked earlier",
                                 addr_cidr_format(&picked, cidr));
                }
            }
            if (!subnet) {
                r = vmnet_subnet_pick(used.v, used.n, &picked);
                if (r < 0) {
                    r = error_set(err, r, "No free /24 is left for network '%s'; give it a subnet",
                                  net->name);
                    goto fail;
                }
                subnet = &picked;
                r = asprintf(&w->note,
                             "subnet %s picked: clear of host routes, other networks "
                             "and other labs",
                             addr_cidr_format(&picked, cidr));
            }
            if (r < 0)
                w->note = NULL;
            netlist_add(&used, subnet);
        }
        VmnetSpec *spec = NULL;
        r = vmnet_spec_build(lab, net, subnet, &spec, err);
        if (r < 0)
            goto fail;
        w->data = spec;
        w->data_free = spec_data_free;
        w->spec = vmnet_spec_format(spec);
        w->hash = vmnet_spec_hash(spec);
        w->bridge = spec->bridge && net->type != VMNET_BRIDGED ? strdup(spec->bridge) : NULL;
        w->has_subnet = spec->has_subnet && net->type != VMNET_ISOLATED;
        w->subnet = spec->subnet;
        if (!w->key || !w->name || !w->spec || !w->hash) {
            r = error_set(err, -ENOMEM, "Out of memory");
            goto fail;
        }
    }
    r = plan_forwards(lab, p, err);
    if (r < 0)
        goto fail;
    p->n_unmade_nodes = lab->n_nodes; /* domains arrive with the nodes work */
    r = engine_diff(p, err);
    if (r < 0)
        goto fail;
    free(used.v);
    *ret = p;
    return 0;
fail:
    free(used.v);
    plan_free(p);
    return r;
}

static int record_subnets(LabSession *s, const Plan *plan, Error *err)
{
    char *buf = NULL;
    size_t len = 0;
    char cidr[CIDR_STRLEN];
    FILE *f = open_memstream(&buf, &len);
    for (size_t i = 0; i < plan->n_want; i++)
        if (plan->want[i].has_subnet)
            fprintf(f, "%s\n", addr_cidr_format(&plan->want[i].subnet, cidr));
    fclose(f);
    _cleanup_free_ char *text = buf;
    _cleanup_free_ char *file = lab_state_file(s, s->lab->name, "subnets");
    _cleanup_free_ char *dir = NULL;
    if (!file || asprintf(&dir, "%s/labs/%s", s->state_root, s->lab->name) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    int r = fs_mkdir_p(dir, 0700, err);
    if (r < 0)
        return r;
    return fs_write_atomic(file, text ? text : "", 0600, err);
}

int lab_session_apply(LabSession *s, const Plan *plan, EngineProgressFn progress, void *userdata,
                      Error *err)
{
    if (!s->conn)
        return error_set(err, -ENOTCONN, "Lab '%s' has no host connection", s->lab->name);
    int r = engine_apply(plan, s->backends, s->n_backends, progress, userdata, err);
    if (r < 0)
        return r;
    return record_subnets(s, plan, err);
}

void lab_session_abort(LabSession *s)
{
    if (!s || !s->sandbox || !s->sandbox_started)
        return;
    if (s->conn) {
        Plan p = {0};
        Error ignore = ERROR_INIT;
        int r = observe_all(s, &p, &ignore);
        size_t n = p.n_have;
        for (size_t i = 0; i < p.n_have; i++)
            observed_clear(&p.have[i]);
        free(p.have);
        error_clear(&ignore);
        if (r < 0 || n > 0)
            return; /* something is there: keep it for `down` */
        virDomainPtr *doms = NULL;
        int nd = virConnectListAllDomains(s->conn, &doms, 0);
        for (int i = 0; i < nd; i++)
            virDomainFree(doms[i]);
        free(doms);
        if (nd != 0)
            return;
        virConnectClose(s->conn);
        s->conn = NULL;
        s->n_backends = 0;
    }
    sandbox_destroy(s->sandbox, NULL);
}

int lab_session_down(LabSession *s, Plan **ret_plan, bool *ret_kept_sandbox, Error *err)
{
    Plan *p = calloc(1, sizeof(*p));
    int r;

    *ret_kept_sandbox = false;
    if (!p || !(p->lab = strdup(s->lab->name))) {
        free(p);
        return error_set(err, -ENOMEM, "Out of memory");
    }
    if (s->conn) {
        r = observe_all(s, p, err);
        if (r >= 0)
            r = engine_diff(p, err); /* nothing wanted: every object of ours is deleted */
        if (r >= 0)
            r = engine_apply(p, s->backends, s->n_backends, NULL, NULL, err);
        if (r < 0) {
            plan_free(p);
            return r;
        }
    }
    if (s->sandbox) {
        bool foreign = false;
        for (size_t i = 0; i < p->n_have; i++)
            if (!p->have[i].lab || strcmp(p->have[i].lab, s->lab->name) != 0)
                foreign = true;
        if (s->conn) {
            virDomainPtr *doms = NULL;
            int nd = virConnectListAllDomains(s->conn, &doms, 0);
            for (int i = 0; i < nd; i++)
                virDomainFree(doms[i]);
            free(doms);
            if (nd > 0)
                foreign = true; /* no kvmlab domains yet: any domain is someone else's */
        }
        if (foreign) {
            *ret_kept_sandbox = true;
        } else {
            if (s->conn) {
                virConnectClose(s->conn);
                s->conn = NULL;
                s->n_backends = 0;
            }
            r = sandbox_destroy(s->sandbox, err);
            if (r < 0) {
                plan_free(p);
                return r;
            }
        }
    }
    _cleanup_free_ char *file = lab_state_file(s, s->lab->name, "subnets");
    _cleanup_free_ char *dir = NULL;
    if (file && asprintf(&dir, "%s/labs/%s", s->state_root, s->lab->name) >= 0) {
        unlink(file);
        rmdir(dir);
    }
    *ret_plan = p;
    return 0;
}
