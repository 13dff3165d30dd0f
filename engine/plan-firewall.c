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
 * New string. */
static char *strip_ours(const char *ruleset, const char *lab)
{
    _cleanup_free_ char *mark = NULL;
    char *out = NULL;
    size_t len = 0;
    if (asprintf(&mark, "\"kvmlab-allow lab=%s", lab) < 0)
        return NULL;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    for (const char *l = ruleset; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l + 1) : strlen(l);
        const char *hit = memmem(l, n, mark, strlen(mark));
        /* the lab's name ends at a space or the closing quote: lab=a never takes lab=ab's */
        if (!(hit && (hit[strlen(mark)] == '"' || hit[strlen(mark)] == ' ')))
            fwrite(l, 1, n, f);
        l += n;
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* The allow text with a hash of itself in every comment, so observation (which only sees the
 * rules' comments) can tell whether the rules are the ones wanted. New string. */
static char *allow_hashed(const char *lab, const char *text, char **ret_hash)
{
    _cleanup_free_ char *mark = NULL, *with = NULL;
    char *out = NULL;
    size_t len = 0;
    if (asprintf(ret_hash, "%016llx",
                 (unsigned long long)hash_fnv1a_str(HASH_FNV_INIT, text)) < 0 ||
        asprintf(&mark, "\"kvmlab-allow lab=%s\"", lab) < 0 ||
        asprintf(&with, "\"kvmlab-allow lab=%s hash=%s\"", lab, *ret_hash) < 0)
        return NULL;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    for (const char *p = text; *p;) {
        const char *hit = strstr(p, mark);
        if (!hit) {
            fputs(p, f);
            break;
        }
        fwrite(p, 1, (size_t)(hit - p), f);
        fputs(with, f);
        p = hit + strlen(mark);
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
    /* allowed: one resource holds every rule */
    size_t len = 0;
    FILE *f = open_memstream(&all, &len);
    if (!f) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].allow)
            fprintf(f, "%s%s", v[i].allow,
                    *v[i].allow && v[i].allow[strlen(v[i].allow) - 1] == '\n' ? "" : "\n");
    if (fclose(f) != 0)
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
    fw->text = allow_hashed(lab->name, all, &w->hash);
    /* the backend adds the rules as this text has them (nft commands, one per line) */
    w->spec = fw->text ? strdup(fw->text) : NULL;
    if (!w->key || !w->name || !fw->text || !w->hash || !w->spec)
        goto out;
    r = 0;
out:
    firewall_findings_free(v, n);
    free(bridges);
    free(subnets);
    return r == -ENOMEM ? error_set(err, r, "Out of memory") : r;
}
