/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Waiting for nodes: every node at once, polled twice a second. What a node is waiting for is
 * read from the host's side only: the domain's state, its console log (the guest prints its
 * report there when cloud-init is done), and the DHCP leases of its networks. Nothing needs a
 * route to the guest, so this works the same for a sandboxed lab.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/dnsmasq.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/interrupt.h"
#include "kvmlab/nodedomain.h"
#include "kvmlab/virt.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void node_wait_clear(NodeWait *w)
{
    if (!w)
        return;
    free(w->detail);
    free(w->address);
    free(w->warning);
    node_report_clear(&w->report);
    w->detail = w->address = w->warning = NULL;
}

char *node_log_tail(const char *path, int lines)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    if (fs_read_all(path, &text, &len, NULL) < 0 || !len)
        return strdup("");
    /* back from the end over @lines newlines (a last line without one counts too) */
    size_t start = len;
    int seen = 0;
    if (start && text[start - 1] == '\n')
        start--;
    while (start > 0) {
        if (text[start - 1] == '\n' && ++seen == lines)
            break;
        start--;
    }
    char *out = malloc(len - start + 1);
    size_t k = 0;
    if (!out)
        return NULL;
    for (size_t i = start; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\r')
            continue;
        out[k++] = (ch == '\n' || ch == '\t' || (ch >= 0x20 && ch != 0x7f)) ? (char)ch : '?';
    }
    out[k] = '\0';
    return out;
}

char *node_address_lookup(void *conn, const char *domain, const char *net_name, const MacAddr *mac)
{
    char m[MAC_STRLEN];
    char *found = NULL;
    addr_mac_format(mac, m);
    if (net_name && strncmp(net_name, "file:", 5) == 0) {
        /* kvmlab's own dnsmasq (bridge backend): its lease file; the newest lease wins */
        _cleanup_free_ char *text = NULL;
        DnsmasqLease *v = NULL;
        size_t n = 0;
        int64_t best = -1;
        if (fs_read_all(net_name + 5, &text, NULL, NULL) >= 0 &&
            dnsmasq_leases_parse(text, &v, &n, NULL) >= 0) {
            char ip[IPV4_STRLEN];
            for (size_t i = 0; i < n; i++) {
                int64_t e = v[i].expiry ? v[i].expiry : INT64_MAX;
                if (addr_mac_equal(&v[i].mac, mac) && e > best) {
                    best = e;
                    free(found);
                    found = strdup(addr_ipv4_format(v[i].ip, ip));
                }
            }
            dnsmasq_leases_free(v, n);
        }
        if (found)
            return found;
        net_name = NULL;
    }
    if (net_name) {
        _cleanup_network_ virNetworkPtr net = virNetworkLookupByName(conn, net_name);
        virNetworkDHCPLeasePtr *leases = NULL;
        int n = net ? virNetworkGetDHCPLeases(net, m, &leases, 0) : -1;
        for (int i = 0; i < n; i++) {
            if (!found && leases[i]->type == VIR_IP_ADDR_TYPE_IPV4 && leases[i]->ipaddr)
                found = strdup(leases[i]->ipaddr);
            virNetworkDHCPLeaseFree(leases[i]);
        }
        free(leases);
        if (found)
            return found;
    }
    /* a bridged network has no leases libvirt knows: ask the guest agent */
    _cleanup_domain_ virDomainPtr dom = domain ? virDomainLookupByName(conn, domain) : NULL;
    virDomainInterfacePtr *ifs = NULL;
    int n = dom ? virDomainInterfaceAddresses(dom, &ifs, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT,
                                              0)
                : -1;
    for (int i = 0; i < n; i++) {
        if (!found && ifs[i]->hwaddr && strcasecmp(ifs[i]->hwaddr, m) == 0)
            for (unsigned j = 0; j < ifs[i]->naddrs && !found; j++)
                if (ifs[i]->addrs[j].type == VIR_IP_ADDR_TYPE_IPV4)
                    found = strdup(ifs[i]->addrs[j].addr);
        virDomainInterfaceFree(ifs[i]);
    }
    free(ifs);
    return found;
}

static void set_detail(NodeWait *w, NodePhase phase, char *detail, bool *changed)
{
    if (!detail)
        return;
    if (w->phase != phase || !w->detail || strcmp(w->detail, detail) != 0)
        *changed = true;
    w->phase = phase;
    free(w->detail);
    w->detail = detail;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, f);
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* Add @text (taken) to what the user is told about @w, one sentence after another. */
static void warn_add(NodeWait *w, char *text)
{
    if (!text)
        return;
    if (!w->warning) {
        w->warning = text;
        return;
    }
    char *both = fmt("%s; %s", w->warning, text);
    free(text);
    if (both) {
        free(w->warning);
        w->warning = both;
    }
}

/* kvm that never runs the guest: restart it under tcg (accel auto) or fail (accel kvm). */
static void check_kvm_silence(virConnectPtr conn, NodeWait *w, double t0, bool *changed)
{
    struct stat st;
    if (!w->xml_tcg && !w->insist_kvm)
        return;
    if (w->fell_back || stat(w->console_log, &st) < 0 || st.st_size > 0)
        return;
    /* the log is made when QEMU starts: its age is how long the guest has said nothing */
    double age = (double)(time(NULL) - st.st_mtime);
    double waited = now_s() - t0;
    if (age < NODE_KVM_SILENT_S || waited < NODE_KVM_SILENT_S)
        return;
    if (w->insist_kvm) {
        set_detail(w, NODE_PHASE_FAILED,
                   fmt("kvm never ran the guest: its console stayed silent for %d s under kvm "
                       "(accel: kvm insists; 'accel: auto' would fall back to tcg)",
                       NODE_KVM_SILENT_S),
                   changed);
        return;
    }
    _cleanup_domain_ virDomainPtr dom = virDomainLookupByName(conn, w->domain);
    if (dom && virDomainIsActive(dom) == 1)
        (void)virDomainDestroy(dom);
    _cleanup_domain_ virDomainPtr tcg = virDomainDefineXML(conn, w->xml_tcg);
    (void)unlink(w->console_log);
    if (!tcg || virDomainCreate(tcg) < 0) {
        set_detail(w, NODE_PHASE_FAILED,
                   fmt("kvm never ran the guest, and starting it under tcg failed: %s",
                       virGetLastErrorMessage()),
                   changed);
        return;
    }
    w->fell_back = true;
    w->fallback_s = waited;
    warn_add(w, fmt("kvm never ran the guest (its console stayed silent for %d s): restarted "
                    "under tcg, which is slower; set 'accel: tcg' to skip the wait",
                    NODE_KVM_SILENT_S));
    set_detail(w, NODE_PHASE_BOOTING, strdup("restarted under tcg"), changed);
}

static const NodeCheck *failed_check(const NodeReport *r, bool packages_required)
{
    for (size_t i = 0; i < r->n_checks; i++) {
        const NodeCheck *c = &r->checks[i];
        if (!c->ok && !(c->warn && !(packages_required && strcmp(c->check, "packages") == 0)))
            return c;
    }
    return NULL;
}

static void poll_one(virConnectPtr conn, NodeWait *w, double t0, bool *changed)
{
    _cleanup_domain_ virDomainPtr dom = virDomainLookupByName(conn, w->domain);
    if (!dom || virDomainIsActive(dom) != 1) {
        set_detail(w, NODE_PHASE_FAILED,
                   strdup(dom ? "its domain stopped (the guest powered off or crashed)"
                              : "its domain is gone"),
                   changed);
        return;
    }
    check_kvm_silence(conn, w, t0, changed);
    if (w->phase == NODE_PHASE_FAILED)
        return;
    if (!w->address) {
        for (size_t i = 0; i < w->n_nics && !w->address; i++)
            w->address = node_address_lookup(conn, w->domain, w->net_names ? w->net_names[i] : NULL,
                                             &w->nics[i].mac);
        if (w->address)
            *changed = true;
    }
    if (!w->cloud_init) {
        if (w->address)
            set_detail(w, NODE_PHASE_READY, strdup("has an address"), changed);
        else
            set_detail(w, NODE_PHASE_ADDRESS, strdup("waiting for an address"), changed);
        return;
    }
    _cleanup_free_ char *log = NULL;
    size_t len = 0;
    if (fs_read_all(w->console_log, &log, &len, NULL) < 0 || !len) {
        set_detail(w, NODE_PHASE_BOOTING, strdup("booting (nothing on its console yet)"), changed);
        return;
    }
    NodeReport rep = {0};
    if (node_report_parse(log, len, &rep) < 0 || !rep.found) {
        node_report_clear(&rep);
        if (w->address)
            set_detail(w, NODE_PHASE_CLOUDINIT,
                       fmt("%s; waiting for cloud-init and its preflight report", w->address),
                       changed);
        else
            set_detail(w, NODE_PHASE_ADDRESS, strdup("booting; waiting for an address"), changed);
        return;
    }
    node_report_clear(&w->report);
    w->report = rep;
    if (!w->address && rep.n_addresses) {
        w->address = strdup(rep.addresses[0]);
        *changed = true;
    }
    /* a failed check says more than cloud-init's "error" it caused (kubeadm not installed) */
    const NodeCheck *bad = failed_check(&rep, w->packages_required);
    if (bad) {
        set_detail(
                w, NODE_PHASE_FAILED,
                fmt("preflight check '%s' failed: %s", bad->check, bad->detail ? bad->detail : ""),
                changed);
        return;
    }
    if (!rep.cloud_init || strcmp(rep.cloud_init, "done") != 0) {
        set_detail(w, NODE_PHASE_FAILED,
                   fmt("cloud-init ended with status '%s' (see 'cloud-init status --long' in "
                       "the guest)",
                       rep.cloud_init ? rep.cloud_init : "unknown"),
                   changed);
        return;
    }
    for (size_t i = 0; i < rep.n_checks; i++)
        if (rep.checks[i].warn)
            warn_add(w, fmt("%s: %s", rep.checks[i].check,
                            rep.checks[i].detail ? rep.checks[i].detail : ""));
    w->ready_s = now_s() - t0;
    set_detail(w, NODE_PHASE_READY, fmt("ready, %zu checks passed", rep.n_checks), changed);
}

static int fail_with(const NodeWait *w, int code, const char *what, Error *err)
{
    _cleanup_free_ char *tail = node_log_tail(w->console_log, 8);
    return error_set(err, code, "Node '%s' %s: %s; the last lines of its console (%s):\n%s",
                     w->node, what, w->detail ? w->detail : "no answer", w->console_log,
                     tail && *tail ? tail : "(empty)");
}

/* kubeadm's preflight, across nodes: what must differ between any two of them. */
static void check_unique(NodeWait *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const NodeReport *a = &w[i].report;
        if (w[i].phase != NODE_PHASE_READY || !a->found)
            continue;
        for (size_t j = 0; j < i; j++) {
            const NodeReport *b = &w[j].report;
            bool dummy = false;
            if (w[j].phase != NODE_PHASE_READY || !b->found)
                continue;
            if (a->product_uuid && b->product_uuid && *a->product_uuid &&
                strcmp(a->product_uuid, b->product_uuid) == 0)
                set_detail(&w[i], NODE_PHASE_FAILED,
                           fmt("its product_uuid %s is also node '%s''s: kubeadm needs them "
                               "unique",
                               a->product_uuid, w[j].node),
                           &dummy);
            if (a->hostname && b->hostname && strcmp(a->hostname, b->hostname) == 0)
                set_detail(&w[i], NODE_PHASE_FAILED,
                           fmt("its hostname '%s' is also node '%s''s: kubeadm needs them "
                               "unique",
                               a->hostname, w[j].node),
                           &dummy);
            for (size_t x = 0; x < a->n_macs; x++)
                for (size_t y = 0; y < b->n_macs; y++)
                    if (strcasecmp(a->macs[x], b->macs[y]) == 0)
                        set_detail(&w[i], NODE_PHASE_FAILED,
                                   fmt("its MAC %s is also on node '%s': kubeadm needs them "
                                       "unique",
                                       a->macs[x], w[j].node),
                                   &dummy);
        }
    }
}

int node_wait_all(void *conn, NodeWait *w, size_t n, int timeout_s, NodeWaitProgressFn progress,
                  void *userdata, Error *err)
{
    double t0 = now_s();
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++) {
            bool changed = false;
            if (w[i].phase != NODE_PHASE_READY && w[i].phase != NODE_PHASE_FAILED)
                poll_one(conn, &w[i], t0, &changed);
            if (changed && progress)
                progress(w, n, i, userdata);
            done += w[i].phase == NODE_PHASE_READY || w[i].phase == NODE_PHASE_FAILED;
        }
        if (done == n) {
            check_unique(w, n);
            break;
        }
        if (interrupt_pending())
            return error_set(err, -EINTR,
                             "Interrupted while waiting for the nodes (%s); they keep booting, "
                             "and the next 'up' waits for them again",
                             interrupt_signal_name());
        if (now_s() - t0 > timeout_s) {
            for (size_t i = 0; i < n; i++)
                if (w[i].phase != NODE_PHASE_READY)
                    return fail_with(&w[i], -ETIME, "was not ready in time", err);
        }
        usleep(500 * 1000);
    }
    for (size_t i = 0; i < n; i++)
        if (w[i].phase == NODE_PHASE_FAILED)
            return fail_with(&w[i], -EIO, "failed", err);
    return 0;
}
