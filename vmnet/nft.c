/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure: the lab's nftables table for port forwards, as nft input text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/vmnet.h"

char *vmnet_nft_table_name(const char *lab)
{
    char *s = NULL;
    if (asprintf(&s, "kvmlab-%s", lab) < 0)
        return NULL;
    return s;
}

static void rules_write(FILE *f, const VmnetForwardSet *set)
{
    char ip[IPV4_STRLEN];
    for (size_t i = 0; i < set->n; i++) {
        const VmnetForward *fw = &set->forwards[i];
        /* only traffic for one of the host's own addresses is forwarded, as VMware does */
        fprintf(f, "\t\tfib daddr type local %s dport %u dnat to %s:%u comment \"%s\"\n",
                lab_proto_to_string(fw->proto), fw->host_port, addr_ipv4_format(fw->target_ip, ip),
                fw->target_port, fw->node ? fw->node : "");
    }
}

char *vmnet_nft_table_format(const VmnetForwardSet *set, const char *hash)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "table ip kvmlab-%s {\n", set->lab);
    fprintf(f, "\tcomment \"kvmlab lab=%s hash=%s\"\n", set->lab, hash);
    /* guests reach out under the host's address; as libvirt does, multicast and broadcast
     * stay untouched */
    fputs("\tchain postrouting {\n"
          "\t\ttype nat hook postrouting priority srcnat; policy accept;\n",
          f);
    for (size_t i = 0; i < set->n_masquerade; i++) {
        char net[CIDR_STRLEN];
        addr_cidr_format(&set->masquerade[i], net);
        fprintf(f,
                "\t\tip saddr %s ip daddr != %s ip daddr != { 224.0.0.0/24, 255.255.255.255 } "
                "masquerade\n",
                net, net);
    }
    fputs("\t}\n", f);
    /* from outside the host */
    fputs("\tchain prerouting {\n"
          "\t\ttype nat hook prerouting priority dstnat; policy accept;\n",
          f);
    rules_write(f, set);
    fputs("\t}\n", f);
    /* from the host itself: locally made connections never pass prerouting */
    fputs("\tchain output {\n"
          "\t\ttype nat hook output priority -100; policy accept;\n",
          f);
    rules_write(f, set);
    fputs("\t}\n", f);
    fputs("}\n", f);
    fclose(f);
    return buf;
}

int vmnet_nft_comment_parse(const char *listing, char **ret_lab, char **ret_hash)
{
    const char *c = strstr(listing ? listing : "", "comment \"kvmlab lab=");
    char lab[64], hash[64];
    if (!c || sscanf(c, "comment \"kvmlab lab=%63s hash=%63[0-9a-f]\"", lab, hash) != 2)
        return -ENOENT;
    *ret_lab = strdup(lab);
    *ret_hash = strdup(hash);
    if (!*ret_lab || !*ret_hash) {
        free(*ret_lab);
        free(*ret_hash);
        *ret_lab = *ret_hash = NULL;
        return -ENOMEM;
    }
    return 0;
}

/*
 * Reading a live table back. The text listing is what libnftables prints by default and what
 * vmnet_nft_table_format() writes, so every rule kvmlab makes has one known spelling; a line
 * that is not one of them is reported as it is rather than guessed at.
 */

typedef struct NftFwd {
    char proto[4];
    unsigned host_port, target_port;
    uint32_t target_ip;
    int where; /* bit 0: prerouting, bit 1: output */
} NftFwd;

typedef struct NftEss {
    Ipv4Net *masq;
    size_t n_masq;
    NftFwd *fwd;
    size_t n_fwd;
    FILE *extra; /* chain= and other= lines, in listing order */
} NftEss;

/* The chains vmnet_nft_table_format() writes, with the priority as a number. */
static const struct {
    const char *name, *hook;
    int priority;
} nft_chains[] = {
        {"postrouting", "postrouting", 100},
        {"prerouting", "prerouting", -100},
        {"output", "output", -100},
};

static int masq_cmp(const void *a, const void *b)
{
    const Ipv4Net *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return (x->prefix > y->prefix) - (x->prefix < y->prefix);
}

static int fwd_cmp(const void *a, const void *b)
{
    const NftFwd *x = a, *y = b;
    int c = strcmp(x->proto, y->proto);
    if (c)
        return c;
    if (x->host_port != y->host_port)
        return x->host_port < y->host_port ? -1 : 1;
    if (x->target_ip != y->target_ip)
        return x->target_ip < y->target_ip ? -1 : 1;
    if (x->target_port != y->target_port)
        return x->target_port < y->target_port ? -1 : 1;
    return x->where - y->where;
}

/* Collapse runs of blanks into one space and trim both ends, in place. */
static char *squeeze(char *s)
{
    char *w = s;
    for (char *p = s; *p; p++) {
        bool blank = *p == ' ' || *p == '\t' || *p == '\r';
        if (blank && (w == s || w[-1] == ' '))
            continue;
        *w++ = blank ? ' ' : *p;
    }
    if (w > s && w[-1] == ' ')
        w--;
    *w = '\0';
    return s;
}

static int ess_add_masq(NftEss *e, const Ipv4Net *n)
{
    Ipv4Net *m = realloc(e->masq, (e->n_masq + 1) * sizeof(*m));
    if (!m)
        return -ENOMEM;
    e->masq = m;
    e->masq[e->n_masq++] = *n;
    return 0;
}

/* Record a forward seen in chain @bit; a second chain's copy of a known forward completes it. */
static int ess_add_fwd(NftEss *e, const NftFwd *f, int bit)
{
    for (size_t i = 0; i < e->n_fwd; i++) {
        NftFwd *o = &e->fwd[i];
        if (!(o->where & bit) && strcmp(o->proto, f->proto) == 0 && o->host_port == f->host_port &&
            o->target_ip == f->target_ip && o->target_port == f->target_port) {
            o->where |= bit;
            return 0;
        }
    }
    NftFwd *n = realloc(e->fwd, (e->n_fwd + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    e->fwd = n;
    e->fwd[e->n_fwd] = *f;
    e->fwd[e->n_fwd++].where = bit;
    return 0;
}

/* A postrouting rule exactly as vmnet_nft_table_format() writes it: 1 and the subnet. */
static int masq_rule_parse(const char *rule, Ipv4Net *ret)
{
    char cidr[CIDR_STRLEN + 1], want[256];
    if (sscanf(rule, "ip saddr %19s ", cidr) != 1 || addr_cidr_parse(cidr, ret) < 0)
        return 0;
    snprintf(want, sizeof(want),
             "ip saddr %s ip daddr != %s ip daddr != { 224.0.0.0/24, 255.255.255.255 } masquerade",
             cidr, cidr);
    return strcmp(rule, want) == 0;
}

/* A port forward rule as rules_write() writes it (the node comment is informational). */
static int fwd_rule_parse(const char *rule, NftFwd *ret)
{
    char proto[8], ip[IPV4_STRLEN + 1], want[256];
    unsigned hp, tp;
    NftFwd f = {0};
    if (sscanf(rule, "fib daddr type local %7s dport %u dnat to %15[0-9.]:%u", proto, &hp, ip,
               &tp) != 4 ||
        (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) || hp == 0 || hp > 65535 ||
        tp == 0 || tp > 65535 || addr_ipv4_parse(ip, &f.target_ip) < 0)
        return 0;
    int n = snprintf(want, sizeof(want), "fib daddr type local %s dport %u dnat to %s:%u", proto,
                     hp, ip, tp);
    if (strncmp(rule, want, (size_t)n) != 0 ||
        (rule[n] != '\0' && strncmp(rule + n, " comment \"", 10) != 0))
        return 0;
    memcpy(f.proto, proto, 4); /* "tcp" or "udp" with its NUL, checked above */
    f.host_port = hp;
    f.target_port = tp;
    *ret = f;
    return 1;
}

/* "type nat hook H priority P; policy X;" of chain @name: nothing when it is what kvmlab
 * writes, otherwise a chain= line. nft prints the standard priorities by name. */
static void chain_type_check(NftEss *e, const char *name, const char *line, bool *seen)
{
    char type[32], hook[32], prio[32], policy[32] = "accept";
    int p = 0;
    bool ok = sscanf(line, "type %31s hook %31s priority %31[^;]; policy %31[^;];", type, hook,
                     prio, policy) >= 3;
    if (ok) {
        if (strcmp(prio, "srcnat") == 0)
            p = 100;
        else if (strcmp(prio, "dstnat") == 0)
            p = -100;
        else {
            char *end;
            p = (int)strtol(prio, &end, 10);
            ok = *end == '\0';
        }
    }
    for (size_t i = 0; ok && i < ELEMENTSOF(nft_chains); i++)
        if (strcmp(nft_chains[i].name, name) == 0) {
            seen[i] = true;
            if (strcmp(type, "nat") == 0 && strcmp(hook, nft_chains[i].hook) == 0 &&
                p == nft_chains[i].priority && strcmp(policy, "accept") == 0)
                return;
        }
    fprintf(e->extra, "chain=%s: %s\n", name, line);
}

static char *ess_format(NftEss *e)
{
    char *buf = NULL;
    size_t len = 0;
    char net[CIDR_STRLEN], ip[IPV4_STRLEN];
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    /* qsort() of a NULL array is undefined even for zero elements (UBSan) */
    if (e->n_masq)
        qsort(e->masq, e->n_masq, sizeof(*e->masq), masq_cmp);
    if (e->n_fwd)
        qsort(e->fwd, e->n_fwd, sizeof(*e->fwd), fwd_cmp);
    for (size_t i = 0; i < e->n_masq; i++)
        fprintf(f, "masquerade=%s\n", addr_cidr_format(&e->masq[i], net));
    for (size_t i = 0; i < e->n_fwd; i++) {
        const NftFwd *w = &e->fwd[i];
        fprintf(f, "forward=%s/%u,%s:%u%s\n", w->proto, w->host_port,
                addr_ipv4_format(w->target_ip, ip), w->target_port,
                w->where == 1   ? " (prerouting only)"
                : w->where == 2 ? " (output only)"
                                : "");
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Canonical essentials of a table listing (see vmnet.h). */
int vmnet_nft_listing_essentials(const char *listing, char **ret_spec, Error *err)
{
    _cleanup_free_ char *copy = NULL, *extra = NULL, *head = NULL;
    size_t elen = 0;
    NftEss e = {0};
    bool in_table = false, seen[ELEMENTSOF(nft_chains)] = {false};
    char chain[64] = "";
    int depth = 0, r = 0;

    if (!listing)
        return error_set(err, -EINVAL, "Cannot read the table listing: it is empty");
    if (!(copy = strdup(listing)))
        return error_set(err, -ENOMEM, "Out of memory");
    if (!(e.extra = open_memstream(&extra, &elen)))
        return error_set(err, -ENOMEM, "Out of memory");

    char *save = NULL;
    for (char *l = strtok_r(copy, "\n", &save); l && r == 0; l = strtok_r(NULL, "\n", &save)) {
        squeeze(l);
        if (!*l)
            continue;
        if (!in_table) {
            in_table = strncmp(l, "table ", 6) == 0 && l[strlen(l) - 1] == '{';
            continue;
        }
        if (strcmp(l, "}") == 0) {
            if (depth > 0)
                depth--;
            if (depth == 0)
                chain[0] = '\0';
            continue;
        }
        if (depth == 0) {
            char name[64];
            if (sscanf(l, "chain %63s {", name) == 1 && l[strlen(l) - 1] == '{') {
                snprintf(chain, sizeof(chain), "%s", name);
                depth = 1;
            } else if (strncmp(l, "comment \"", 9) != 0) {
                /* sets, maps, flags: nothing kvmlab writes */
                fprintf(e.extra, "other=table: %s\n", l);
                if (l[strlen(l) - 1] == '{')
                    depth = 1;
            }
            continue;
        }
        if (depth > 1 || !chain[0]) {
            fprintf(e.extra, "other=table: %s\n", l);
            if (l[strlen(l) - 1] == '{')
                depth++;
            continue;
        }
        Ipv4Net n;
        NftFwd f;
        if (strncmp(l, "type ", 5) == 0)
            chain_type_check(&e, chain, l, seen);
        else if (strncmp(l, "comment \"", 9) == 0)
            continue;
        else if (strcmp(chain, "postrouting") == 0 && masq_rule_parse(l, &n))
            r = ess_add_masq(&e, &n);
        else if (strcmp(chain, "prerouting") == 0 && fwd_rule_parse(l, &f))
            r = ess_add_fwd(&e, &f, 1);
        else if (strcmp(chain, "output") == 0 && fwd_rule_parse(l, &f))
            r = ess_add_fwd(&e, &f, 2);
        else
            fprintf(e.extra, "other=%s: %s\n", chain, l);
    }
    if (r == 0 && !in_table)
        r = error_set(err, -EINVAL, "Cannot read the table listing: it has no 'table' line");
    for (size_t i = 0; r == 0 && i < ELEMENTSOF(nft_chains); i++)
        if (!seen[i])
            fprintf(e.extra, "chain=%s: missing\n", nft_chains[i].name);
    char *out = NULL;
    if (r == 0) {
        if (fclose(e.extra) != 0)
            r = -ENOMEM;
        e.extra = NULL;
        if (r == 0)
            out = ess_format(&e);
        if (!out || asprintf(&head, "%s%s", out, extra ? extra : "") < 0)
            r = -ENOMEM;
        free(out);
        if (r < 0)
            error_set(err, r, "Out of memory");
    }
    if (e.extra)
        fclose(e.extra);
    free(e.masq);
    free(e.fwd);
    if (r < 0)
        return r;
    *ret_spec = steal_pointer(&head);
    return 0;
}

/* The essentials of the table that vmnet_nft_table_format() makes of @set. New string. */
char *vmnet_nft_set_essentials(const VmnetForwardSet *set)
{
    NftEss e = {0};
    char *out = NULL;
    for (size_t i = 0; i < set->n_masquerade; i++)
        if (ess_add_masq(&e, &set->masquerade[i]) < 0)
            goto done;
    for (size_t i = 0; i < set->n; i++) {
        const VmnetForward *fw = &set->forwards[i];
        NftFwd f = {.host_port = fw->host_port,
                    .target_port = fw->target_port,
                    .target_ip = fw->target_ip};
        snprintf(f.proto, sizeof(f.proto), "%.3s", lab_proto_to_string(fw->proto));
        if (ess_add_fwd(&e, &f, 1) < 0 || ess_add_fwd(&e, &f, 2) < 0)
            goto done;
    }
    out = ess_format(&e);
done:
    free(e.masq);
    free(e.fwd);
    return out;
}
