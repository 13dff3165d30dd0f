/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pure: the dhcpd.conf VMware writes for a vmnet (ISC dhcpd syntax; on Windows one
 * vmnetdhcp.conf holds every vmnet). Read: `subnet A netmask M { ... }` with range, option
 * routers and the lease times (top-level ones apply to subnets without their own), and
 * `host NAME { hardware ethernet MAC; fixed-address IP; }` reservations. Statements may span
 * lines and share them with braces; `#` starts a comment outside strings. Statements ISC
 * dhcpd knows and kvmlab does not need are skipped silently, anything else with a warning.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kvmlab/cleanup.h"
#include "vmware/nettext.h"

typedef enum TokKind { TOK_WORD, TOK_STRING, TOK_SEMI, TOK_LBRACE, TOK_RBRACE, TOK_COMMA } TokKind;

typedef struct Tok {
    TokKind kind;
    char *s; /* TOK_WORD, TOK_STRING: owned */
    unsigned line;
} Tok;

typedef enum BlockKind {
    BLOCK_SUBNET,
    BLOCK_HOST,
    BLOCK_GROUP, /* group, shared-network, pool: its statements belong to the block around it */
    BLOCK_SKIP,  /* a block kvmlab does not read (class, failover, ...) or a broken one */
} BlockKind;

/* what a subnet, a host or the top level already gave (for "given again" warnings) */
enum {
    SEEN_DEFAULT_LEASE = 1 << 0,
    SEEN_MAX_LEASE = 1 << 1,
    SEEN_RANGE = 1 << 2,
    SEEN_ROUTER = 1 << 3,
    SEEN_MAC = 1 << 4,
    SEEN_IP = 1 << 5,
};

typedef struct Ctx {
    const char *file;
    VmwWarnings *w;
    VmwDhcpd out;

    Tok *toks; /* the statement being read */
    size_t n_toks, cap_toks;

    BlockKind *stack; /* open blocks, innermost last */
    size_t depth, cap_stack;

    uint32_t default_lease, max_lease; /* top level */
    unsigned top_seen;

    bool in_subnet; /* an open subnet block (in stack) */
    VmwDhcpSubnet subnet;
    unsigned subnet_seen, subnet_line;

    bool in_host;
    VmwDhcpHost host;
    unsigned host_seen, host_line;
} Ctx;

/* ISC dhcpd statements that kvmlab does not need: skipped silently */
static const char *const quiet_statements[] = {
        "allow",
        "deny",
        "ignore",
        "authoritative",
        "not",
        "ddns-update-style",
        "ddns-updates",
        "ddns-domainname",
        "ddns-hostname",
        "ddns-rev-domainname",
        "ddns-ttl",
        "update-static-leases",
        "update-optimization",
        "update-conflict-detection",
        "do-forward-updates",
        "client-updates",
        "log-facility",
        "ping-check",
        "ping-timeout",
        "filename",
        "next-server",
        "server-name",
        "server-identifier",
        "use-host-decl-names",
        "use-lease-addr-for-default-route",
        "get-lease-hostnames",
        "one-lease-per-client",
        "boot-unknown-clients",
        "dynamic-bootp-lease-length",
        "dynamic-bootp-lease-cutoff",
        "always-broadcast",
        "always-reply-rfc1048",
        "lease-file-name",
        "pid-file-name",
        "local-port",
        "local-address",
        "remote-port",
        "omapi-port",
        "omapi-key",
        "min-lease-time",
        "min-secs",
        "stash-agent-options",
        "site-option-space",
        "vendor-option-space",
        "adaptive-lease-time-threshold",
        "infinite-is-reserved",
        "db-time-format",
        "abandon-lease-time",
        "max-ack-delay",
        "dhcp-cache-threshold",
        "fixed-address6",
        "match",
        "spawn",
        "lease",
};

/* ISC dhcpd blocks that kvmlab does not read: skipped silently with what they hold */
static const char *const quiet_blocks[] = {
        "class", "subclass", "if", "elsif", "else", "failover", "key", "zone", "subnet6", "on",
};

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(s, list[i]) == 0)
            return true;
    return false;
}

static void toks_clear(Ctx *c)
{
    for (size_t i = 0; i < c->n_toks; i++)
        free(c->toks[i].s);
    c->n_toks = 0;
}

static int tok_push(Ctx *c, TokKind kind, char *s, unsigned line)
{
    if (c->n_toks == c->cap_toks) {
        size_t cap = c->cap_toks ? c->cap_toks * 2 : 16;
        Tok *t = realloc(c->toks, cap * sizeof(*t));
        if (!t) {
            free(s);
            return -ENOMEM;
        }
        c->toks = t;
        c->cap_toks = cap;
    }
    c->toks[c->n_toks++] = (Tok){kind, s, line};
    return 0;
}

/* The innermost block that is not a group, or -1 at the top level. */
static int context_of(const Ctx *c)
{
    for (size_t i = c->depth; i > 0; i--)
        if (c->stack[i - 1] != BLOCK_GROUP)
            return (int)c->stack[i - 1];
    return -1;
}

static bool skipping(const Ctx *c)
{
    return context_of(c) == BLOCK_SKIP;
}

static int block_push(Ctx *c, BlockKind k)
{
    if (c->depth == c->cap_stack) {
        size_t cap = c->cap_stack ? c->cap_stack * 2 : 8;
        BlockKind *s = realloc(c->stack, cap * sizeof(*s));
        if (!s)
            return -ENOMEM;
        c->stack = s;
        c->cap_stack = cap;
    }
    c->stack[c->depth++] = k;
    return 0;
}

/* The word or string at @i of the statement, NULL past its end or at punctuation. */
static const char *arg(const Ctx *c, size_t i)
{
    if (i >= c->n_toks || (c->toks[i].kind != TOK_WORD && c->toks[i].kind != TOK_STRING))
        return NULL;
    return c->toks[i].s;
}

static int warn_again(Ctx *c, unsigned line, unsigned *seen, unsigned bit, const char *what)
{
    if (*seen & bit)
        return vmw_warn(c->w, c->file, line, "'%s' given again: the last one is used", what);
    *seen |= bit;
    return 0;
}

/* default-lease-time / max-lease-time N */
static int stmt_lease(Ctx *c, unsigned line, const char *kw, int ctx)
{
    char ex[VMW_EXCERPT_BUF];
    const char *v = arg(c, 1);
    uint32_t secs;
    if (!v || vmw_net_uint(v, UINT32_MAX, &secs) < 0 || c->n_toks != 2)
        return vmw_warn(c->w, c->file, line, "'%s' needs a number of seconds: '%s' skipped", kw,
                        vmw_net_excerpt(v ? v : "", ex));
    if (ctx == BLOCK_HOST)
        return 0; /* a host's own lease time: not part of the model */
    bool dflt = strcasecmp(kw, "default-lease-time") == 0;
    unsigned bit = dflt ? SEEN_DEFAULT_LEASE : SEEN_MAX_LEASE;
    if (ctx == BLOCK_SUBNET) {
        int r = warn_again(c, line, &c->subnet_seen, bit, kw);
        *(dflt ? &c->subnet.default_lease : &c->subnet.max_lease) = secs;
        return r;
    }
    int r = warn_again(c, line, &c->top_seen, bit, kw);
    *(dflt ? &c->default_lease : &c->max_lease) = secs;
    return r;
}

/* range [dynamic-bootp] A [B] */
static int stmt_range(Ctx *c, unsigned line, int ctx)
{
    char ex[VMW_EXCERPT_BUF];
    if (ctx != BLOCK_SUBNET)
        return vmw_warn(c->w, c->file, line, "'range' outside a subnet skipped");
    size_t i = 1;
    if (arg(c, i) && strcasecmp(arg(c, i), "dynamic-bootp") == 0)
        i++;
    const char *a = arg(c, i), *b = arg(c, i + 1);
    size_t end = b ? i + 2 : i + 1;
    uint32_t lo = 0, hi = 0;
    const char *bad = !a                                 ? ""
                      : addr_ipv4_parse(a, &lo) < 0      ? a
                      : b && addr_ipv4_parse(b, &hi) < 0 ? b
                      : end != c->n_toks                 ? "," /* more than two, or a comma */
                                                         : NULL;
    if (bad)
        return vmw_warn(c->w, c->file, line,
                        "'range' needs one or two IPv4 addresses: '%s' skipped",
                        vmw_net_excerpt(bad, ex));
    if (!b)
        hi = lo;
    uint32_t mask = c->subnet.netmask;
    if ((lo & mask) != c->subnet.subnet || (hi & mask) != c->subnet.subnet || lo > hi) {
        char s1[IPV4_STRLEN], s2[IPV4_STRLEN];
        return vmw_warn(c->w, c->file, line,
                        "range '%s' to '%s' is not inside its subnet: "
                        "skipped",
                        addr_ipv4_format(lo, s1), addr_ipv4_format(hi, s2));
    }
    int r = warn_again(c, line, &c->subnet_seen, SEEN_RANGE, "range");
    c->subnet.has_range = true;
    c->subnet.range_start = lo;
    c->subnet.range_end = hi;
    return r;
}

/* option NAME ...: only routers is read, in a subnet */
static int stmt_option(Ctx *c, unsigned line, int ctx)
{
    char ex[VMW_EXCERPT_BUF];
    const char *name = arg(c, 1);
    if (!name)
        return vmw_warn(c->w, c->file, line, "'option' without a name skipped");
    if (ctx != BLOCK_SUBNET || strcasecmp(name, "routers") != 0)
        return 0;
    const char *a = arg(c, 2);
    uint32_t ip;
    if (!a || addr_ipv4_parse(a, &ip) < 0)
        return vmw_warn(c->w, c->file, line, "'option routers' needs an IPv4 address: '%s' skipped",
                        vmw_net_excerpt(a ? a : "", ex));
    /* more routers may follow after commas: the first is the gateway */
    int r = warn_again(c, line, &c->subnet_seen, SEEN_ROUTER, "option routers");
    c->subnet.router = ip;
    return r;
}

/* hardware ethernet MAC, in a host */
static int stmt_hardware(Ctx *c, unsigned line, int ctx)
{
    char ex[VMW_EXCERPT_BUF];
    if (ctx != BLOCK_HOST)
        return vmw_warn(c->w, c->file, line, "'hardware' outside a host skipped");
    const char *type = arg(c, 1), *mac = arg(c, 2);
    MacAddr m;
    if (!type || strcasecmp(type, "ethernet") != 0 || !mac || c->n_toks != 3 ||
        vmw_net_mac(mac, &m) < 0)
        return vmw_warn(c->w, c->file, line, "'hardware' needs 'ethernet' and a MAC: '%s' skipped",
                        vmw_net_excerpt(mac    ? mac
                                        : type ? type
                                               : "",
                                        ex));
    int r = warn_again(c, line, &c->host_seen, SEEN_MAC, "hardware ethernet");
    c->host.mac = m;
    return r;
}

/* fixed-address IP[, IP...], in a host: the first address */
static int stmt_fixed(Ctx *c, unsigned line, int ctx)
{
    char ex[VMW_EXCERPT_BUF];
    if (ctx != BLOCK_HOST)
        return vmw_warn(c->w, c->file, line, "'fixed-address' outside a host skipped");
    const char *a = arg(c, 1);
    uint32_t ip;
    if (!a || addr_ipv4_parse(a, &ip) < 0)
        return vmw_warn(c->w, c->file, line, "'fixed-address' needs an IPv4 address: '%s' skipped",
                        vmw_net_excerpt(a ? a : "", ex));
    int r = warn_again(c, line, &c->host_seen, SEEN_IP, "fixed-address");
    c->host.ip = ip;
    return r;
}

/* A statement ended by ';'. */
static int statement(Ctx *c)
{
    char ex[VMW_EXCERPT_BUF];
    if (c->n_toks == 0 || skipping(c))
        return 0;
    unsigned line = c->toks[0].line;
    const char *kw = arg(c, 0);
    if (!kw || c->toks[0].kind != TOK_WORD)
        return vmw_warn(c->w, c->file, line, "statement starting with '%s' skipped",
                        vmw_net_excerpt(kw                             ? kw
                                        : c->toks[0].kind == TOK_COMMA ? ","
                                                                       : "",
                                        ex));
    int ctx = context_of(c);
    if (strcasecmp(kw, "default-lease-time") == 0 || strcasecmp(kw, "max-lease-time") == 0)
        return stmt_lease(c, line, kw, ctx);
    if (strcasecmp(kw, "range") == 0)
        return stmt_range(c, line, ctx);
    if (strcasecmp(kw, "option") == 0)
        return stmt_option(c, line, ctx);
    if (strcasecmp(kw, "hardware") == 0)
        return stmt_hardware(c, line, ctx);
    if (strcasecmp(kw, "fixed-address") == 0)
        return stmt_fixed(c, line, ctx);
    if (strcasecmp(kw, "include") == 0)
        return vmw_warn(c->w, c->file, line, "'include' not followed: skipped");
    if (in_list(kw, quiet_statements, ELEMENTSOF(quiet_statements)))
        return 0;
    return vmw_warn(c->w, c->file, line, "unknown statement '%s' skipped", vmw_net_excerpt(kw, ex));
}

/* A block opened by '{' after the statement's words. */
static int block_open(Ctx *c, unsigned brace_line)
{
    char ex[VMW_EXCERPT_BUF], s1[IPV4_STRLEN];
    if (skipping(c))
        return block_push(c, BLOCK_SKIP);
    const char *kw = arg(c, 0);
    unsigned line = c->n_toks ? c->toks[0].line : brace_line;
    int r = 0;
    BlockKind k = BLOCK_SKIP;

    if (!kw || c->toks[0].kind != TOK_WORD) {
        r = vmw_warn(c->w, c->file, line, "block without a name skipped");
    } else if (strcasecmp(kw, "subnet") == 0) {
        const char *a = arg(c, 1), *nm = arg(c, 2), *m = arg(c, 3);
        uint32_t net, mask;
        if (c->in_subnet || c->in_host)
            r = vmw_warn(c->w, c->file, line, "subnet inside a subnet or host skipped");
        else if (!a || !nm || strcasecmp(nm, "netmask") != 0 || !m || c->n_toks != 4 ||
                 addr_ipv4_parse(a, &net) < 0 || addr_ipv4_parse(m, &mask) < 0)
            r = vmw_warn(c->w, c->file, line, "subnet needs 'ADDRESS netmask MASK': '%s' skipped",
                         vmw_net_excerpt(a ? a : "", ex));
        else if (!vmw_net_is_netmask(mask) || (net & ~mask))
            r = vmw_warn(c->w, c->file, line, "subnet '%s' netmask '%s' is not a network: skipped",
                         a, addr_ipv4_format(mask, s1));
        else {
            c->in_subnet = true;
            c->subnet = (VmwDhcpSubnet){.subnet = net, .netmask = mask};
            c->subnet_seen = 0;
            c->subnet_line = line;
            k = BLOCK_SUBNET;
        }
    } else if (strcasecmp(kw, "host") == 0) {
        const char *name = arg(c, 1);
        if (c->in_host)
            r = vmw_warn(c->w, c->file, line, "host inside a host skipped");
        else if (!name || c->n_toks != 2 || !*name)
            r = vmw_warn(c->w, c->file, line, "host needs one name: skipped");
        else {
            char *copy = strdup(name);
            if (!copy)
                return -ENOMEM;
            c->in_host = true;
            c->host = (VmwDhcpHost){.name = copy};
            c->host_seen = 0;
            c->host_line = line;
            k = BLOCK_HOST;
        }
    } else if (strcasecmp(kw, "group") == 0 || strcasecmp(kw, "shared-network") == 0 ||
               strcasecmp(kw, "pool") == 0) {
        k = BLOCK_GROUP;
    } else if (!in_list(kw, quiet_blocks, ELEMENTSOF(quiet_blocks))) {
        r = vmw_warn(c->w, c->file, line, "unknown block '%s' skipped", vmw_net_excerpt(kw, ex));
    }
    if (r < 0)
        return r;
    return block_push(c, k);
}

/* The block at the end of the stack is done: keep its subnet or host. */
static int block_close(Ctx *c)
{
    BlockKind k = c->stack[--c->depth];
    char s1[IPV4_STRLEN], m[MAC_STRLEN], ex[VMW_EXCERPT_BUF];
    int r = 0;

    if (k == BLOCK_SUBNET) {
        c->in_subnet = false;
        VmwDhcpd *d = &c->out;
        for (size_t i = 0; i < d->n_subnets; i++)
            if (d->subnets[i].subnet == c->subnet.subnet &&
                d->subnets[i].netmask == c->subnet.netmask) {
                d->subnets[i] = c->subnet;
                return vmw_warn(c->w, c->file, c->subnet_line,
                                "subnet '%s' given again: the last one is used",
                                addr_ipv4_format(c->subnet.subnet, s1));
            }
        VmwDhcpSubnet *v = realloc(d->subnets, (d->n_subnets + 1) * sizeof(*v));
        if (!v)
            return -ENOMEM;
        d->subnets = v;
        v[d->n_subnets++] = c->subnet;
        return 0;
    }
    if (k != BLOCK_HOST)
        return 0;

    c->in_host = false;
    _cleanup_free_ char *name = steal_pointer(&c->host.name);
    if (!(c->host_seen & SEEN_MAC))
        return vmw_warn(c->w, c->file, c->host_line, "host '%s' has no hardware ethernet: skipped",
                        vmw_net_excerpt(name, ex));
    /* VMware's block for the host's own adapter on the vmnet (00:50:56:C0:00:NN), not a guest */
    const uint8_t *b = c->host.mac.b;
    if (b[0] == 0x00 && b[1] == 0x50 && b[2] == 0x56 && b[3] == 0xc0 && b[4] == 0x00) {
        if (!(c->host_seen & SEEN_IP))
            return 0;
        VmwDhcpd *d = &c->out;
        for (size_t i = 0; i < d->n_adapters; i++)
            if (d->adapters[i].vnet == b[5]) {
                d->adapters[i].ip = c->host.ip; /* the last one, as for guests */
                return 0;
            }
        void *v = realloc(d->adapters, (d->n_adapters + 1) * sizeof(*d->adapters));
        if (!v)
            return -ENOMEM;
        d->adapters = v;
        d->adapters[d->n_adapters].vnet = b[5];
        d->adapters[d->n_adapters++].ip = c->host.ip;
        return 0;
    }
    if (!(c->host_seen & SEEN_IP))
        return vmw_warn(c->w, c->file, c->host_line, "host '%s' has no fixed-address: skipped",
                        vmw_net_excerpt(name, ex));

    VmwDhcpd *d = &c->out;
    for (size_t i = 0; i < d->n_hosts; i++) {
        VmwDhcpHost *o = &d->hosts[i];
        bool same_name = strcmp(o->name, name) == 0;
        if (same_name || addr_mac_equal(&o->mac, &c->host.mac)) {
            r = same_name ? vmw_warn(c->w, c->file, c->host_line,
                                     "host '%s' given again: the last one is used",
                                     vmw_net_excerpt(name, ex))
                          : vmw_warn(c->w, c->file, c->host_line,
                                     "MAC '%s' reserved again by host '%s': the last one is used",
                                     addr_mac_format(&c->host.mac, m), vmw_net_excerpt(name, ex));
            free(o->name);
            *o = c->host;
            o->name = steal_pointer(&name);
            return r;
        }
    }
    VmwDhcpHost *v = realloc(d->hosts, (d->n_hosts + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    d->hosts = v;
    v[d->n_hosts] = c->host;
    v[d->n_hosts++].name = steal_pointer(&name);
    return 0;
}

static int brace_close(Ctx *c, unsigned line)
{
    char ex[VMW_EXCERPT_BUF];
    int r = 0;
    if (c->n_toks) {
        if (!skipping(c))
            r = vmw_warn(c->w, c->file, c->toks[0].line,
                         "statement '%s' has no ';' before '}': skipped",
                         vmw_net_excerpt(arg(c, 0) ? arg(c, 0) : "", ex));
        toks_clear(c);
        if (r < 0)
            return r;
    }
    if (c->depth == 0)
        return vmw_warn(c->w, c->file, line, "'}' without a block skipped");
    return block_close(c);
}

/* Cut one line into tokens and act on each ';', '{' and '}'. */
static int parse_line(Ctx *c, unsigned line, const char *s)
{
    int r = 0;
    while (*s && r >= 0) {
        char ch = *s;
        if (ch == ' ' || ch == '\t' || ch == '\v' || ch == '\f' || ch == '\r') {
            s++;
        } else if (ch == '#') {
            break;
        } else if (ch == ';') {
            s++;
            r = statement(c);
            toks_clear(c);
        } else if (ch == '{') {
            s++;
            r = block_open(c, line);
            toks_clear(c);
        } else if (ch == '}') {
            s++;
            r = brace_close(c, line);
        } else if (ch == ',') {
            s++;
            r = tok_push(c, TOK_COMMA, NULL, line);
        } else if (ch == '"') {
            size_t n = 0;
            char *str = malloc(strlen(s));
            if (!str)
                return -ENOMEM;
            s++;
            while (*s && *s != '"') {
                if (*s == '\\' && s[1])
                    s++;
                str[n++] = *s++;
            }
            str[n] = '\0';
            if (*s == '"')
                s++;
            else if (!skipping(c) && (r = vmw_warn(c->w, c->file, line,
                                                   "string not closed at the end of the "
                                                   "line: read up to there")) < 0) {
                free(str);
                return r;
            }
            r = tok_push(c, TOK_STRING, str, line);
        } else {
            const char *start = s;
            while (*s && !strchr(" \t\v\f\r#;{},\"", *s))
                s++;
            char *word = strndup(start, (size_t)(s - start));
            if (!word)
                return -ENOMEM;
            r = tok_push(c, TOK_WORD, word, line);
        }
    }
    return r;
}

/* End of the text: a statement without ';' and blocks left open. */
static int finish(Ctx *c, unsigned last_line)
{
    char ex[VMW_EXCERPT_BUF];
    int r = 0;
    if (c->n_toks) {
        if (!skipping(c))
            r = vmw_warn(c->w, c->file, c->toks[0].line,
                         "statement '%s' has no ';' at the end of the file: skipped",
                         vmw_net_excerpt(arg(c, 0) ? arg(c, 0) : "", ex));
        toks_clear(c);
        if (r < 0)
            return r;
    }
    if (c->depth) {
        r = vmw_warn(c->w, c->file, last_line,
                     "%zu block(s) not closed at the end of the file: closed there", c->depth);
        while (r >= 0 && c->depth)
            r = block_close(c);
    }
    return r;
}

/**
 * vmw_dhcpd_parse: read a dhcpd.conf or vmnetdhcp.conf (@text, @len bytes, may hold NULs;
 * @file names it in warnings). Fills *@ret (clear it with vmw_dhcpd_clear()): subnets and
 * guest reservations in file order, top-level lease times applied to subnets without their
 * own. Adds a warning to @w for each statement or value it skips. Returns 0, or -ENOMEM with
 * @err set (then *@ret is untouched).
 */
int vmw_dhcpd_parse(const char *text, size_t len, const char *file, VmwDhcpd *ret, VmwWarnings *w,
                    Error *err)
{
    Ctx c = {.file = file, .w = w};
    VmwLineIter it;
    const char *line;
    unsigned number = 0;
    int r = 0;

    vmw_lines_init(&it, text, len);
    while (r >= 0 && vmw_lines_next(&it, &line, &number))
        r = parse_line(&c, number, line);
    if (r >= 0 && it.oom)
        r = -ENOMEM; /* the iterator stopped early: the file was not read to its end */
    vmw_lines_clear(&it);
    if (r >= 0)
        r = finish(&c, number);
    toks_clear(&c);
    free(c.toks);
    free(c.stack);
    free(c.host.name);
    if (r < 0) {
        vmw_dhcpd_clear(&c.out);
        return error_set(err, r, "Out of memory while reading VMware's DHCP configuration '%s'",
                         file ? file : "-");
    }
    for (size_t i = 0; i < c.out.n_subnets; i++) {
        VmwDhcpSubnet *s = &c.out.subnets[i];
        if (!s->default_lease)
            s->default_lease = c.default_lease;
        if (!s->max_lease)
            s->max_lease = c.max_lease;
    }
    *ret = c.out;
    return 0;
}

/**
 * vmw_dhcpd_clear: free what vmw_dhcpd_parse() filled and zero @d. Accepts a zeroed struct.
 */
void vmw_dhcpd_clear(VmwDhcpd *d)
{
    for (size_t i = 0; i < d->n_hosts; i++)
        free(d->hosts[i].name);
    free(d->hosts);
    free(d->subnets);
    free(d->adapters);
    *d = (VmwDhcpd){0};
}
