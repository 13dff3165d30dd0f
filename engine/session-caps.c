/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the hypervisor offers: asked of the lab's daemon, remembered for when none runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kvmlab/addr.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/session.h"
#include "kvmlab/storage.h"
#include "kvmlab/virt.h"

#define QEMU_BINARY "/usr/bin/qemu-system-x86_64"

/* One cache per host: every daemon on this machine runs the same QEMU, so the sandbox and a
 * local URI share "local"; a remote URI has its own. */
static char *cache_file(const LabSession *s, const char *machine)
{
    char host[64] = "local";
    if (!lab_session_local(s) && s->uri) {
        snprintf(host, sizeof(host), "%016llx",
                 (unsigned long long)hash_fnv1a_str(HASH_FNV_INIT, s->uri));
    } else {
        /* this machine's QEMU: an upgrade (a new binary) is a new answer */
        struct stat st;
        if (stat(QEMU_BINARY, &st) == 0)
            snprintf(host, sizeof(host), "local-%llx-%llx", (unsigned long long)st.st_mtime,
                     (unsigned long long)st.st_size);
    }
    char *p = NULL;
    if (asprintf(&p, "%s/cache/domcaps/%s-%s.xml", s->state_root, host, machine) < 0)
        return NULL;
    return p;
}

static int caps_one(LabSession *s, const char *machine, HvCaps *ret, bool *ret_found, Error *err)
{
    _cleanup_free_ char *file = cache_file(s, machine);
    _cleanup_free_ char *xml = NULL;
    *ret_found = false;
    if (!file)
        return error_set(err, -ENOMEM, "Out of memory");
    if (s->conn)
        xml = virConnectGetDomainCapabilities(s->conn, NULL, "x86_64", machine, NULL, 0);
    if (xml) {
        _cleanup_free_ char *dir = strdup(file);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash) {
            *slash = '\0';
            /* a cache that cannot be written costs only a later question */
            if (fs_mkdir_p(dir, 0755, NULL) >= 0)
                (void)fs_write_atomic(file, xml, 0644, NULL);
        }
    } else if (fs_read_all(file, &xml, NULL, NULL) < 0) {
        /* a daemon that cannot answer (libvirt's test driver) and nothing cached: not known */
        return 0;
    }
    int r = hv_caps_parse(xml, machine, ret, err);
    if (r < 0)
        return r;
    *ret_found = true;
    return 0;
}

int lab_session_caps(LabSession *s, char *const *machines, size_t n, HvCaps **ret, size_t *ret_n,
                     bool *ret_known, Error *err)
{
    HvCaps *v = calloc(n + 1, sizeof(*v));
    size_t k = 0;
    bool known = true;
    if (!v)
        return error_set(err, -ENOMEM, "Out of memory");
    for (size_t i = 0; i < n; i++) {
        bool found = false, dup = false;
        for (size_t j = 0; j < i; j++)
            dup |= strcmp(machines[i], machines[j]) == 0;
        if (dup)
            continue;
        int r = caps_one(s, machines[i], &v[k], &found, err);
        if (r < 0) {
            for (size_t j = 0; j < k; j++)
                hv_caps_clear(&v[j]);
            free(v);
            return r;
        }
        if (found)
            k++;
        else
            known = false;
    }
    *ret = v;
    *ret_n = k;
    *ret_known = known;
    return 0;
}

int lab_session_node_disks(LabSession *s, const LabNode *node, NodeDisks *ret, bool *ret_known,
                           Error *err)
{
    NodeDisks first = {0};
    *ret_known = false;
    int r = storage_node_disks(s->lab, node, NULL, 0, &first, err);
    if (r < 0)
        return r;
    /* the machine decides which answer of the hypervisor's counts */
    char *machines[1] = {first.machine.machine};
    HvCaps *caps = NULL;
    size_t n = 0;
    bool known = false;
    Error ignore = ERROR_INIT;
    if (lab_session_caps(s, machines, 1, &caps, &n, &known, &ignore) < 0)
        known = false;
    error_clear(&ignore);
    if (known) {
        r = storage_node_disks(s->lab, node, caps, n, ret, err);
        node_disks_clear(&first);
    } else {
        *ret = first;
    }
    for (size_t k = 0; k < n; k++)
        hv_caps_clear(&caps[k]);
    free(caps);
    *ret_known = known && r >= 0;
    return r;
}
