/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host side: networks on the bridge backend as an engine backend. A nat, host-only or isolated
 * network is kvmlab's own Linux bridge (hostlink.c) with VMware's addresses and its own dnsmasq
 * (dnsmasq.c); a bridged one is a host NIC moved onto a bridge that every lab bridging that NIC
 * shares. All text comes from pure functions (spec.c, dnsmasq-conf.c, nicsnap.c).
 *
 * Ownership: a lab's bridge carries the alias "kvmlab lab=LAB key=KEY"; its record (the
 * canonical spec text, written before the bridge exists) and dnsmasq's files live in
 * STATE/labs/LAB/net/KEY. A NIC's shared bridge carries "kvmlab nic=NIC"; its snapshot and the
 * labs that use it live in STATE/bridged/NIC. Sysctls kvmlab sets (ip_forward) are held in
 * STATE/sysctl/NETNS: the value before the first holder, and the holders; the last one puts it
 * back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/dnsmasq.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/hostlink.h"
#include "kvmlab/resource.h"
#include "kvmlab/spectext.h"
#include "kvmlab/vmnet.h"

#define GATEWAY_TIMEOUT_MS 5000

static char *net_dir(const VmnetBridgeCtx *c, const char *lab, const char *key)
{
    char *p = NULL;
    if (asprintf(&p, "%s/labs/%s/net/%s", c->state_root, lab, key) < 0)
        return NULL;
    return p;
}

/* A NIC's shared record, per network namespace: STATE/bridged/NETNS/NIC. */
static char *nic_dir(const VmnetBridgeCtx *c, const char *nic)
{
    char *p = NULL;
    if (asprintf(&p, "%s/bridged/%s/%s", c->state_root, c->netns ? c->netns : "host", nic) < 0)
        return NULL;
    return p;
}

/* "kvmlab lab=LAB key=KEY" -> lab, key; false for any other alias. */
static bool alias_parse(const char *alias, char **ret_lab, char **ret_key)
{
    char lab[128], key[128];
    if (!alias || sscanf(alias, HOSTLINK_ALIAS_PREFIX "lab=%127s key=%127s", lab, key) != 2)
        return false;
    *ret_lab = strdup(lab);
    *ret_key = strdup(key);
    return *ret_lab && *ret_key;
}

/* An exclusive lock on STATE/@what/.lock for a read-modify-write of records several labs
 * share (a NIC's users, the sysctl holders): two labs' `up` run at once. The descriptor, or a
 * negative errno with @err set. */
static int state_lock(const VmnetBridgeCtx *c, const char *what, Error *err)
{
    _cleanup_free_ char *dir = NULL, *file = NULL;
    if (asprintf(&dir, "%s/%s", c->state_root, what) < 0 || !(file = fs_path_join(dir, ".lock")))
        return error_set(err, -ENOMEM, "Out of memory");
    int r = fs_mkdir_p(dir, 0700, err);
    if (r < 0)
        return r;
    int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) < 0) {
        r = error_set_errno(err, -errno, "Cannot lock '%s'", file);
        if (fd >= 0)
            close(fd);
        return r;
    }
    return fd;
}

/* Whether "\n"-separated @list has the whole line @line ("LAB KEY\n"), and @list without it. */
static char *line_find(char *list, const char *line)
{
    size_t n = strlen(line);
    for (char *p = list; p && *p;) {
        if (strncmp(p, line, n) == 0)
            return p;
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return NULL;
}

/* --- sysctls held for the labs that need them ---------------------------------------------- */

/* Hold @key at @value for @holder ("lab/net"): the first holder records the value before. */
static int sysctl_hold(const VmnetBridgeCtx *c, const char *key, const char *value,
                       const char *holder, Error *err)
{
    _cleanup_close_ int lock = state_lock(c, "sysctl", err);
    if (lock < 0)
        return lock;
    _cleanup_free_ char *dir = NULL, *file = NULL, *text = NULL, *before = NULL;
    if (asprintf(&dir, "%s/sysctl/%s", c->state_root, c->netns ? c->netns : "host") < 0 ||
        !(file = fs_path_join(dir, key)))
        return error_set(err, -ENOMEM, "Out of memory");
    for (char *s = file + strlen(dir) + 1; *s; s++)
        if (*s == '/')
            *s = '.';
    int r = fs_mkdir_p(dir, 0700, err);
    if (r < 0)
        return r;
    if (fs_read_all(file, &text, NULL, NULL) < 0) {
        r = hostlink_sysctl_get(c->netns, key, &before, err);
        if (r < 0)
            return r;
        free(text);
        if (asprintf(&text, "before=%s\n", before) < 0)
            return error_set(err, -ENOMEM, "Out of memory");
    }
    _cleanup_free_ char *line = NULL;
    if (asprintf(&line, "holder=%s\n", holder) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    if (!line_find(text, line)) {
        _cleanup_free_ char *more = NULL;
        if (asprintf(&more, "%s%s", text, line) < 0)
            return error_set(err, -ENOMEM, "Out of memory");
        r = fs_write_atomic(file, more, 0600, err);
        if (r < 0)
            return r;
    }
    return hostlink_sysctl_set(c->netns, key, value, err);
}

/* Let go of @key for @holder; the last holder puts back the value from before the first. */
static int sysctl_release(const VmnetBridgeCtx *c, const char *key, const char *holder, Error *err)
{
    _cleanup_close_ int lock = state_lock(c, "sysctl", err);
    if (lock < 0)
        return lock;
    _cleanup_free_ char *dir = NULL, *file = NULL, *text = NULL, *line = NULL;
    if (asprintf(&dir, "%s/sysctl/%s", c->state_root, c->netns ? c->netns : "host") < 0 ||
        !(file = fs_path_join(dir, key)) || asprintf(&line, "holder=%s\n", holder) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    for (char *s = file + strlen(dir) + 1; *s; s++)
        if (*s == '/')
            *s = '.';
    if (fs_read_all(file, &text, NULL, NULL) < 0)
        return 0;
    char *hit = line_find(text, line);
    if (hit)
        memmove(hit, hit + strlen(line), strlen(hit + strlen(line)) + 1);
    if (strstr(text, "holder="))
        return fs_write_atomic(file, text, 0600, err);
    _cleanup_free_ char *before = spec_text_get(text, "before");
    if (before) {
        int r = hostlink_sysctl_set(c->netns, key, before, err);
        if (r < 0 && r != -ENOENT)
            return r;
    }
    unlink(file);
    rmdir(dir);
    return 0;
}

/* --- observation ------------------------------------------------------------------------- */

/* The live canonical text of a lab bridge: its record with the facts read from the host in
 * place of the recorded ones: the bridge's own addresses and whether its dnsmasq runs. */
static char *live_text(const VmnetBridgeCtx *c, const char *spec, const HostLinkInfo *l,
                       const char *lab, const char *key)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    for (const char *p = spec; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        _cleanup_free_ char *ln = strndup(p, n);
        p += n + (e ? 1 : 0);
        if (!ln)
            continue;
        if (strncmp(ln, "host=", 5) == 0 || strncmp(ln, "gateway=", 8) == 0) {
            uint32_t ip;
            bool has = false;
            if (addr_ipv4_parse(strchr(ln, '=') + 1, &ip) == 0)
                for (size_t i = 0; i < l->n_ipv4; i++)
                    has |= l->ipv4[i] == ip;
            if (!has) {
                /* the address is gone from the bridge: the line says so */
                fprintf(f, "%.*s(missing)\n", (int)(strchr(ln, '=') - ln + 1), ln);
                continue;
            }
        } else if (strcmp(ln, "live.dnsmasq=running") == 0) {
            _cleanup_free_ char *dir = net_dir(c, lab, key);
            DnsmasqPaths dp = {0};
            bool runs = dir && dnsmasq_paths_init(&dp, dir) == 0 && dnsmasq_find(&dp) > 0;
            dnsmasq_paths_clear(&dp);
            fprintf(f, "live.dnsmasq=%s\n", runs ? "running" : "stopped");
            continue;
        }
        fprintf(f, "%s\n", ln);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int observed_push(Observed **v, size_t *n, Observed *o)
{
    Observed *nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv) {
        observed_clear(o);
        return -ENOMEM;
    }
    *v = nv;
    nv[(*n)++] = *o;
    return 0;
}

/* A lab bridge (alias "kvmlab lab= key=") as an Observed. */
static int observe_lab_bridge(const VmnetBridgeCtx *c, const HostLinkInfo *l, char *lab, char *key,
                              Observed *o)
{
    _cleanup_free_ char *dir = net_dir(c, lab, key);
    _cleanup_free_ char *file = dir ? fs_path_join(dir, "spec") : NULL;
    char *spec = NULL;
    *o = (Observed){.kind = RESOURCE_BRIDGE, .lab = lab, .key = key, .active = l->up};
    if (!file)
        return -ENOMEM;
    if (fs_read_all(file, &spec, NULL, NULL) >= 0) {
        o->spec = spec;
        o->definition = strdup(spec);
        o->live_spec = live_text(c, spec, l, lab, key);
        o->name = spec_text_get(spec, "name");
        _cleanup_free_ char *sub = spec_text_get(spec, "subnet");
        _cleanup_free_ char *type = spec_text_get(spec, "type");
        if (sub && addr_cidr_parse(sub, &o->subnet) == 0 && type && strcmp(type, "isolated") != 0)
            o->has_subnet = true;
        if (asprintf(&o->hash, "%016llx",
                     (unsigned long long)hash_fnv1a(HASH_FNV_INIT, spec, strlen(spec))) < 0)
            o->hash = NULL;
    }
    if (!o->name && asprintf(&o->name, "%s-%s", lab, key) < 0)
        o->name = NULL;
    o->bridge = strdup(l->name);
    o->autostart = true;
    return o->name && o->bridge ? 0 : -ENOMEM;
}

/* The labs that bridge NIC @nic: "LAB KEY" lines of STATE/bridged/NIC/users. */
static int observe_nic_users(const VmnetBridgeCtx *c, const char *nic, const HostLinkInfo *br,
                             Observed **v, size_t *n)
{
    _cleanup_free_ char *dir = nic_dir(c, nic);
    _cleanup_free_ char *file = dir ? fs_path_join(dir, "users") : NULL;
    _cleanup_free_ char *text = NULL;
    if (!file)
        return -ENOMEM;
    if (fs_read_all(file, &text, NULL, NULL) < 0)
        return 0;
    for (char *save = NULL, *ln = strtok_r(text, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        char lab[128], key[128];
        if (sscanf(ln, "%127s %127s", lab, key) != 2)
            continue;
        _cleanup_free_ char *ndir = net_dir(c, lab, key);
        _cleanup_free_ char *sfile = ndir ? fs_path_join(ndir, "spec") : NULL;
        char *spec = NULL;
        if (!sfile)
            return -ENOMEM;
        Observed o = {.kind = RESOURCE_BRIDGE, .lab = strdup(lab), .key = strdup(key)};
        if (fs_read_all(sfile, &spec, NULL, NULL) >= 0) {
            o.spec = spec;
            o.definition = strdup(spec);
            o.name = spec_text_get(spec, "name");
            if (asprintf(&o.hash, "%016llx",
                         (unsigned long long)hash_fnv1a(HASH_FNV_INIT, spec, strlen(spec))) < 0)
                o.hash = NULL;
        }
        if (!o.name && asprintf(&o.name, "%s-%s", lab, key) < 0)
            o.name = NULL;
        /* the NIC's bridge is there and the NIC is its port: running */
        o.active = br != NULL;
        o.autostart = true;
        if (!o.lab || !o.key || !o.name) {
            observed_clear(&o);
            return -ENOMEM;
        }
        int r = observed_push(v, n, &o);
        if (r < 0)
            return r;
    }
    return 0;
}

/* A lab network's record in this namespace: "LAB KEY BRIDGE" of STATE/labs/LAB/net/KEY/spec
 * whose netns file names this namespace (bridged networks are recorded per NIC instead). */
typedef struct Record {
    char *lab, *key, *bridge;
    bool seen; /* its bridge was found */
} Record;

static const char *ns_name(const VmnetBridgeCtx *c)
{
    return c->netns ? c->netns : "host";
}

static int records_read(const VmnetBridgeCtx *c, Record **ret, size_t *ret_n)
{
    _cleanup_free_ char *labs = fs_path_join(c->state_root, "labs");
    Record *v = NULL;
    size_t n = 0;
    DIR *d = labs ? opendir(labs) : NULL;
    struct dirent *de;
    int r = labs ? 0 : -ENOMEM;
    while (d && r >= 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *nd = NULL;
        if (asprintf(&nd, "%s/%s/net", labs, de->d_name) < 0) {
            r = -ENOMEM;
            break;
        }
        DIR *d2 = opendir(nd);
        struct dirent *ke;
        while (d2 && r >= 0 && (ke = readdir(d2))) {
            if (ke->d_name[0] == '.')
                continue;
            _cleanup_free_ char *dir = net_dir(c, de->d_name, ke->d_name);
            _cleanup_free_ char *nsf = dir ? fs_path_join(dir, "netns") : NULL;
            _cleanup_free_ char *specf = dir ? fs_path_join(dir, "spec") : NULL;
            _cleanup_free_ char *ns = NULL, *spec = NULL;
            if (!nsf || !specf) {
                r = -ENOMEM;
                break;
            }
            if (fs_read_all(nsf, &ns, NULL, NULL) < 0 || strcmp(ns, ns_name(c)) != 0 ||
                fs_read_all(specf, &spec, NULL, NULL) < 0)
                continue;
            Record *nv = realloc(v, (n + 1) * sizeof(*nv));
            if (!nv) {
                r = -ENOMEM;
                break;
            }
            v = nv;
            v[n] = (Record){.lab = strdup(de->d_name),
                            .key = strdup(ke->d_name),
                            .bridge = spec_text_get(spec, "bridge")};
            if (!v[n].lab || !v[n].key || !v[n].bridge) {
                free(v[n].lab);
                free(v[n].key);
                free(v[n].bridge);
                continue;
            }
            n++;
        }
        if (d2)
            closedir(d2);
    }
    if (d)
        closedir(d);
    *ret = v;
    *ret_n = n;
    return r;
}

static void records_free(Record *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].lab);
        free(v[i].key);
        free(v[i].bridge);
    }
    free(v);
}

/* A recorded lab network whose bridge is not there (deleted by hand, a reboot): inactive, so
 * `up` makes it again (start) and `down` still stops its dnsmasq and lets go of its sysctls. */
static int observe_record_only(const VmnetBridgeCtx *c, const Record *rec, Observed *o)
{
    _cleanup_free_ char *dir = net_dir(c, rec->lab, rec->key);
    _cleanup_free_ char *file = dir ? fs_path_join(dir, "spec") : NULL;
    char *spec = NULL;
    *o = (Observed){.kind = RESOURCE_BRIDGE, .autostart = true};
    if (!file || fs_read_all(file, &spec, NULL, NULL) < 0)
        return -ENOMEM;
    o->spec = spec;
    o->lab = strdup(rec->lab);
    o->key = strdup(rec->key);
    o->definition = strdup(spec);
    o->name = spec_text_get(spec, "name");
    o->bridge = strdup(rec->bridge);
    if (asprintf(&o->hash, "%016llx",
                 (unsigned long long)hash_fnv1a(HASH_FNV_INIT, spec, strlen(spec))) < 0)
        o->hash = NULL;
    _cleanup_free_ char *sub = spec_text_get(spec, "subnet");
    if (sub && addr_cidr_parse(sub, &o->subnet) == 0)
        o->has_subnet = true;
    return o->lab && o->key && o->definition && o->name && o->bridge && o->hash ? 0 : -ENOMEM;
}

static int observe(void *ctx, Observed **ret, size_t *ret_n, Error *err)
{
    const VmnetBridgeCtx *c = ctx;
    _cleanup_(hostlink_freep) HostLink *h = NULL;
    HostLinkInfo *links = NULL;
    size_t n_links = 0;
    Record *recs = NULL;
    size_t n_recs = 0;
    Observed *v = NULL;
    size_t n = 0;
    int r = hostlink_open(c->netns, &h, err);
    if (r < 0)
        return r;
    r = hostlink_list(h, &links, &n_links, err);
    if (r < 0)
        return r;
    r = records_read(c, &recs, &n_recs);
    for (size_t i = 0; i < n_links && r >= 0; i++) {
        const HostLinkInfo *l = &links[i];
        char *lab = NULL, *key = NULL;
        Observed o;
        if (strcmp(l->kind, "bridge") != 0)
            continue;
        Record *rec = NULL;
        for (size_t k = 0; k < n_recs && !rec; k++)
            if (strcmp(recs[k].bridge, l->name) == 0)
                rec = &recs[k];
        if (alias_parse(l->alias, &lab, &key) ||
            /* made, but killed before its alias was set: the record knows it */
            (!l->alias && rec && (lab = strdup(rec->lab)) && (key = strdup(rec->key)))) {
            if (rec)
                rec->seen = true;
            r = observe_lab_bridge(c, l, lab, key, &o);
            if (r >= 0)
                r = observed_push(&v, &n, &o);
            else
                observed_clear(&o);
        } else if (l->alias && strncmp(l->alias, HOSTLINK_ALIAS_PREFIX "nic=", 11) == 0) {
            r = observe_nic_users(c, l->alias + 11, l, &v, &n);
        } else {
            free(lab);
            free(key);
            /* a bridge kvmlab did not make: its name is taken (named apart from ours, so a
             * network whose backend changes never clashes with its own old bridge by name) */
            o = (Observed){.kind = RESOURCE_BRIDGE, .active = l->up};
            if (asprintf(&o.name, "link:%s", l->name) < 0 || !(o.bridge = strdup(l->name))) {
                observed_clear(&o);
                r = -ENOMEM;
            } else {
                r = observed_push(&v, &n, &o);
            }
        }
    }
    for (size_t k = 0; k < n_recs && r >= 0; k++) {
        Observed o;
        if (recs[k].seen)
            continue;
        r = observe_record_only(c, &recs[k], &o);
        if (r >= 0)
            r = observed_push(&v, &n, &o);
        else
            observed_clear(&o);
    }
    /* labs bridging a NIC whose bridge is gone (removed by hand): recorded, not running */
    _cleanup_free_ char *bdir = NULL;
    if (r >= 0 && asprintf(&bdir, "%s/bridged/%s", c->state_root, ns_name(c)) >= 0) {
        DIR *d = opendir(bdir);
        struct dirent *de;
        while (d && (de = readdir(d)) && r >= 0) {
            if (de->d_name[0] == '.')
                continue;
            _cleanup_free_ char *brname = vmnet_nic_bridge_name(de->d_name);
            bool there = false;
            for (size_t i = 0; brname && i < n_links; i++)
                there |= strcmp(links[i].name, brname) == 0;
            if (!there)
                r = observe_nic_users(c, de->d_name, NULL, &v, &n);
        }
        if (d)
            closedir(d);
    }
    records_free(recs, n_recs);
    for (size_t i = 0; i < n_links; i++)
        host_link_info_clear(&links[i]);
    free(links);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            observed_clear(&v[i]);
        free(v);
        return r == -ENOMEM ? error_set(err, r, "Out of memory") : r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

/* --- making ------------------------------------------------------------------------------ */

/* The DNS servers of this host's /etc/resolv.conf that a guest's queries can reach through
 * dnsmasq: none in a sandbox (it has no uplink), none on loopback (a local resolver listens
 * on the host only). */
static size_t upstream_servers(const VmnetBridgeCtx *c, uint32_t *v, size_t max)
{
    _cleanup_free_ char *text = NULL;
    size_t n = 0;
    if (c->netns || fs_read_all("/etc/resolv.conf", &text, NULL, NULL) < 0)
        return 0;
    for (char *save = NULL, *ln = strtok_r(text, "\n", &save); ln && n < max;
         ln = strtok_r(NULL, "\n", &save)) {
        char a[64];
        uint32_t ip;
        if (sscanf(ln, " nameserver %63s", a) == 1 && addr_ipv4_parse(a, &ip) == 0 &&
            (ip >> 24) != 127)
            v[n++] = ip;
    }
    return n;
}

/* dnsmasq of @s as it should be: files written, and running (started, restarted when its
 * configuration changed, told to re-read its hosts files when only they changed). */
static int dnsmasq_converge(const VmnetBridgeCtx *c, const VmnetSpec *s, const char *dir,
                            Error *err)
{
    DnsmasqPaths dp = {0};
    _cleanup_free_ char *conf = NULL, *hosts = NULL, *addn = NULL, *old_conf = NULL,
                        *old_hosts = NULL, *old_addn = NULL;
    uint32_t up[4];
    size_t n_up = upstream_servers(c, up, 4);
    int r = dnsmasq_paths_init(&dp, dir);
    if (r < 0)
        return error_set(err, r, "Out of memory");
    r = dnsmasq_conf_build(s, &dp, up, n_up, &conf, err);
    if (r < 0)
        goto out;
    hosts = dnsmasq_hosts_build(s);
    addn = dnsmasq_addn_hosts_build(s);
    if (!hosts || !addn) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto out;
    }
    (void)fs_read_all(dp.conf, &old_conf, NULL, NULL);
    (void)fs_read_all(dp.hosts, &old_hosts, NULL, NULL);
    (void)fs_read_all(dp.addn_hosts, &old_addn, NULL, NULL);
    pid_t pid = dnsmasq_find(&dp);
    bool conf_same = old_conf && strcmp(old_conf, conf) == 0;
    bool hosts_same =
            old_hosts && strcmp(old_hosts, hosts) == 0 && old_addn && strcmp(old_addn, addn) == 0;
    if (pid > 0 && conf_same && hosts_same)
        goto out; /* re-adopted as it is */
    if (pid > 0 && !conf_same) {
        r = dnsmasq_stop(pid, &dp, err);
        if (r < 0)
            goto out;
        pid = 0;
    }
    r = dnsmasq_files_write(&dp, conf, hosts, addn, err);
    if (r < 0)
        goto out;
    if (pid > 0)
        r = dnsmasq_reload(pid, err);
    else
        r = dnsmasq_start(c->netns, &dp, &pid, err);
out:
    dnsmasq_paths_clear(&dp);
    return r;
}

/* dnsmasq drops to an unprivileged user and then reads its hosts files: the directories above
 * them must let others through (search only, never listing). kvmlab's state root may have been
 * made 0700 by whatever ran first (the lab lock); search permission is added, nothing else. */
static int state_searchable(const VmnetBridgeCtx *c, const char *lab, Error *err)
{
    _cleanup_free_ char *labs = NULL, *labdir = NULL;
    if (asprintf(&labs, "%s/labs", c->state_root) < 0 ||
        asprintf(&labdir, "%s/labs/%s", c->state_root, lab) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    const char *dirs[] = {c->state_root, labs, labdir};
    for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
        struct stat st;
        if (stat(dirs[i], &st) < 0)
            continue;
        if ((st.st_mode & 0011) != 0011 && chmod(dirs[i], (st.st_mode & 07777) | 0011) < 0)
            return error_set_errno(err, -errno, "Cannot let dnsmasq through '%s'", dirs[i]);
    }
    return 0;
}

static int dnsmasq_stop_in(const char *dir, Error *err)
{
    DnsmasqPaths dp = {0};
    if (!dir || dnsmasq_paths_init(&dp, dir) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    int r = dnsmasq_stop(dnsmasq_find(&dp), &dp, err);
    dnsmasq_paths_clear(&dp);
    return r;
}

static char *holder_name(const char *lab, const char *key)
{
    char *h = NULL;
    if (asprintf(&h, "%s/%s", lab, key) < 0)
        return NULL;
    return h;
}

/* Whether link @name is there: a failed look is an error, never "absent". */
static int link_exists(HostLink *h, const char *name, bool *ret, Error *err)
{
    HostLinkInfo l = {0};
    Error why = ERROR_INIT;
    int r = hostlink_get(h, name, &l, &why);
    host_link_info_clear(&l);
    *ret = r >= 0;
    if (r < 0 && r != -ENODEV) {
        r = error_set(err, r, "%s", why.message ? why.message : "Cannot look at the bridge");
        error_clear(&why);
        return r;
    }
    error_clear(&why);
    return 0;
}

/* Is link @name the bridge of lab @lab's network @key: its alias says so, or it has none (made
 * and killed before the alias was set)? Never a link someone else named so since. */
static bool link_is_ours(HostLink *h, const char *name, const char *lab, const char *key)
{
    HostLinkInfo l = {0};
    char *a_lab = NULL, *a_key = NULL;
    bool ours = false;
    if (hostlink_get(h, name, &l, NULL) < 0)
        return false;
    if (!l.alias)
        ours = strcmp(l.kind, "bridge") == 0;
    else if (alias_parse(l.alias, &a_lab, &a_key))
        ours = strcmp(a_lab, lab) == 0 && strcmp(a_key, key) == 0;
    free(a_lab);
    free(a_key);
    host_link_info_clear(&l);
    return ours;
}

/* A lab bridge of @s with its addresses, forwarding and dnsmasq, as @s says. Also converges an
 * existing one (update, start): every step is idempotent. */
static int lab_bridge_converge(const VmnetBridgeCtx *c, const VmnetSpec *s, bool *ret_made,
                               Error *err)
{
    _cleanup_(hostlink_freep) HostLink *h = NULL;
    _cleanup_free_ char *dir = net_dir(c, s->lab, s->key);
    _cleanup_free_ char *file = dir ? fs_path_join(dir, "spec") : NULL;
    _cleanup_free_ char *text = vmnet_spec_format(s);
    _cleanup_free_ char *alias = NULL, *what = NULL, *holder = holder_name(s->lab, s->key);
    if (!file || !text || !holder ||
        asprintf(&alias, HOSTLINK_ALIAS_PREFIX "lab=%s key=%s", s->lab, s->key) < 0 ||
        asprintf(&what, "bridge:%s", s->key) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    /* the record first: a crash after it leaves a record of nothing (ignored), never a bridge
     * that looks foreign */
    _cleanup_free_ char *nsfile = fs_path_join(dir, "netns");
    if (!nsfile)
        return error_set(err, -ENOMEM, "Out of memory");
    int r = fs_mkdir_p(dir, 0755, err);
    if (r >= 0)
        r = fs_write_atomic(nsfile, ns_name(c), 0644, err);
    if (r >= 0)
        r = fs_write_atomic(file, text, 0644, err);
    if (r >= 0)
        r = hostlink_open(c->netns, &h, err);
    if (r < 0)
        return r;
    bool exists = false;
    r = link_exists(h, s->bridge, &exists, err);
    if (r < 0)
        return r;
    if (!exists) {
        /* a fixed MAC, so a re-created bridge looks the same to guests and ARP caches */
        MacAddr mac = addr_mac_derive(s->lab, what, 0);
        r = hostlink_bridge_add(h, s->bridge, &mac, alias, err);
        if (r < 0)
            return r;
        if (ret_made)
            *ret_made = true;
    }
    if (s->host_ip) {
        HostAddr a = host_addr_ipv4(s->host_ip, s->subnet.prefix, s->bridge);
        r = hostlink_addr_add(h, s->bridge, &a, err);
        if (r < 0)
            return r;
    }
    if (s->gateway_ip && s->type == VMNET_NAT) {
        HostAddr a = host_addr_ipv4(s->gateway_ip, s->subnet.prefix, s->bridge);
        r = hostlink_addr_add(h, s->bridge, &a, err);
        if (r < 0)
            return r;
    }
    if (s->type == VMNET_NAT) {
        r = sysctl_hold(c, "net/ipv4/ip_forward", "1", holder, err);
        if (r < 0)
            return r;
    }
    if (s->dhcp) {
        r = state_searchable(c, s->lab, err);
        return r < 0 ? r : dnsmasq_converge(c, s, dir, err);
    }
    return dnsmasq_stop_in(dir, err);
}

static int lab_bridge_remove(const VmnetBridgeCtx *c, const Observed *have, Error *err)
{
    _cleanup_(hostlink_freep) HostLink *h = NULL;
    _cleanup_free_ char *dir = net_dir(c, have->lab, have->key);
    _cleanup_free_ char *holder = holder_name(have->lab, have->key);
    if (!dir || !holder)
        return error_set(err, -ENOMEM, "Out of memory");
    int r = dnsmasq_stop_in(dir, err);
    if (r >= 0)
        r = hostlink_open(c->netns, &h, err);
    if (r >= 0 && have->bridge && link_is_ours(h, have->bridge, have->lab, have->key))
        r = hostlink_link_del(h, have->bridge, err);
    if (r >= 0)
        r = sysctl_release(c, "net/ipv4/ip_forward", holder, err);
    if (r >= 0)
        r = fs_rm_rf(dir, err);
    if (r >= 0) {
        /* the lab's net directory goes with its last network */
        _cleanup_free_ char *parent = NULL;
        if (asprintf(&parent, "%s/labs/%s/net", c->state_root, have->lab) >= 0)
            rmdir(parent);
    }
    return r;
}

/* --- a host NIC moved onto the bridge every lab bridging it shares --------------------------- */

static int nic_attach(const VmnetBridgeCtx *c, const VmnetSpec *s, Error *err)
{
    _cleanup_close_ int lock = state_lock(c, "bridged", err);
    if (lock < 0)
        return lock;
    _cleanup_free_ char *dir = nic_dir(c, s->interface);
    _cleanup_free_ char *users = dir ? fs_path_join(dir, "users") : NULL;
    _cleanup_free_ char *snapfile = dir ? fs_path_join(dir, "snapshot") : NULL;
    _cleanup_free_ char *ndir = net_dir(c, s->lab, s->key);
    _cleanup_free_ char *nfile = ndir ? fs_path_join(ndir, "spec") : NULL;
    _cleanup_free_ char *text = vmnet_spec_format(s), *alias = NULL, *line = NULL, *list = NULL;
    _cleanup_(hostlink_freep) HostLink *h = NULL;
    if (!users || !snapfile || !nfile || !text ||
        asprintf(&alias, HOSTLINK_ALIAS_PREFIX "nic=%s", s->interface) < 0 ||
        asprintf(&line, "%s %s\n", s->lab, s->key) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    int r = fs_mkdir_p(ndir, 0755, err);
    if (r >= 0)
        r = fs_write_atomic(nfile, text, 0644, err);
    if (r >= 0)
        r = fs_mkdir_p(dir, 0700, err);
    if (r >= 0)
        r = hostlink_open(c->netns, &h, err);
    if (r < 0)
        return r;
    bool exists = false;
    r = link_exists(h, s->bridge, &exists, err);
    if (r < 0)
        return r;
    (void)fs_read_all(users, &list, NULL, NULL);
    if (exists) {
        /* the NIC's bridge: kvmlab's for this NIC, with the NIC as its port */
        HostLinkInfo br = {0}, nic = {0};
        bool ok_alias = hostlink_get(h, s->bridge, &br, NULL) >= 0 && br.alias &&
                        strcmp(br.alias, alias) == 0;
        bool ok_port = hostlink_get(h, s->interface, &nic, NULL) >= 0 &&
                       strcmp(nic.master, s->bridge) == 0;
        host_link_info_clear(&br);
        host_link_info_clear(&nic);
        if (!ok_alias)
            return error_set(err, -EEXIST,
                             "Bridge '%s' exists and is not kvmlab's bridge for '%s'; remove or "
                             "rename it",
                             s->bridge, s->interface);
        _cleanup_free_ char *st = NULL;
        if ((!list || !*list) && fs_read_all(snapfile, &st, NULL, NULL) >= 0) {
            /* no lab recorded yet, a snapshot kept: a move that was stopped half-way (the users
             * are written last); put the NIC back as it was, then move it again */
            _cleanup_(nic_snapshot_freep) NicSnapshot *old = NULL;
            r = nic_snapshot_parse(st, &old, err);
            if (r >= 0)
                r = hostlink_nic_restore(h, old, s->bridge, err);
            if (r < 0)
                return r;
            unlink(snapfile);
            exists = false;
        } else if (!ok_port) {
            return error_set(err, -EBUSY,
                             "'%s' is not a port of kvmlab's bridge '%s' any more; the labs "
                             "recorded in '%s' must go down first",
                             s->interface, s->bridge, users);
        }
    }
    if (!exists) {
        /* the first lab on this NIC: snapshot, kept before anything changes, then the move */
        _cleanup_(nic_snapshot_freep) NicSnapshot *snap = NULL;
        r = hostlink_nic_snapshot(h, s->interface, &snap, err);
        if (r < 0)
            return r;
        _cleanup_free_ char *st = nic_snapshot_format(snap);
        if (!st)
            return error_set(err, -ENOMEM, "Out of memory");
        r = fs_write_atomic(snapfile, st, 0600, err);
        if (r < 0)
            return r;
        r = hostlink_nic_to_bridge(h, snap, s->bridge, alias, GATEWAY_TIMEOUT_MS, err);
        if (r < 0) {
            /* put back already: nothing is left to remember */
            unlink(snapfile);
            return r;
        }
    }
    if (line_find(list, line))
        return 0;
    _cleanup_free_ char *more = NULL;
    if (asprintf(&more, "%s%s", list ? list : "", line) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    return fs_write_atomic(users, more, 0600, err);
}

static int nic_detach(const VmnetBridgeCtx *c, const Observed *have, Error *err)
{
    _cleanup_free_ char *nic = have->spec ? spec_text_get(have->spec, "interface") : NULL;
    _cleanup_free_ char *bridge = have->spec ? spec_text_get(have->spec, "bridge") : NULL;
    _cleanup_free_ char *ndir = net_dir(c, have->lab, have->key);
    if (!ndir)
        return error_set(err, -ENOMEM, "Out of memory");
    if (!nic || !bridge)
        return fs_rm_rf(ndir, err); /* no record of which NIC: nothing kvmlab can put back */
    _cleanup_close_ int lock = state_lock(c, "bridged", err);
    if (lock < 0)
        return lock;
    _cleanup_free_ char *dir = nic_dir(c, nic), *line = NULL, *list = NULL;
    _cleanup_free_ char *users = dir ? fs_path_join(dir, "users") : NULL;
    _cleanup_free_ char *snapfile = dir ? fs_path_join(dir, "snapshot") : NULL;
    if (!users || !snapfile || asprintf(&line, "%s %s\n", have->lab, have->key) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    (void)fs_read_all(users, &list, NULL, NULL);
    char *hit = line_find(list, line);
    if (hit)
        memmove(hit, hit + strlen(line), strlen(hit + strlen(line)) + 1);
    int r;
    if (list && *list) {
        /* other labs still bridge this NIC: the bridge stays */
        r = fs_write_atomic(users, list, 0600, err);
        return r < 0 ? r : fs_rm_rf(ndir, err);
    }
    _cleanup_free_ char *st = NULL;
    _cleanup_(nic_snapshot_freep) NicSnapshot *snap = NULL;
    _cleanup_(hostlink_freep) HostLink *h = NULL;
    if (fs_read_all(snapfile, &st, NULL, NULL) >= 0) {
        r = nic_snapshot_parse(st, &snap, err);
        if (r >= 0)
            r = hostlink_open(c->netns, &h, err);
        if (r < 0)
            return r;
        /* only a NIC that is still on kvmlab's bridge is put back: after a reboot the bridge
         * is gone and the NIC has what the host gave it since, which the old snapshot must not
         * overwrite */
        _cleanup_free_ char *alias = NULL;
        HostLinkInfo br = {0}, port = {0};
        if (asprintf(&alias, HOSTLINK_ALIAS_PREFIX "nic=%s", nic) < 0)
            return error_set(err, -ENOMEM, "Out of memory");
        bool on_ours = hostlink_get(h, bridge, &br, NULL) >= 0 && br.alias &&
                       strcmp(br.alias, alias) == 0 && hostlink_get(h, nic, &port, NULL) >= 0 &&
                       strcmp(port.master, bridge) == 0;
        host_link_info_clear(&br);
        host_link_info_clear(&port);
        if (on_ours) {
            r = hostlink_nic_restore(h, snap, bridge, err);
            if (r < 0)
                return r; /* the record stays: the next down tries again */
        }
    }
    unlink(snapfile);
    unlink(users);
    rmdir(dir);
    return fs_rm_rf(ndir, err);
}

/* --- the engine's callbacks -------------------------------------------------------------- */

/* What a create that failed half-way made goes again (the engine leaves a failed create to
 * its backend): the bridge only when this run made it, never one that was there before. */
static void create_undo(const VmnetBridgeCtx *c, const VmnetSpec *s, bool made)
{
    Error ignore = ERROR_INIT;
    _cleanup_free_ char *dir = net_dir(c, s->lab, s->key);
    if (made) {
        Observed o = {.kind = RESOURCE_BRIDGE,
                      .lab = s->lab,
                      .key = s->key,
                      .name = s->name,
                      .bridge = s->bridge};
        (void)lab_bridge_remove(c, &o, &ignore);
    } else if (dir) {
        (void)fs_rm_rf(dir, &ignore);
    }
    error_clear(&ignore);
}

static int create(void *ctx, const Resource *want, Error *err)
{
    const VmnetSpec *s = want->data;
    bool made = false;
    if (!s)
        return error_set(err, -EINVAL, "Network '%s' has no spec", want->key);
    int r = s->type == VMNET_BRIDGED ? nic_attach(ctx, s, err)
                                     : lab_bridge_converge(ctx, s, &made, err);
    if (r < 0)
        create_undo(ctx, s, made);
    return r;
}

static int update(void *ctx, const Resource *want, const Observed *have, Error *err)
{
    (void)have;
    const VmnetSpec *s = want->data;
    if (!s)
        return error_set(err, -EINVAL, "Network '%s' has no spec", want->key);
    /* a failed update is put back by the engine (restore from the observed record) */
    return s->type == VMNET_BRIDGED ? nic_attach(ctx, s, err)
                                    : lab_bridge_converge(ctx, s, NULL, err);
}

/* An object from its record alone (start, restore): the spec read back. */
static int from_record(void *ctx, const Observed *have, Error *err)
{
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = NULL;
    if (!have->definition)
        return error_set(err, -ENOENT, "Network '%s' has no record to make it from", have->name);
    int r = vmnet_spec_parse(have->definition, have->lab, have->key, &s, err);
    if (r < 0)
        return r;
    if (s->type == VMNET_BRIDGED)
        return nic_attach(ctx, s, err);
    return lab_bridge_converge(ctx, s, NULL, err);
}

static int start(void *ctx, const Observed *have, Error *err)
{
    return from_record(ctx, have, err);
}

static int remove_one(void *ctx, const Observed *have, Error *err)
{
    if (!have->lab)
        return error_set(err, -EPERM, "Bridge '%s' is not kvmlab's", have->name);
    _cleanup_free_ char *type = have->spec ? spec_text_get(have->spec, "type") : NULL;
    if (type && strcmp(type, "bridged") == 0)
        return nic_detach(ctx, have, err);
    return lab_bridge_remove(ctx, have, err);
}

static int restore(void *ctx, const Observed *have, Error *err)
{
    /* whatever carries the name now goes; then the object as its record describes it */
    _cleanup_free_ char *type = have->definition ? spec_text_get(have->definition, "type") : NULL;
    if (!(type && strcmp(type, "bridged") == 0)) {
        Error ignore = ERROR_INIT;
        _cleanup_free_ char *dir = net_dir(ctx, have->lab, have->key);
        (void)dnsmasq_stop_in(dir, &ignore);
        error_clear(&ignore);
    }
    return from_record(ctx, have, err);
}

void vmnet_bridge_backend(VmnetBridgeCtx *ctx, EngineBackend *ret)
{
    *ret = (EngineBackend){
            .kind = RESOURCE_BRIDGE,
            .label = "bridge",
            .observe = observe,
            .create = create,
            .start = start,
            .update = update,
            .remove = remove_one,
            .restore = restore,
            .ctx = ctx,
    };
}
