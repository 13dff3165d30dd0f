/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A lab bound to a host: the sandbox or a URI, observation, subnet picking and planning. */
#include "kvmlab/session.h"
#include "kvmlab/nodedomain.h"

#include <dirent.h>
#include <libgen.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/dnsmasq.h"
#include "kvmlab/firewall.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/hostlink.h"
#include "kvmlab/spectext.h"
#include "kvmlab/storagepool.h"
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
    storage_ctx_free(s->storage);
    sandbox_free(s->sandbox);
    free(s->warning);
    free(s->uri);
    free(s->state_root);
    free(s);
}

bool lab_session_local(const LabSession *s)
{
    if (s->sandbox)
        return true;
    if (!s->uri)
        return false;
    /* a driver URI without a host part names a daemon on this machine */
    const char *p = strstr(s->uri, "://");
    return p && p[3] == '/' && (strncmp(s->uri, "qemu", 4) == 0 || strncmp(s->uri, "test", 4) == 0);
}

void lab_session_set_progress(LabSession *s, ImageProgressFn fn, void *userdata)
{
    if (s->storage)
        storage_ctx_set_progress(s->storage, fn, userdata);
}

static bool lab_has_bridge_backend(const Lab *lab)
{
    for (size_t i = 0; i < lab->n_networks; i++)
        if (lab->networks[i].backend == VMNET_BACKEND_BRIDGE)
            return true;
    return false;
}

static void setup_backends(LabSession *s)
{
    s->n_backends = 0;
    if (!s->conn)
        return;
    /* nodes first: observed first, so `down` stops and removes them before their disks and
     * networks go */
    if (lab_session_local(s))
        node_domain_backend(s->conn, &s->backends[s->n_backends++]);
    vmnet_libvirt_backend(s->conn, &s->backends[s->n_backends++]);
    /* storage: observed volumes before their pool, so `down` deletes them in that order */
    if (lab_session_local(s) && !s->storage)
        s->storage = storage_ctx_new(s->conn, s->state_root, s->lab->name);
    if (s->storage) {
        storage_volume_backend(s->storage, &s->backends[s->n_backends++]);
        storage_pool_backend(s->storage, &s->backends[s->n_backends++]);
        storage_image_backend(s->storage, &s->backends[s->n_backends++]);
    }
    /* the bridge backend's networks live where the guests are: the sandbox's namespace, or
     * this one for a daemon on this machine */
    if (lab_session_local(s)) {
        s->bridge_ctx = (VmnetBridgeCtx){.netns = s->sandbox ? s->sandbox->netns : NULL,
                                         .state_root = s->state_root};
        vmnet_bridge_backend(&s->bridge_ctx, &s->backends[s->n_backends++]);
        vmnet_firewall_backend(&s->bridge_ctx, &s->backends[s->n_backends++]);
    }
    /* port forwards live in the namespace the lab's networks live in: the sandbox's, or this
     * host's own for a local system daemon or for bridges kvmlab makes (a remote URI gets
     * none) */
    if (s->sandbox)
        vmnet_nft_backend(s->sandbox->netns, &s->backends[s->n_backends++]);
    else if ((s->uri && strcmp(s->uri, SYSTEM_URI) == 0) ||
             (lab_session_local(s) && lab_has_bridge_backend(s->lab)))
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

static char *lab_state_file(const LabSession *s, const char *lab, const char *what)
{
    char *p = NULL;
    if (asprintf(&p, "%s/labs/%s/%s", s->state_root, lab, what) < 0)
        return NULL;
    return p;
}

/* What other labs under the same state root recorded (their sandboxes are other daemons, so
 * observing our own daemon does not show them): subnets and bridge names. */
static int other_labs(const LabSession *s, HostState *h)
{
    _cleanup_free_ char *dir = fs_path_join(s->state_root, "labs");
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return 0;
    struct dirent *de;
    int r = 0;
    while ((de = readdir(d)) && r >= 0) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, s->lab->name) == 0)
            continue;
        _cleanup_free_ char *f = lab_state_file(s, de->d_name, "subnets");
        _cleanup_free_ char *text = NULL;
        if (f && fs_read_all(f, &text, NULL, NULL) >= 0) {
            for (char *line = strtok(text, "\n"); line && r >= 0; line = strtok(NULL, "\n")) {
                Ipv4Net n;
                if (addr_cidr_parse(line, &n) < 0)
                    continue;
                Ipv4Net *v = realloc(h->lab_nets, (h->n_lab_nets + 1) * sizeof(*v));
                if (!v) {
                    r = -ENOMEM;
                    break;
                }
                h->lab_nets = v;
                v[h->n_lab_nets++] = n;
            }
        }
        _cleanup_free_ char *bf = lab_state_file(s, de->d_name, "bridges");
        _cleanup_free_ char *btext = NULL;
        if (bf && fs_read_all(bf, &btext, NULL, NULL) >= 0) {
            for (char *line = strtok(btext, "\n"); line && r >= 0; line = strtok(NULL, "\n")) {
                char **v = realloc(h->lab_bridges, (h->n_lab_bridges + 1) * sizeof(*v));
                if (!v || !(v[h->n_lab_bridges] = strdup(line))) {
                    if (v)
                        h->lab_bridges = v;
                    r = -ENOMEM;
                    break;
                }
                h->lab_bridges = v;
                h->n_lab_bridges++;
            }
        }
    }
    closedir(d);
    return r;
}

/* Does kvmlab write the lab's NAT table where its networks live? In the sandbox's namespace,
 * and in this host's own for the local system daemon; not for a remote or private daemon. */
static bool session_nat_table(const LabSession *s)
{
    return s->sandbox || (s->uri && strcmp(s->uri, SYSTEM_URI) == 0);
}

/* Why kvmlab cannot attach guests to its own bridges with this session's libvirt (NULL: it
 * can): a remote daemon, or qemu:///session without a setuid bridge helper allowed to use them. */
static char *bridge_refusal(const LabSession *s)
{
    char *why = NULL;
    if (!lab_session_local(s)) {
        if (asprintf(&why,
                     "'%s' is a libvirt on another machine, and kvmlab makes bridges only on "
                     "this one; use backend 'libvirt'",
                     s->uri ? s->uri : "?") < 0)
            return NULL;
        return why;
    }
    if (!s->uri || strncmp(s->uri, "qemu:///session", 15) != 0)
        return NULL;
    /* an unprivileged QEMU joins a bridge through the setuid helper, as bridge.conf allows */
    static const char *const helpers[] = {"/usr/lib/qemu/qemu-bridge-helper",
                                          "/usr/libexec/qemu-bridge-helper", NULL};
    struct stat st;
    const char *helper = NULL;
    for (size_t i = 0; helpers[i] && !helper; i++)
        if (stat(helpers[i], &st) == 0)
            helper = helpers[i];
    _cleanup_free_ char *conf = NULL;
    (void)fs_read_all("/etc/qemu/bridge.conf", &conf, NULL, NULL);
    return vmnet_session_bridge_refusal(helper, helper && (st.st_mode & S_ISUID) && st.st_uid == 0,
                                        conf);
}

/* Who else configures link @l (NULL: nobody kvmlab knows of): NetworkManager keeps a state file
 * per device it manages; a DHCP client runs with the interface on its command line. */
static char *link_manager(const HostLinkInfo *l)
{
    char path[96];
    snprintf(path, sizeof(path), "/run/NetworkManager/devices/%d", l->ifindex);
    if (access(path, F_OK) == 0)
        return strdup("NetworkManager");
    /* systemd-networkd (netplan's default on servers) keeps a state file per link it manages,
     * with the .network file that matched it */
    char nd[96];
    snprintf(nd, sizeof(nd), "/run/systemd/netif/links/%d", l->ifindex);
    _cleanup_free_ char *state = NULL;
    if (fs_read_all(nd, &state, NULL, NULL) >= 0 && strstr(state, "NETWORK_FILE="))
        return strdup("systemd-networkd");
    static const char *const clients[] = {"dhclient", "dhcpcd", "udhcpc", "dhcpcd5", NULL};
    DIR *d = opendir("/proc");
    struct dirent *de;
    char *who = NULL;
    while (d && !who && (de = readdir(d))) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        char file[300];
        snprintf(file, sizeof(file), "/proc/%.255s/cmdline", de->d_name);
        _cleanup_free_ char *cmd = NULL;
        size_t len = 0;
        if (fs_read_all(file, &cmd, &len, NULL) < 0 || len == 0)
            continue;
        const char *base = strrchr(cmd, '/') ? strrchr(cmd, '/') + 1 : cmd;
        size_t first = strlen(cmd) + 1;
        /* busybox's applets: "busybox udhcpc -i IF" */
        if (strcmp(base, "busybox") == 0 && first < len)
            base = cmd + first;
        bool client = false;
        for (size_t i = 0; clients[i]; i++)
            client |= strcmp(base, clients[i]) == 0;
        for (size_t off = first; client && off < len; off += strlen(cmd + off) + 1)
            if (strcmp(cmd + off, l->name) == 0 &&
                asprintf(&who, "a DHCP client (%s, PID %s)", base, de->d_name) < 0)
                who = NULL;
    }
    if (d)
        closedir(d);
    return who;
}

/* The bridge backend's facts: whether it can work here, the links where it would, for the
 * NICs of bridged networks. */
static int observe_bridge_host(LabSession *s, HostState *h, Error *err)
{
    h->bridge_refusal = bridge_refusal(s);
    h->bridges = !h->bridge_refusal;
    if (!h->bridges || !lab_session_local(s) || !s->conn)
        return 0; /* a sandbox that does not run yet: nothing is known of its namespace */
    /* what the namespace's firewall would drop of the lab's traffic (both backends) */
    int fr = firewall_ruleset_read(s->bridge_ctx.netns, &h->ruleset, &h->br_nf_call_iptables, err);
    if (fr < 0)
        return fr;
    bool bridged = false;
    for (size_t i = 0; i < s->lab->n_networks; i++)
        bridged |= s->lab->networks[i].type == VMNET_BRIDGED;
    if (!bridged)
        return 0;
    HostLink *hl = NULL;
    int r = hostlink_open(s->bridge_ctx.netns, &hl, err);
    if (r >= 0)
        r = hostlink_list(hl, &h->links, &h->n_links, err);
    hostlink_free(hl);
    if (r < 0)
        return r;
    for (size_t i = 0; i < h->n_links; i++)
        if (!s->sandbox && !h->links[i].master[0])
            h->links[i].managed_by = link_manager(&h->links[i]);
    return 0;
}

/* Everything planning needs, read once: the objects of every backend, the host's own subnets,
 * other labs' records. */
static int observe_host(LabSession *s, HostState *h, Error *err)
{
    Plan p = {0};
    int r = observe_all(s, &p, err);
    h->objects = p.have;
    h->n_objects = p.n_have;
    if (r < 0)
        return r;
    r = vmnet_host_subnets(&h->host_nets, &h->n_host_nets, err);
    if (r < 0)
        return r;
    if (other_labs(s, h) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    h->nat_table = session_nat_table(s);
    h->firewall_allow = s->allow_firewall;
    h->br_nf_call_iptables = -1;
    r = observe_bridge_host(s, h, err);
    if (r < 0)
        return r;
    h->uri = s->uri ? strdup(s->uri) : NULL;
    h->storage = lab_session_local(s);
    h->delete_disks = s->delete_disks;
    h->state_root = strdup(s->state_root);
    if (!h->state_root)
        return error_set(err, -ENOMEM, "Out of memory");
    if (h->storage) {
        r = lab_session_observe_nodes(s, h, s->make_secrets, err);
        if (r < 0)
            return r;
    }
    if (h->storage) {
        r = image_store_list(s->state_root, &h->images, &h->n_images, err);
        if (r < 0)
            return r;
        _cleanup_free_ char *file = storage_volume_record(s->state_root, s->lab->name);
        _cleanup_free_ char *text = NULL;
        if (file && fs_read_all(file, &text, NULL, NULL) >= 0 &&
            asprintf(&h->volume_record, "\n%s%s", text,
                     *text && text[strlen(text) - 1] != '\n' ? "\n" : "") < 0)
            h->volume_record = NULL;
    }
    return 0;
}

/* A `path:` image that is not in the store yet must be there to import: said at plan time, at
 * its line, rather than half way through `up`. */
static int check_image_sources(const LabSession *s, const HostState *h, Error *err)
{
    const Lab *lab = s->lab;
    _cleanup_free_ char *copy = lab->file ? strdup(lab->file) : NULL;
    const char *base = copy ? dirname(copy) : ".";
    for (size_t i = 0; h->storage && i < lab->n_images; i++) {
        const LabImage *img = &lab->images[i];
        bool used = false;
        for (size_t k = 0; k < lab->n_nodes; k++)
            for (size_t d = 0; d < (lab->nodes[k].n_disks ? lab->nodes[k].n_disks : 1); d++) {
                const char *u = lab_disk_image(&lab->nodes[k], d);
                used |= u && strcmp(u, img->name) == 0;
            }
        if (!used || img->kind != LAB_IMAGE_PATH || !img->source)
            continue;
        _cleanup_free_ char *name = image_store_name(img, base);
        bool stored = false;
        for (size_t k = 0; name && k < h->n_images; k++)
            stored |= strcmp(h->images[k].name, name) == 0;
        if (stored)
            continue;
        _cleanup_free_ char *path =
                img->source[0] == '/' ? strdup(img->source) : fs_path_join(base, img->source);
        if (path && access(path, R_OK) < 0)
            return error_set_errno(err, -errno, "%s:%d:%d: image '%s': cannot read '%s'",
                                   lab->file ? lab->file : "lab file", img->loc.line, img->loc.col,
                                   img->name, path);
    }
    return 0;
}

int lab_session_plan(LabSession *s, Plan **ret, Error *err)
{
    HostState host = {0};
    int r = observe_host(s, &host, err);
    if (r >= 0)
        r = check_image_sources(s, &host, err);
    if (r >= 0)
        r = engine_plan(s->lab, &host, ret, err);
    host_state_clear(&host);
    return r;
}

/* Write one line per value to the lab's state file @what. */
static int record_lines(LabSession *s, const char *what, const char *text, Error *err)
{
    _cleanup_free_ char *file = lab_state_file(s, s->lab->name, what);
    _cleanup_free_ char *dir = NULL;
    if (!file || asprintf(&dir, "%s/labs/%s", s->state_root, s->lab->name) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    int r = fs_mkdir_p(dir, 0711, err);
    if (r < 0)
        return r;
    return fs_write_atomic(file, text ? text : "", 0600, err);
}

/* Record the lab's subnets and bridges for other labs' planning. */
static int record_lab(LabSession *s, const Plan *plan, Error *err)
{
    char *nets = NULL, *brs = NULL;
    size_t len = 0, blen = 0;
    char cidr[CIDR_STRLEN];
    FILE *f = open_memstream(&nets, &len);
    FILE *b = open_memstream(&brs, &blen);
    if (!f || !b) {
        if (f)
            fclose(f);
        if (b)
            fclose(b);
        free(nets);
        free(brs);
        return error_set(err, -ENOMEM, "Out of memory");
    }
    for (size_t i = 0; i < plan->n_want; i++) {
        if (plan->want[i].has_subnet)
            fprintf(f, "%s\n", addr_cidr_format(&plan->want[i].subnet, cidr));
        if (plan->want[i].bridge)
            fprintf(b, "%s\n", plan->want[i].bridge);
    }
    fclose(f);
    fclose(b);
    _cleanup_free_ char *t1 = nets;
    _cleanup_free_ char *t2 = brs;
    int r = record_lines(s, "subnets", t1, err);
    return r < 0 ? r : record_lines(s, "bridges", t2, err);
}

int lab_session_apply(LabSession *s, const Plan *plan, EngineProgressFn progress, void *userdata,
                      Error *err)
{
    if (!s->conn)
        return error_set(err, -ENOTCONN, "Lab '%s' has no host connection", s->lab->name);
    int r = engine_apply(plan, s->backends, s->n_backends, progress, userdata, err);
    if (r < 0) {
        /* undone: the seeds of nodes that are not there, and secrets nobody used yet */
        lab_session_prune_nodes(s, NULL);
        bool any_node = false;
        for (size_t i = 0; i < plan->n_actions; i++)
            any_node |= plan->actions[i].kind == RESOURCE_DOMAIN &&
                        plan->actions[i].type != ACTION_CREATE;
        if (!any_node)
            lab_session_forget_secrets(s);
        /* undone: the lab's state directory goes too when nothing is left in it (the pool
         * directory inside it went last) */
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/labs/%s", s->state_root, s->lab->name) >= 0)
            rmdir(dir);
        return r;
    }
    return record_lab(s, plan, err);
}

void lab_session_abort(LabSession *s)
{
    if (!s)
        return;
    /* the secrets this run made before it stopped (an interrupt while planning), and node
     * directories no domain uses: gone, and the lab's state directory with them when empty */
    if (s->secrets_made) {
        lab_session_prune_nodes(s, NULL);
        lab_session_forget_secrets(s);
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/labs/%s", s->state_root, s->lab->name) >= 0)
            rmdir(dir);
    }
    if (!s->sandbox || !s->sandbox_started)
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

/* The lab's default pool directory when it holds nothing but kvmlab's marks (a crash between
 * making it and defining the pool): removed, as the pool would have been. */
static void forget_pool_dir(const LabSession *s)
{
    _cleanup_free_ char *pool = NULL;
    if (asprintf(&pool, "%s/labs/%s/pool", s->state_root, s->lab->name) < 0)
        return;
    DIR *d = opendir(pool);
    if (!d)
        return;
    struct dirent *de;
    bool others = false;
    while ((de = readdir(d)))
        others |= strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
                  strcmp(de->d_name, POOL_MARKER) != 0 && strcmp(de->d_name, POOL_MARKER_MADE) != 0;
    closedir(d);
    if (others)
        return;
    _cleanup_free_ char *m1 = fs_path_join(pool, POOL_MARKER);
    _cleanup_free_ char *m2 = fs_path_join(pool, POOL_MARKER_MADE);
    if (m1)
        unlink(m1);
    if (m2)
        unlink(m2);
    rmdir(pool);
}

/* Is @o the Linux bridge of a libvirt network seen in the same observation? The bridge backend
 * reports every bridge it did not make (for name clashes); libvirt's own are not foreign. */
static bool libvirt_bridge(const Plan *p, const Observed *o)
{
    if (o->kind != RESOURCE_BRIDGE || o->lab || !o->bridge)
        return false;
    for (size_t i = 0; i < p->n_have; i++)
        if (p->have[i].kind == RESOURCE_NETWORK && p->have[i].bridge &&
            strcmp(p->have[i].bridge, o->bridge) == 0)
            return true;
    return false;
}

int lab_session_down(LabSession *s, Plan **ret_plan, bool *ret_kept_sandbox, Error *err)
{
    bool looked = s->conn != NULL;
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
            r = engine_apply_each(p, s->backends, s->n_backends, NULL, NULL, err);
        if (r < 0) {
            plan_free(p);
            return r;
        }
    }
    if (s->sandbox) {
        bool foreign = false;
        for (size_t i = 0; i < p->n_have; i++)
            if ((!p->have[i].lab || strcmp(p->have[i].lab, s->lab->name) != 0) &&
                !libvirt_bridge(p, &p->have[i]))
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
    _cleanup_free_ char *bfile = lab_state_file(s, s->lab->name, "bridges");
    _cleanup_free_ char *vfile = lab_state_file(s, s->lab->name, "volumes");
    _cleanup_free_ char *dir = NULL;
    if (file && bfile && vfile && asprintf(&dir, "%s/labs/%s", s->state_root, s->lab->name) >= 0) {
        unlink(file);
        unlink(bfile);
        /* every volume of the lab is gone (a failed delete returned above): so is its record,
         * even of a volume a crashed down deleted before it could update it. A down that could
         * not look (a sandbox that no longer starts) keeps it: the volumes are still on disk,
         * and the next up adopts them by it. */
        if (looked) {
            unlink(vfile);
            forget_pool_dir(s);
            /* the nodes' seeds and console logs, and the secrets the lab's up made */
            lab_session_prune_nodes(s, NULL);
            _cleanup_free_ char *secrets = fs_path_join(dir, "secrets");
            if (secrets)
                (void)fs_rm_rf(secrets, NULL);
        }
        rmdir(dir);
    }
    *ret_plan = p;
    return 0;
}

void lab_status_free(LabStatus *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n_nets; i++) {
        LabNetStatus *n = &st->nets[i];
        free(n->name);
        free(n->key);
        free(n->type);
        free(n->bridge);
        free(n->subnet);
        free(n->host);
        free(n->gateway);
        free(n->dhcp);
        free(n->backend);
    }
    free(st->nets);
    for (size_t i = 0; i < st->n_vols; i++) {
        free(st->vols[i].name);
        free(st->vols[i].key);
        free(st->vols[i].capacity);
        free(st->vols[i].backing);
    }
    free(st->vols);
    free(st->uri);
    free(st);
}

int lab_session_status(LabSession *s, LabStatus **ret, Error *err)
{
    LabStatus *st = calloc(1, sizeof(*st));
    Observed *obs = NULL;
    size_t n = 0;
    int r = 0;

    if (!st)
        return error_set(err, -ENOMEM, "Out of memory");
    st->running = s->conn != NULL;
    if (s->conn && !(st->uri = strdup(s->uri))) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto done;
    }
    r = lab_session_observe(s, &obs, &n, err);
    if (r < 0)
        goto done;
    st->nets = calloc(n + 1, sizeof(*st->nets));
    st->vols = calloc(n + 1, sizeof(*st->vols));
    if (!st->nets || !st->vols) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const Observed *o = &obs[i];
        if (o->kind == RESOURCE_VOLUME && o->live_spec) {
            LabVolStatus *vs = &st->vols[st->n_vols++];
            _cleanup_free_ char *b = spec_text_get(o->live_spec, "backing");
            vs->name = strdup(o->name);
            vs->key = o->key ? strdup(o->key) : NULL;
            vs->capacity = spec_text_get(o->live_spec, "live.capacity");
            vs->backing = b && strcmp(b, "none") != 0 ? steal_pointer(&b) : NULL;
            if (!vs->name) {
                r = error_set(err, -ENOMEM, "Out of memory");
                goto done;
            }
            continue;
        }
        if (o->kind != RESOURCE_NETWORK && o->kind != RESOURCE_BRIDGE)
            continue;
        LabNetStatus *ns = &st->nets[st->n_nets++];
        /* what the object does now; its record only where it cannot be read */
        const char *spec = o->live_spec ? o->live_spec : o->spec;
        ns->name = strdup(o->name);
        ns->key = o->key ? strdup(o->key) : NULL;
        ns->type = spec_text_get(spec, "type");
        ns->bridge = spec_text_get(spec, "bridge");
        ns->subnet = spec_text_get(spec, "subnet");
        ns->host = spec_text_get(spec, "host");
        ns->gateway = spec_text_get(spec, "gateway");
        ns->dhcp = spec_text_get(spec, "dhcp");
        ns->active = o->active;
        if (o->spec && o->live_spec) {
            _cleanup_free_ char *d = engine_spec_changes(o->spec, o->live_spec, NULL);
            ns->drift = d && *d;
        }
        ns->backend = spec_text_get(spec, "backend");
        if (o->kind == RESOURCE_BRIDGE) {
            /* kvmlab's own dnsmasq: its PID and the leases of its file */
            _cleanup_free_ char *dir = NULL;
            DnsmasqPaths dp = {0};
            if (asprintf(&dir, "%s/labs/%s/net/%s", s->state_root, s->lab->name, o->key) >= 0 &&
                dnsmasq_paths_init(&dp, dir) >= 0) {
                _cleanup_free_ char *text = NULL;
                DnsmasqLease *v = NULL;
                size_t nl = 0;
                ns->dnsmasq_pid = (int)dnsmasq_find(&dp);
                if (fs_read_all(dp.leases, &text, NULL, NULL) >= 0 &&
                    dnsmasq_leases_parse(text, &v, &nl, NULL) >= 0) {
                    ns->leases = (int)nl;
                    dnsmasq_leases_free(v, nl);
                }
            }
            dnsmasq_paths_clear(&dp);
        } else {
            ns->leases = vmnet_libvirt_lease_count(s->conn, o->name, NULL);
            if (ns->leases < 0)
                ns->leases = 0;
        }
        if (!ns->name) {
            r = error_set(err, -ENOMEM, "Out of memory");
            goto done;
        }
    }
done:
    for (size_t i = 0; i < n; i++)
        observed_clear(&obs[i]);
    free(obs);
    if (r < 0) {
        lab_status_free(st);
        return r;
    }
    *ret = st;
    return 0;
}

void lab_session_info(const LabSession *s, LabSessionInfo *ret)
{
    *ret = (LabSessionInfo){
            .sandboxed = s->sandbox != NULL,
            .sandbox_exists = s->sandbox && sandbox_exists(s->sandbox),
            .sandbox_started = s->sandbox_started,
            .connected = s->conn != NULL,
            .uri = s->uri,
            .warning = s->warning,
    };
}

bool lab_session_has_sandbox(const char *state_root, const char *lab)
{
    Sandbox *probe = NULL;
    bool yes = sandbox_new(state_root, lab, &probe, NULL) == 0 && sandbox_exists(probe);
    sandbox_free(probe);
    return yes;
}
