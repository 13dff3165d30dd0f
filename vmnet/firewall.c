/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pure: host firewall awareness. Reads `nft list ruleset` text as libnftables prints it (with or
 * without handles) and names what would drop the lab's traffic, with the nft commands that let
 * the lab's bridges through. Never touches the host.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/firewall.h"

#define ALLOW_COMMENT "kvmlab-allow lab="

/* One chain of the listing: its rules as printed (indentation and "# handle N" taken off). */
typedef struct FwChain {
    char family[16];
    char table[128];
    char name[128];
    char hook[16]; /* "" for a regular chain */
    bool policy_drop;
    char **rules;
    long *handles; /* -1 when the listing has none */
    size_t n_rules;
} FwChain;

typedef struct FwRuleset {
    FwChain *chains;
    size_t n;
} FwRuleset;

static void ruleset_clear(FwRuleset *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        for (size_t k = 0; k < rs->chains[i].n_rules; k++)
            free(rs->chains[i].rules[k]);
        free(rs->chains[i].rules);
        free(rs->chains[i].handles);
    }
    free(rs->chains);
    rs->chains = NULL;
    rs->n = 0;
}

/* Net change in brace depth of @s, braces inside double quotes not counted. */
static int brace_delta(const char *s)
{
    int d = 0;
    bool quoted = false;
    for (; *s; s++) {
        if (*s == '"')
            quoted = !quoted;
        else if (!quoted && *s == '{')
            d++;
        else if (!quoted && *s == '}')
            d--;
    }
    return d;
}

/* Take a trailing " # handle N" off @line (in place); N in *ret_handle, -1 when absent. */
static void strip_handle(char *line, long *ret_handle)
{
    *ret_handle = -1;
    char *h = strstr(line, " # handle ");
    if (!h)
        return;
    char *end = NULL;
    long v = strtol(h + strlen(" # handle "), &end, 10);
    if (end && *end == '\0') {
        *ret_handle = v;
        *h = '\0';
    }
}

static int chain_add_rule(FwChain *c, const char *text, long handle)
{
    char **nr = realloc(c->rules, (c->n_rules + 1) * sizeof(*nr));
    if (!nr)
        return -ENOMEM;
    c->rules = nr;
    long *nh = realloc(c->handles, (c->n_rules + 1) * sizeof(*nh));
    if (!nh)
        return -ENOMEM;
    c->handles = nh;
    c->rules[c->n_rules] = strdup(text);
    if (!c->rules[c->n_rules])
        return -ENOMEM;
    c->handles[c->n_rules++] = handle;
    return 0;
}

/* The chains of @text. Blocks other than chains (sets, maps, ct helpers, flowtables) are skipped
 * by their braces. 0 or -ENOMEM. */
static int ruleset_parse(const char *text, FwRuleset *ret)
{
    FwRuleset rs = {0};
    char family[16] = "", table[128] = "";
    FwChain *cur = NULL;
    int depth = 0;
    for (const char *p = text; p && *p;) {
        size_t len = strcspn(p, "\n");
        _cleanup_free_ char *line = strndup(p, len);
        p += len;
        if (*p == '\n')
            p++;
        if (!line)
            goto oom;
        long handle;
        strip_handle(line, &handle);
        char *t = line + strspn(line, " \t");
        size_t tl = strlen(t);
        while (tl > 0 && (t[tl - 1] == ' ' || t[tl - 1] == '\t'))
            t[--tl] = '\0';
        if (tl == 0 || (depth == 0 && t[0] == '#'))
            continue;
        int delta = brace_delta(t);
        if (depth == 0 && delta == 1) {
            /* "table FAMILY NAME {" */
            if (sscanf(t, "table %15s %127s {", family, table) != 2)
                family[0] = table[0] = '\0';
        } else if (depth == 1 && delta == 1 && family[0] && strncmp(t, "chain ", 6) == 0) {
            FwChain *nc = realloc(rs.chains, (rs.n + 1) * sizeof(*nc));
            if (!nc)
                goto oom;
            rs.chains = nc;
            cur = &rs.chains[rs.n++];
            memset(cur, 0, sizeof(*cur));
            snprintf(cur->family, sizeof(cur->family), "%s", family);
            snprintf(cur->table, sizeof(cur->table), "%s", table);
            if (sscanf(t, "chain %127s {", cur->name) != 1)
                cur->name[0] = '\0';
        } else if (depth == 2 && delta == 0 && cur) {
            const char *hook = strstr(t, " hook ");
            if (strncmp(t, "type ", 5) == 0 && hook) {
                if (sscanf(hook, " hook %15s", cur->hook) != 1)
                    cur->hook[0] = '\0';
                cur->policy_drop = strstr(t, "policy drop;") != NULL;
            } else if (strncmp(t, "comment ", 8) != 0 && strncmp(t, "devices ", 8) != 0) {
                if (chain_add_rule(cur, t, handle) < 0)
                    goto oom;
            }
        }
        depth += delta;
        if (depth < 0)
            depth = 0;
        if (depth < 2)
            cur = NULL;
        if (depth == 0)
            family[0] = table[0] = '\0';
    }
    *ret = rs;
    return 0;
oom:
    ruleset_clear(&rs);
    return -ENOMEM;
}

/* @rule with leading "counter" statements (iptables-nft adds them to every rule) taken off. */
static const char *rule_verdict_part(const char *rule)
{
    for (;;) {
        if (strncmp(rule, "counter packets ", 16) == 0) {
            unsigned long long a, b;
            int used = 0;
            if (sscanf(rule, "counter packets %llu bytes %llu %n", &a, &b, &used) == 2 && used)
                rule += used;
            else
                return rule;
        } else if (strncmp(rule, "counter ", 8) == 0) {
            rule += 8;
        } else {
            return rule;
        }
    }
}

/* Whether @c drops what reaches its end: policy drop, or a last rule that drops or rejects
 * everything. A description for the finding in *ret_how (static or in @buf). */
static bool chain_drops(const FwChain *c, char *buf, size_t size, const char **ret_how)
{
    if (c->n_rules > 0) {
        const char *last = rule_verdict_part(c->rules[c->n_rules - 1]);
        if (strcmp(last, "drop") == 0 || strcmp(last, "reject") == 0 ||
            strncmp(last, "reject with ", 12) == 0) {
            snprintf(buf, size, "(last rule '%s')", last);
            *ret_how = buf;
            return true;
        }
    }
    if (c->policy_drop) {
        *ret_how = "(policy drop)";
        return true;
    }
    return false;
}

static const FwChain *ruleset_find(const FwRuleset *rs, const char *family, const char *table,
                                   const char *name)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->chains[i].family, family) == 0 && strcmp(rs->chains[i].table, table) == 0 &&
            strcmp(rs->chains[i].name, name) == 0)
            return &rs->chains[i];
    return NULL;
}

static bool table_has_chain_prefix(const FwRuleset *rs, const FwChain *c, const char *prefix)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->chains[i].family, c->family) == 0 &&
            strcmp(rs->chains[i].table, c->table) == 0 &&
            strncmp(rs->chains[i].name, prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

/* Whether @c jumps (or goes) to chain @target. */
static bool chain_jumps_to(const FwChain *c, const char *target)
{
    for (size_t i = 0; i < c->n_rules; i++) {
        const char *r = rule_verdict_part(c->rules[i]);
        if ((strncmp(r, "jump ", 5) == 0 || strncmp(r, "goto ", 5) == 0) &&
            strcmp(r + 5, target) == 0)
            return true;
    }
    return false;
}

static bool chain_has_rule(const FwChain *c, const char *rule)
{
    for (size_t i = 0; i < c->n_rules; i++)
        if (strcmp(c->rules[i], rule) == 0)
            return true;
    return false;
}

/* Who made @c, and the chain the allow rules go into (*ret_target). */
static const char *chain_owner(const FwRuleset *rs, const FwChain *c, const FwChain **ret_target)
{
    *ret_target = c;
    if (strcmp(c->hook, "forward") == 0) {
        const FwChain *user = ruleset_find(rs, c->family, c->table, "DOCKER-USER");
        /* Docker's own rules are rewritten on every restart; DOCKER-USER is the chain it
         * leaves to the administrator, and FORWARD jumps to it first */
        if (user && chain_jumps_to(c, "DOCKER-USER")) {
            *ret_target = user;
            return "Docker";
        }
        if (ruleset_find(rs, c->family, c->table, "DOCKER"))
            return "Docker";
    }
    if (table_has_chain_prefix(rs, c, "ufw-") || table_has_chain_prefix(rs, c, "ufw6-"))
        return "ufw";
    if (strcmp(c->family, "inet") == 0 && strcmp(c->table, "firewalld") == 0)
        return "firewalld";
    return "an nftables table";
}

/* The rule bodies that let @bridge through a chain of @hook. */
static int allow_bodies(const char *hook, const char *bridge, const char *lab, char *out[3],
                        size_t *ret_n)
{
    int r;
    *ret_n = 0;
    if (strcmp(hook, "forward") == 0) {
        /* both directions: the guests out, and replies and port forwards in */
        r = asprintf(&out[0], "iifname \"%s\" accept comment \"" ALLOW_COMMENT "%s\"", bridge, lab);
        if (r < 0)
            return -ENOMEM;
        *ret_n = 1;
        r = asprintf(&out[1], "oifname \"%s\" accept comment \"" ALLOW_COMMENT "%s\"", bridge, lab);
        if (r < 0)
            return -ENOMEM;
        *ret_n = 2;
        return 0;
    }
    /* DHCP and DNS to the host's dnsmasq. One port per rule: iptables-nft (which ufw and Docker
     * use) translates a set of ports back as "-p udp" alone, which a save and restore would
     * widen to every UDP port. */
    static const char *const ports[] = {"udp dport 67", "udp dport 53", "tcp dport 53"};
    for (size_t i = 0; i < ELEMENTSOF(ports); i++) {
        if (asprintf(&out[i], "iifname \"%s\" %s accept comment \"" ALLOW_COMMENT "%s\"", bridge,
                     ports[i], lab) < 0)
            return -ENOMEM;
        *ret_n = i + 1;
    }
    return 0;
}

/* Characters that would break out of an nft quoted string or a line. */
static bool nft_string_ok(const char *s)
{
    return s && *s && !strpbrk(s, "\"\\\n\r\t ");
}

void firewall_findings_free(FirewallFinding *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].who);
        free(v[i].where);
        free(v[i].bridge);
        free(v[i].allow);
    }
    free(v);
}

typedef struct Findings {
    FirewallFinding *v;
    size_t n;
} Findings;

static int findings_add(Findings *f, FirewallKind kind, const char *who, const char *where,
                        const char *bridge, const char *allow)
{
    FirewallFinding *nv = realloc(f->v, (f->n + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    f->v = nv;
    FirewallFinding *x = &f->v[f->n];
    *x = (FirewallFinding){.kind = kind};
    x->who = strdup(who);
    x->where = strdup(where);
    x->bridge = bridge ? strdup(bridge) : NULL;
    x->allow = strdup(allow);
    f->n++;
    if (!x->who || !x->where || (bridge && !x->bridge) || !x->allow)
        return -ENOMEM;
    return 0;
}

/* The finding for @bridge in chain @c, when it lacks some of the allow rules: the missing ones
 * as insert commands in *ret_allow (NULL when none is missing). */
static int chain_missing_allows(const FwChain *c, const FwChain *target, const char *bridge,
                                const char *lab, char **ret_allow)
{
    char *bodies[3] = {NULL, NULL, NULL};
    size_t nb = 0;
    char *buf = NULL;
    size_t len = 0;
    int r = allow_bodies(c->hook, bridge, lab, bodies, &nb);
    FILE *f = r < 0 ? NULL : open_memstream(&buf, &len);
    if (f) {
        for (size_t i = 0; i < nb; i++)
            if (!chain_has_rule(target, bodies[i]))
                fprintf(f, "insert rule %s %s %s %s\n", target->family, target->table, target->name,
                        bodies[i]);
        if (fclose(f) != 0)
            r = -ENOMEM;
    } else {
        r = -ENOMEM;
    }
    for (size_t i = 0; i < nb; i++)
        free(bodies[i]);
    if (r < 0) {
        free(buf);
        return r;
    }
    if (len == 0) {
        free(buf);
        buf = NULL;
    }
    *ret_allow = buf;
    return 0;
}

int firewall_scan(const char *ruleset, int br_nf_call_iptables, const FirewallLab *lab,
                  FirewallFinding **ret, size_t *ret_n, Error *err)
{
    if (!nft_string_ok(lab->lab))
        return error_set(err, -EINVAL, "Lab name '%s' cannot be used in an nft comment",
                         lab->lab ? lab->lab : "");
    for (size_t b = 0; b < lab->n_bridges; b++)
        if (!nft_string_ok(lab->bridges[b]) || strlen(lab->bridges[b]) > 15)
            return error_set(err, -EINVAL, "Bridge name '%s' cannot be used in an nft rule",
                             lab->bridges[b] ? lab->bridges[b] : "");

    FwRuleset rs = {0};
    if (ruleset_parse(ruleset ? ruleset : "", &rs) < 0)
        return error_set(err, -ENOMEM, "Out of memory");

    Findings out = {0};
    /* per bridge, the forward allows still missing (what br_netfilter's finding repeats) and
     * the chains they are for */
    char **fwd_allow = calloc(lab->n_bridges ? lab->n_bridges : 1, sizeof(char *));
    char **fwd_where = calloc(lab->n_bridges ? lab->n_bridges : 1, sizeof(char *));
    int r = 0;
    if (!fwd_allow || !fwd_where) {
        r = -ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < rs.n; i++) {
        const FwChain *c = &rs.chains[i];
        bool forward = strcmp(c->hook, "forward") == 0;
        bool input = strcmp(c->hook, "input") == 0;
        /* the lab is IPv4: ip and inet tables see its packets; kvmlab's own tables never count */
        if ((!forward && !input) ||
            (strcmp(c->family, "ip") != 0 && strcmp(c->family, "inet") != 0) ||
            strncmp(c->table, "kvmlab-", 7) == 0)
            continue;
        char how_buf[256];
        const char *how = NULL;
        if (!chain_drops(c, how_buf, sizeof(how_buf), &how))
            continue;
        const FwChain *target = NULL;
        const char *who = chain_owner(&rs, c, &target);
        for (size_t b = 0; b < lab->n_bridges; b++) {
            _cleanup_free_ char *allow = NULL, *where = NULL;
            r = chain_missing_allows(c, target, lab->bridges[b], lab->lab, &allow);
            if (r < 0)
                goto done;
            if (!allow)
                continue;
            if (asprintf(&where, "table %s %s chain %s %s", c->family, c->table, c->name, how) <
                0) {
                r = -ENOMEM;
                goto done;
            }
            r = findings_add(&out, forward ? FIREWALL_FORWARD_DROP : FIREWALL_INPUT_DROP, who,
                             where, lab->bridges[b], allow);
            if (r < 0)
                goto done;
            if (forward) {
                char *joined = NULL;
                if (asprintf(&joined, "%s%s", fwd_allow[b] ? fwd_allow[b] : "", allow) < 0) {
                    r = -ENOMEM;
                    goto done;
                }
                free(fwd_allow[b]);
                fwd_allow[b] = joined;
                char *w = NULL;
                if (asprintf(&w, "%s%stable %s %s chain %s", fwd_where[b] ? fwd_where[b] : "",
                             fwd_where[b] ? ", " : "", c->family, c->table, c->name) < 0) {
                    r = -ENOMEM;
                    goto done;
                }
                free(fwd_where[b]);
                fwd_where[b] = w;
            }
        }
    }
    /* br_netfilter hands frames bridged between two guests to the same forward chains (in and
     * out are the bridge itself), so the forward allows cover them too */
    if (br_nf_call_iptables == 1)
        for (size_t b = 0; b < lab->n_bridges; b++) {
            if (!fwd_allow[b])
                continue;
            _cleanup_free_ char *where = NULL;
            if (asprintf(&where,
                         "net.bridge.bridge-nf-call-iptables = 1: frames bridged between the "
                         "guests on '%s' also pass %s; the forward allows cover them",
                         lab->bridges[b], fwd_where[b]) < 0) {
                r = -ENOMEM;
                goto done;
            }
            r = findings_add(&out, FIREWALL_BR_NETFILTER, "br_netfilter", where, lab->bridges[b],
                             fwd_allow[b]);
            if (r < 0)
                goto done;
        }
done:
    if (fwd_allow)
        for (size_t b = 0; b < lab->n_bridges; b++)
            free(fwd_allow[b]);
    if (fwd_where)
        for (size_t b = 0; b < lab->n_bridges; b++)
            free(fwd_where[b]);
    free(fwd_allow);
    free(fwd_where);
    ruleset_clear(&rs);
    if (r < 0) {
        firewall_findings_free(out.v, out.n);
        return error_set(err, r, "Out of memory");
    }
    *ret = out.v;
    *ret_n = out.n;
    return 0;
}

char *firewall_allow_build(const FirewallFinding *v, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    /* each command once: br_netfilter's finding repeats the forward ones */
    for (size_t i = 0; i < n; i++)
        for (const char *p = v[i].allow; p && *p;) {
            size_t l = strcspn(p, "\n");
            bool seen = false;
            fflush(f);
            for (const char *q = buf; q && q < buf + len && !seen;) {
                size_t ql = strcspn(q, "\n");
                seen = ql == l && memcmp(q, p, l) == 0;
                q += ql + (q[ql] == '\n');
            }
            if (!seen && l > 0)
                fprintf(f, "%.*s\n", (int)l, p);
            p += l + (p[l] == '\n');
        }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

char *firewall_allow_delete_build(const char *ruleset_with_handles, const char *lab)
{
    FwRuleset rs = {0};
    _cleanup_free_ char *suffix = NULL;
    if (asprintf(&suffix, "comment \"" ALLOW_COMMENT "%s\"", lab) < 0 ||
        ruleset_parse(ruleset_with_handles ? ruleset_with_handles : "", &rs) < 0)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        ruleset_clear(&rs);
        return NULL;
    }
    size_t sl = strlen(suffix);
    for (size_t i = 0; i < rs.n; i++) {
        const FwChain *c = &rs.chains[i];
        for (size_t k = 0; k < c->n_rules; k++) {
            size_t rl = strlen(c->rules[k]);
            /* nft prints a rule's comment last; "lab=web" must not take "lab=web2"'s rules */
            if (c->handles[k] < 0 || rl < sl || strcmp(c->rules[k] + rl - sl, suffix) != 0 ||
                (rl > sl && c->rules[k][rl - sl - 1] != ' '))
                continue;
            fprintf(f, "delete rule %s %s %s handle %ld\n", c->family, c->table, c->name,
                    c->handles[k]);
        }
    }
    ruleset_clear(&rs);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
