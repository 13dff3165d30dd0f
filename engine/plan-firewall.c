/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure: what the host's own firewall would drop of the lab's traffic, and the lab's allow rules
 * in the tables that drop it (a resource of its own when the user allows it, else notes). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/firewall.h"
#include "kvmlab/vmnet.h"
#include "planner.h"

/* @ruleset without the lines carrying this lab's allow comment: what would drop the lab's
 * traffic if kvmlab had not added its rules, so an allowed lab keeps wanting the same rules.
 * The comment is "kvmlab-allow lab=LAB" exactly (firewall.c writes it).
 * New string. */
static char *strip_ours(const char *ruleset, const char *lab)
{
    _cleanup_free_ char *mark = NULL;
    char *out = NULL;
    size_t len = 0;
    if (asprintf(&mark, "\"kvmlab-allow lab=%s\"", lab) < 0)
        return NULL;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    for (const char *l = ruleset; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l + 1) : strlen(l);
        if (!memmem(l, n, mark, strlen(mark)))
            fwrite(l, 1, n, f);
        l += n;
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

typedef struct FirewallWant {
    FirewallFinding *v;
    size_t n;
    char *text; /* every finding's allow rules, hashed comments */
} FirewallWant;

static void firewall_want_free(void *d)
{
    FirewallWant *w = d;
    if (!w)
        return;
    firewall_findings_free(w->v, w->n);
    free(w->text);
    free(w);
}

int plan_firewall(const Lab *lab, const HostState *host, Plan *p, Error *err)
{
    if (!host->ruleset)
        return 0;
    const char **bridges = calloc(p->n_want + 1, sizeof(*bridges));
    Ipv4Net *subnets = calloc(p->n_want + 1, sizeof(*subnets));
    FirewallLab fl = {.lab = lab->name, .bridges = bridges, .subnets = subnets};
    FirewallFinding *v = NULL;
    size_t n = 0;
    int r = -ENOMEM;
    _cleanup_free_ char *theirs = NULL, *all = NULL;

    if (!bridges || !subnets)
        goto out;
    for (size_t i = 0; i < p->n_want; i++) {
        const Resource *w = &p->want[i];
        const VmnetSpec *s = w->data;
        if ((w->kind != RESOURCE_NETWORK && w->kind != RESOURCE_BRIDGE) || !s)
            continue;
        if (s->bridge && *s->bridge)
            bridges[fl.n_bridges++] = s->bridge;
        if (s->has_subnet && s->type != VMNET_ISOLATED && s->type != VMNET_BRIDGED)
            subnets[fl.n_subnets++] = s->subnet;
    }
    if (fl.n_bridges == 0) {
        r = 0;
        goto out;
    }
    theirs = strip_ours(host->ruleset, lab->name);
    if (!theirs)
        goto out;
    r = firewall_scan(theirs, host->br_nf_call_iptables, &fl, &v, &n, err);
    if (r < 0)
        goto out;
    if (n == 0)
        goto out;
    if (!host->firewall_allow) {
        for (size_t i = 0; i < n; i++) {
            char *note = NULL;
            if (asprintf(&note,
                         "%s: %s drops the lab's traffic%s%s%s; `up --allow-firewall` (or "
                         "'firewall: allow') adds:\n%s",
                         v[i].who, v[i].where, v[i].bridge ? " on '" : "",
                         v[i].bridge ? v[i].bridge : "", v[i].bridge ? "'" : "",
                         v[i].allow ? v[i].allow : "") < 0 ||
                add_note(p, note) < 0) {
                r = -ENOMEM;
                goto out;
            }
        }
        r = 0;
        goto out;
    }
    /* allowed: one resource holds every rule, each once (br_netfilter repeats the forward
     * allows) */
    all = firewall_allow_build(v, n);
    if (!all)
        goto out;
    FirewallWant *fw = calloc(1, sizeof(*fw));
    if (!fw || plan_want_reserve(p, 1) < 0) {
        free(fw);
        goto out;
    }
    Resource *w = &p->want[p->n_want++];
    w->kind = RESOURCE_FIREWALL;
    w->key = strdup("firewall");
    w->name = strdup("firewall");
    w->data = fw;
    w->data_free = firewall_want_free;
    fw->v = steal_pointer(&v);
    fw->n = n;
    n = 0;
    fw->text = steal_pointer(&all);
    /* the backend adds the rules as this text has them (nft commands, one per line) and keeps
     * it as its record */
    w->spec = fw->text ? strdup(fw->text) : NULL;
    if (fw->text && asprintf(&w->hash, "%016llx",
                             (unsigned long long)hash_fnv1a_str(HASH_FNV_INIT, fw->text)) < 0)
        w->hash = NULL;
    if (!w->key || !w->name || !fw->text || !w->hash || !w->spec)
        goto out;
    r = 0;
out:
    firewall_findings_free(v, n);
    free(bridges);
    free(subnets);
    return r == -ENOMEM ? error_set(err, r, "Out of memory") : r;
}
