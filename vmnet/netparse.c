/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure: what kvmlab needs to know about any libvirt network, read from its XML. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/spectext.h"
#include "kvmlab/vmnet.h"

static char *xpath_string(xmlXPathContextPtr ctx, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    char *s = NULL;
    if (o && o->type == XPATH_NODESET && o->nodesetval && o->nodesetval->nodeNr > 0) {
        xmlChar *v = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
        if (v) {
            s = strdup((const char *)v);
            xmlFree(v);
        }
    }
    xmlXPathFreeObject(o);
    return s;
}

static bool xpath_string_exists(xmlXPathContextPtr ctx, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    bool found = o && o->type == XPATH_NODESET && o->nodesetval && o->nodesetval->nodeNr > 0;
    xmlXPathFreeObject(o);
    return found;
}

static unsigned mask_to_prefix(uint32_t m)
{
    unsigned p = 0;
    while (m & 0x80000000u) {
        p++;
        m <<= 1;
    }
    return p;
}

int vmnet_libvirt_xml_summary(const char *xml, char **ret_bridge, bool *ret_has_subnet,
                              Ipv4Net *ret_subnet, Error *err)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "network.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return error_set(err, -EINVAL, "Cannot parse a network's XML");
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    if (!ctx) {
        xmlFreeDoc(doc);
        return error_set(err, -ENOMEM, "Out of memory");
    }
    *ret_bridge = xpath_string(ctx, "/network/bridge/@name");
    *ret_has_subnet = false;
    char *addr = xpath_string(ctx, "/network/ip[not(@family) or @family='ipv4'][1]/@address");
    char *prefix = xpath_string(ctx, "/network/ip[not(@family) or @family='ipv4'][1]/@prefix");
    char *netmask = xpath_string(ctx, "/network/ip[not(@family) or @family='ipv4'][1]/@netmask");
    uint32_t a, m;
    if (addr && addr_ipv4_parse(addr, &a) == 0) {
        unsigned p = 24;
        if (prefix)
            p = (unsigned)atoi(prefix);
        else if (netmask && addr_ipv4_parse(netmask, &m) == 0)
            p = mask_to_prefix(m);
        if (p <= 32) {
            ret_subnet->prefix = p;
            ret_subnet->addr = a & addr_netmask(p);
            *ret_has_subnet = true;
        }
    }
    free(addr);
    free(prefix);
    free(netmask);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return 0;
}

/*
 * Reading back what a libvirt network really does, as canonical spec text (the lines of
 * vmnet_spec_format(), in its order), so the engine can compare the live object with the spec
 * instead of trusting the text stored in its metadata.
 */

#define DNSMASQ_XMLNS "http://libvirt.org/schemas/network/dnsmasq/1.0"
/* libvirt's lease when a range names none */
#define LIBVIRT_DEFAULT_LEASE_S 3600

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathContextPtr, xmlXPathFreeContext)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathObjectPtr, xmlXPathFreeObject)

static void xmlfreep(xmlChar **p)
{
    if (*p)
        xmlFree(*p);
}
#define _cleanup_xmlfree_ _cleanup_(xmlfreep)

/* One DHCP reservation or DNS host as read from the XML. */
typedef struct LiveHost {
    char mac[MAC_STRLEN]; /* "-" when only DNS knows the address */
    uint32_t ip;
    char *dhcp_name; /* the <host name=> of the reservation, may be NULL */
    char *dns_name;  /* the short <hostname> of the DNS entry for the same address, may be NULL */
} LiveHost;

static int live_host_cmp(const void *a, const void *b)
{
    const LiveHost *x = a, *y = b;
    if (x->ip != y->ip)
        return x->ip < y->ip ? -1 : 1;
    return strcmp(x->mac, y->mac);
}

static xmlXPathObjectPtr xpath_nodes(xmlXPathContextPtr ctx, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    if (o && (o->type != XPATH_NODESET || !o->nodesetval)) {
        xmlXPathFreeObject(o);
        return NULL;
    }
    return o;
}

/* An unsigned decimal attribute, or false when it is missing or not a number. */
static bool attr_u32(xmlNode *n, const char *name, uint32_t *ret)
{
    _cleanup_xmlfree_ xmlChar *v = xmlGetProp(n, BAD_CAST name);
    char *end;
    if (!v || !*v)
        return false;
    errno = 0;
    unsigned long x = strtoul((const char *)v, &end, 10);
    if (errno || *end || x > UINT32_MAX || v[0] == '-')
        return false;
    *ret = (uint32_t)x;
    return true;
}

static bool attr_ipv4(xmlNode *n, const char *name, uint32_t *ret)
{
    _cleanup_xmlfree_ xmlChar *v = xmlGetProp(n, BAD_CAST name);
    return v && addr_ipv4_parse((const char *)v, ret) == 0;
}

/* The lease of a <range> in seconds: libvirt's unit defaults to minutes, expiry 0 is "never". */
static uint32_t range_lease(xmlNode *range)
{
    for (xmlNode *c = range->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !xmlStrEqual(c->name, BAD_CAST "lease"))
            continue;
        uint32_t expiry, mult = 60;
        if (!attr_u32(c, "expiry", &expiry))
            return LIBVIRT_DEFAULT_LEASE_S;
        _cleanup_xmlfree_ xmlChar *unit = xmlGetProp(c, BAD_CAST "unit");
        if (unit && xmlStrEqual(unit, BAD_CAST "seconds"))
            mult = 1;
        else if (unit && xmlStrEqual(unit, BAD_CAST "hours"))
            mult = 3600;
        uint64_t s = (uint64_t)expiry * mult;
        return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
    }
    return LIBVIRT_DEFAULT_LEASE_S;
}

/* The short name of a DNS <host>: its first <hostname> without a dot, else the first one with
 * ".@domain" taken off. New string or NULL. */
static char *dns_host_name(xmlNode *host, const char *domain)
{
    char *qualified = NULL;
    for (xmlNode *c = host->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !xmlStrEqual(c->name, BAD_CAST "hostname"))
            continue;
        _cleanup_xmlfree_ xmlChar *t = xmlNodeGetContent(c);
        if (!t || !*t)
            continue;
        if (!strchr((const char *)t, '.')) {
            free(qualified);
            return strdup((const char *)t);
        }
        if (!qualified)
            qualified = strdup((const char *)t);
    }
    if (qualified && domain) {
        size_t n = strlen(qualified), d = strlen(domain);
        if (n > d + 1 && qualified[n - d - 1] == '.' && strcmp(qualified + n - d, domain) == 0)
            qualified[n - d - 1] = '\0';
    }
    return qualified;
}

/* The value of the stored spec's KEY line, or NULL. */
static char *stored_get(const char *stored_spec, const char *key)
{
    return stored_spec ? spec_text_get(stored_spec, key) : NULL;
}

/* The router a dnsmasq option hands out: 1 and the address in *ret for "option:router,A" (or
 * "3,A"), 1 and 0 for an empty router option, 0 when @v is no router option. */
static int router_option(const char *v, uint32_t *ret)
{
    const char *rest;
    if (strncmp(v, "dhcp-option=", 12) != 0)
        return 0;
    v += 12;
    /* dnsmasq accepts tags and "option:" before the number; kvmlab writes neither tags nor
     * vendor classes, so only the two plain spellings count */
    if (strncmp(v, "option:router", 13) == 0)
        rest = v + 13;
    else if (v[0] == '3' && (v[1] == '\0' || v[1] == ','))
        rest = v + 1;
    else
        return 0;
    *ret = 0;
    if (*rest == ',' && addr_ipv4_parse(rest + 1, ret) < 0)
        *ret = 0;
    return 1;
}

/*
 * The canonical spec text of what the libvirt network in @xml really does (see vmnet.h). Only
 * libvirt's structure is trusted: the <metadata> is never read. Facts the XML cannot carry come
 * from @stored_spec. A fact the XML lacks is left out, so the diff sees it as changed.
 */
int vmnet_libvirt_xml_essentials(const char *xml, const char *stored_spec, char **ret_spec,
                                 Error *err)
{
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
    _cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr ctx = NULL;
    _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr ips = NULL, opts = NULL, hosts = NULL,
                                                     dns = NULL;
    _cleanup_free_ char *name = NULL, *bridge = NULL, *mode = NULL, *fwdev = NULL, *domain = NULL,
                        *backend = NULL, *max_lease = NULL, *buf = NULL;
    LiveHost *lh = NULL;
    size_t n_lh = 0, len = 0;
    char a[IPV4_STRLEN], b[IPV4_STRLEN], net[CIDR_STRLEN];
    int r = 0;

    if (!xml)
        return error_set(err, -EINVAL, "Cannot read a network's XML: it is empty");
    doc = xmlReadMemory(xml, (int)strlen(xml), "network.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc || !xmlDocGetRootElement(doc))
        return error_set(err, -EINVAL, "Cannot parse a network's XML");
    if (!(ctx = xmlXPathNewContext(doc)) ||
        xmlXPathRegisterNs(ctx, BAD_CAST "dnsmasq", BAD_CAST DNSMASQ_XMLNS) < 0)
        return error_set(err, -ENOMEM, "Out of memory");

    name = xpath_string(ctx, "/network/name");
    bridge = xpath_string(ctx, "/network/bridge/@name");
    mode = xpath_string(ctx, "/network/forward/@mode");
    fwdev = xpath_string(ctx, "/network/forward/@dev");
    if (!fwdev)
        fwdev = xpath_string(ctx, "/network/forward/interface/@dev");
    domain = xpath_string(ctx, "/network/domain/@name");
    backend = stored_get(stored_spec, "backend");
    max_lease = stored_get(stored_spec, "live.max-lease");
    ips = xpath_nodes(ctx, "/network/ip[not(@family) or @family='ipv4']");
    opts = xpath_nodes(ctx, "/network/dnsmasq:options/dnsmasq:option/@value");
    hosts = xpath_nodes(ctx, "/network/ip[not(@family) or @family='ipv4']/dhcp/host");
    dns = xpath_nodes(ctx, "/network/dns/host");
    int n_ips = ips ? ips->nodesetval->nodeNr : 0;

    /* <forward> without a mode is libvirt's NAT; 'open' is NAT through the lab's own table */
    const char *type;
    bool forwards = mode || xpath_string_exists(ctx, "/network/forward");
    if (!forwards)
        type = n_ips > 0 ? "hostonly" : "isolated";
    else if (!mode || strcmp(mode, "nat") == 0 || strcmp(mode, "open") == 0)
        type = "nat";
    else if (strcmp(mode, "bridge") == 0)
        type = "bridged";
    else
        type = mode; /* route, passthrough, ...: nothing kvmlab makes, so never equal */

    /* the first IPv4 address is the host's; the first <range> anywhere is the pool */
    bool have_ip = false, have_range = false;
    Ipv4Net subnet = {0};
    uint32_t host_ip = 0, second_ip = 0, range_start = 0, range_end = 0, lease = 0;
    for (int i = 0; i < n_ips; i++) {
        xmlNode *ip = ips->nodesetval->nodeTab[i];
        uint32_t addr, prefix = 24, mask;
        if (!attr_ipv4(ip, "address", &addr))
            continue;
        if (!have_ip) {
            if (!attr_u32(ip, "prefix", &prefix) && attr_ipv4(ip, "netmask", &mask))
                prefix = mask_to_prefix(mask);
            if (prefix > 32)
                continue;
            have_ip = true;
            host_ip = addr;
            subnet.prefix = prefix;
            subnet.addr = addr & addr_netmask(prefix);
        } else if (!second_ip) {
            second_ip = addr;
        }
        for (xmlNode *d = ip->children; d && !have_range; d = d->next) {
            if (d->type != XML_ELEMENT_NODE || !xmlStrEqual(d->name, BAD_CAST "dhcp"))
                continue;
            for (xmlNode *rg = d->children; rg && !have_range; rg = rg->next) {
                if (rg->type == XML_ELEMENT_NODE && xmlStrEqual(rg->name, BAD_CAST "range") &&
                    attr_ipv4(rg, "start", &range_start) && attr_ipv4(rg, "end", &range_end)) {
                    have_range = true;
                    lease = range_lease(rg);
                }
            }
        }
    }

    /* The router guests get: a router option decides; without one dnsmasq hands out the
     * primary (first) address on a forwarding network, and libvirt itself tells guests of a
     * network without <forward> that there is none. A document without any dnsmasq option
     * is read as kvmlab's two-address layout means (the second address): libvirt's test
     * driver drops the options on define, and a lone router line removed by hand still
     * shows. */
    bool have_gw = false;
    uint32_t gw = 0;
    for (int i = 0; opts && i < opts->nodesetval->nodeNr; i++) {
        _cleanup_xmlfree_ xmlChar *v = xmlNodeGetContent(opts->nodesetval->nodeTab[i]);
        if (v && router_option((const char *)v, &gw))
            have_gw = true; /* the last one wins, as in dnsmasq */
    }
    bool any_option = opts && opts->nodesetval->nodeNr > 0;
    if (!have_gw && forwards && strcmp(type, "bridged") != 0 && have_ip)
        gw = !any_option && second_ip ? second_ip : host_ip;

    /* reservations, then DNS names by address */
    size_t n_hosts = hosts ? (size_t)hosts->nodesetval->nodeNr : 0;
    size_t n_dns = dns ? (size_t)dns->nodesetval->nodeNr : 0;
    lh = calloc(n_hosts + n_dns + 1, sizeof(*lh));
    if (!lh)
        return error_set(err, -ENOMEM, "Out of memory");
    for (size_t i = 0; i < n_hosts; i++) {
        xmlNode *h = hosts->nodesetval->nodeTab[i];
        _cleanup_xmlfree_ xmlChar *mac = xmlGetProp(h, BAD_CAST "mac");
        _cleanup_xmlfree_ xmlChar *hn = xmlGetProp(h, BAD_CAST "name");
        MacAddr m;
        LiveHost *l = &lh[n_lh];
        if (!attr_ipv4(h, "ip", &l->ip))
            continue; /* a reservation without an address reserves nothing kvmlab writes */
        if (mac && addr_mac_parse((const char *)mac, &m) == 0)
            addr_mac_format(&m, l->mac);
        else
            snprintf(l->mac, sizeof(l->mac), "-");
        if (hn && *hn && !(l->dhcp_name = strdup((const char *)hn))) {
            r = error_set(err, -ENOMEM, "Out of memory");
            goto out;
        }
        n_lh++;
    }
    for (size_t i = 0; i < n_dns; i++) {
        xmlNode *d = dns->nodesetval->nodeTab[i];
        uint32_t ip;
        if (!attr_ipv4(d, "ip", &ip))
            continue;
        LiveHost *l = NULL;
        for (size_t j = 0; j < n_lh && !l; j++)
            if (lh[j].ip == ip && !lh[j].dns_name)
                l = &lh[j];
        if (!l) {
            l = &lh[n_lh++];
            snprintf(l->mac, sizeof(l->mac), "-");
            l->ip = ip;
        }
        l->dns_name = dns_host_name(d, domain);
    }
    if (n_lh)
        qsort(lh, n_lh, sizeof(*lh), live_host_cmp);

    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto out;
    }
    fprintf(f, "type=%s\n", type);
    fprintf(f, "backend=%s\n", backend ? backend : "libvirt");
    fprintf(f, "name=%s\n", name ? name : "");
    fprintf(f, "bridge=%s\n", bridge ? bridge : "");
    if (have_ip) {
        fprintf(f, "subnet=%s\n", addr_cidr_format(&subnet, net));
        fprintf(f, "host=%s\n", addr_ipv4_format(host_ip, a));
        if (gw)
            fprintf(f, "gateway=%s\n", addr_ipv4_format(gw, a));
        /* libvirt's own NAT (where kvmlab writes no table) or <forward> without a mode */
        if (strcmp(type, "nat") == 0 && (!mode || strcmp(mode, "nat") == 0))
            fputs("nat=libvirt\n", f);
    }
    if (have_range)
        fprintf(f, "dhcp=%s-%s\n", addr_ipv4_format(range_start, a),
                addr_ipv4_format(range_end, b));
    if (strcmp(type, "bridged") == 0 && (bridge || fwdev))
        fprintf(f, "interface=%s\n", bridge ? bridge : fwdev);
    if (strcmp(type, "bridged") == 0 && !bridge && fwdev)
        fputs("macvtap=yes\n", f);
    if (domain)
        fprintf(f, "domain=%s\n", domain);
    if (have_range) {
        fprintf(f, "live.lease=%" PRIu32 "\n", lease);
        if (max_lease)
            fprintf(f, "live.max-lease=%s\n", max_lease);
    }
    /* a name is the host's when its reservation and its DNS entry agree; otherwise the line
     * says which half is missing, so it can never equal a wanted host */
    for (size_t i = 0; i < n_lh; i++) {
        const LiveHost *l = &lh[i];
        fprintf(f, "live.host=%s,%s,", l->mac, addr_ipv4_format(l->ip, a));
        if (l->dhcp_name && l->dns_name && strcmp(l->dhcp_name, l->dns_name) == 0)
            fprintf(f, "%s\n", l->dhcp_name);
        else if (l->dhcp_name && l->dns_name)
            fprintf(f, "%s (DNS %s)\n", l->dhcp_name, l->dns_name);
        else if (l->dhcp_name)
            fprintf(f, "%s (no DNS)\n", l->dhcp_name);
        else if (l->dns_name && strcmp(l->mac, "-") == 0)
            fprintf(f, "- (DNS only %s)\n", l->dns_name);
        else if (l->dns_name)
            fprintf(f, "- (DNS %s)\n", l->dns_name);
        else
            fputs("-\n", f);
    }
    if (fclose(f) != 0) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto out;
    }
    *ret_spec = steal_pointer(&buf);
out:
    for (size_t i = 0; i < n_lh; i++) {
        free(lh[i].dhcp_name);
        free(lh[i].dns_name);
    }
    free(lh);
    return r;
}
