/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/xmlread.h"
#include "kvmlab/vmnet.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/text.h"

/*
 * libvirt network XML for a VmnetSpec, and the kvmlab <metadata> read back. The XML is written
 * by hand rather than through xmlTextWriter so the layout is exactly libvirt's own (single
 * quotes, two-space indent, element order of virNetworkDefFormat): a network libvirt dumps
 * then reads like the one we defined, and the golden files stay readable.
 */

#define DNSMASQ_XMLNS "http://libvirt.org/schemas/network/dnsmasq/1.0"

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlParserCtxtPtr, xmlFreeParserCtxt)

static void indent(FILE *f, int level)
{
    for (int i = 0; i < level; i++)
        fputs("  ", f);
}

/* Close @f and hand out its buffer without a trailing newline (for virNetworkUpdate()
 * snippets), or NULL when writing failed. */
static char *memstream_finish(FILE *f, char **buf, bool chomp)
{
    if (fclose(f) != 0) {
        free(*buf);
        *buf = NULL;
        return NULL;
    }
    size_t n = strlen(*buf);
    if (chomp && n > 0 && (*buf)[n - 1] == '\n')
        (*buf)[n - 1] = '\0';
    return steal_pointer(buf);
}

/* libvirt keeps the unit it was given; the largest exact one reads best (30 minutes). */
static void lease_write(FILE *f, uint32_t seconds, int level)
{
    indent(f, level);
    if (seconds % 3600 == 0)
        fprintf(f, "<lease expiry='%" PRIu32 "' unit='hours'/>\n", seconds / 3600);
    else if (seconds % 60 == 0)
        fprintf(f, "<lease expiry='%" PRIu32 "' unit='minutes'/>\n", seconds / 60);
    else
        fprintf(f, "<lease expiry='%" PRIu32 "' unit='seconds'/>\n", seconds);
}

/* <host mac name ip/> in libvirt's attribute order. */
static void dhcp_host_write(FILE *f, const VmnetHost *h, int level)
{
    char mac[MAC_STRLEN], ip[IPV4_STRLEN];

    indent(f, level);
    fprintf(f, "<host mac='%s'", addr_mac_format(&h->mac, mac));
    if (h->name) {
        fputs(" name='", f);
        text_put_xml_escaped(f, h->name);
        fputc('\'', f);
    }
    fprintf(f, " ip='%s'/>\n", addr_ipv4_format(h->ip, ip));
}

/* Both the qualified and the short name, so guests resolve either. */
static void dns_host_write(FILE *f, const VmnetHost *h, const char *domain, int level)
{
    char ip[IPV4_STRLEN];

    indent(f, level);
    fprintf(f, "<host ip='%s'>\n", addr_ipv4_format(h->ip, ip));
    indent(f, level + 1);
    fputs("<hostname>", f);
    text_put_xml_escaped(f, h->name);
    fputc('.', f);
    text_put_xml_escaped(f, domain);
    fputs("</hostname>\n", f);
    indent(f, level + 1);
    fputs("<hostname>", f);
    text_put_xml_escaped(f, h->name);
    fputs("</hostname>\n", f);
    indent(f, level);
    fputs("</host>\n", f);
}

/* The DHCP <host> element for virNetworkUpdate(VIR_NETWORK_SECTION_IP_DHCP_HOST). New string
 * without a trailing newline, NULL on ENOMEM. */
char *vmnet_libvirt_dhcp_host_format(const VmnetSpec *s, const VmnetHost *h)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    (void)s; /* libvirt needs nothing from the network here; the second backend may */
    if (!f)
        return NULL;
    dhcp_host_write(f, h, 0);
    return memstream_finish(f, &buf, true);
}

/* The DNS <host> element for virNetworkUpdate(VIR_NETWORK_SECTION_DNS_HOST); @h must have a
 * name. New string without a trailing newline, NULL on ENOMEM. */
char *vmnet_libvirt_dns_host_format(const VmnetHost *h, const char *domain)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    FILE *f;

    if (!h->name || !(f = open_memstream(&buf, &len)))
        return NULL;
    dns_host_write(f, h, domain, 0);
    return memstream_finish(f, &buf, true);
}

static void text_element_write(FILE *f, int level, const char *name, const char *text)
{
    indent(f, level);
    fprintf(f, "<%s:%s>", KVMLAB_XMLNS_PREFIX, name);
    text_put_xml_escaped(f, text);
    fprintf(f, "</%s:%s>\n", KVMLAB_XMLNS_PREFIX, name);
}

static void metadata_write(FILE *f, const VmnetSpec *s, const char *hash, const char *text)
{
    fputs("  <metadata>\n", f);
    fprintf(f, "    <%s:lab xmlns:%s='%s'>\n", KVMLAB_XMLNS_PREFIX, KVMLAB_XMLNS_PREFIX,
            KVMLAB_XMLNS);
    text_element_write(f, 3, "name", s->lab);
    text_element_write(f, 3, "key", s->key);
    text_element_write(f, 3, "hash", hash);
    text_element_write(f, 3, "spec", text);
    fprintf(f, "    </%s:lab>\n", KVMLAB_XMLNS_PREFIX);
    fputs("  </metadata>\n", f);
}

/* The DHCP range with its lease time, at indentation @level. */
static void range_write(FILE *f, const VmnetSpec *s, int level)
{
    char a[IPV4_STRLEN], b[IPV4_STRLEN];
    indent(f, level);
    fprintf(f, "<range start='%s' end='%s'>\n", addr_ipv4_format(s->dhcp_start, a),
            addr_ipv4_format(s->dhcp_end, b));
    lease_write(f, s->lease_seconds, level + 1);
    indent(f, level);
    fputs("</range>\n", f);
}

/* The <range> element virNetworkUpdate() takes to replace the DHCP range (lease included). */
char *vmnet_libvirt_dhcp_range_format(const VmnetSpec *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    range_write(f, s, 0);
    return memstream_finish(f, &buf, true);
}

/*
 * The addresses, DHCP and dnsmasq options. nat: N.1 first (the host's source address), then
 * N.2 with the DHCP range, and options that hand N.2 out as router and DNS (dnsmasq would
 * otherwise offer the first address). hostonly: N.1 with DHCP and an empty router option.
 */
static void ip_write(FILE *f, const VmnetSpec *s)
{
    char a[IPV4_STRLEN];
    uint32_t dhcp_ip = s->type == VMNET_NAT ? s->gateway_ip : s->host_ip;

    if (s->type == VMNET_NAT)
        fprintf(f, "  <ip address='%s' prefix='%u'/>\n", addr_ipv4_format(s->host_ip, a),
                s->subnet.prefix);
    fprintf(f, "  <ip address='%s' prefix='%u'>\n", addr_ipv4_format(dhcp_ip, a), s->subnet.prefix);
    fputs("    <dhcp>\n", f);
    range_write(f, s, 3);
    for (size_t i = 0; i < s->n_hosts; i++)
        dhcp_host_write(f, &s->hosts[i], 3);
    fputs("    </dhcp>\n", f);
    fputs("  </ip>\n", f);

    fprintf(f, "  <dnsmasq:options xmlns:dnsmasq='%s'>\n", DNSMASQ_XMLNS);
    if (s->type == VMNET_NAT) {
        addr_ipv4_format(s->gateway_ip, a);
        fprintf(f, "    <dnsmasq:option value='dhcp-option=option:router,%s'/>\n", a);
        fprintf(f, "    <dnsmasq:option value='dhcp-option=option:dns-server,%s'/>\n", a);
    } else {
        /* libvirt adds this itself for networks without <forward>; said here too so host-only
         * never hands out a router whatever libvirt's default becomes */
        fputs("    <dnsmasq:option value='dhcp-option=3'/>\n", f);
    }
    fputs("  </dnsmasq:options>\n", f);
}

/*
 * The libvirt network XML of @s with the kvmlab <metadata> (lab, key, spec hash and canonical
 * text). Stores a new string in *ret; 0, or -EINVAL when @s is not realised by libvirt, or
 * -ENOMEM, with @err set.
 */
int vmnet_libvirt_xml_format(const VmnetSpec *s, char **ret, Error *err)
{
    return vmnet_libvirt_xml_format_uuid(s, NULL, ret, err);
}

int vmnet_libvirt_xml_format_uuid(const VmnetSpec *s, const char *uuid, char **ret, Error *err)
{
    _cleanup_free_ char *text = NULL, *hash = NULL, *buf = NULL;
    size_t len = 0;
    char mac[MAC_STRLEN];
    FILE *f;

    if (s->backend != VMNET_BACKEND_LIBVIRT)
        return error_set(err, -EINVAL,
                         "Network '%s' uses the '%s' backend, which has no libvirt network XML",
                         s->key, vmnet_backend_to_string(s->backend));
    if (!(text = vmnet_spec_format(s)) || !(hash = vmnet_spec_hash(s)) ||
        !(f = open_memstream(&buf, &len)))
        return error_set(err, -ENOMEM, "Out of memory");

    fputs("<network>\n", f);
    fputs("  <name>", f);
    text_put_xml_escaped(f, s->name);
    fputs("</name>\n", f);
    if (uuid) {
        fputs("  <uuid>", f);
        text_put_xml_escaped(f, uuid);
        fputs("</uuid>\n", f);
    }
    metadata_write(f, s, hash, text);

    if (s->type == VMNET_BRIDGED && s->macvtap) {
        /* macvtap: no host change, but the host cannot reach its guests through the NIC */
        fputs("  <forward mode='bridge'>\n    <interface dev='", f);
        text_put_xml_escaped(f, s->interface);
        fputs("'/>\n  </forward>\n", f);
    } else if (s->type == VMNET_BRIDGED) {
        /* an existing bridge: libvirt neither creates it nor gives it a MAC or DHCP */
        fputs("  <forward mode='bridge'/>\n", f);
        fputs("  <bridge name='", f);
        text_put_xml_escaped(f, s->bridge);
        fputs("'/>\n", f);
    } else {
        /* NAT: libvirt routes and runs DHCP/DNS but adds no firewall rules ('open'); the lab's
         * own nftables table masquerades and forwards ports (vmnet_nft_table_format()), so
         * forwards also work from outside the host, which libvirt's 'nat' rules would reject */
        if (s->type == VMNET_NAT && s->nat_libvirt)
            /* where kvmlab cannot write its table (a remote or private daemon): libvirt's own
             * NAT, port forwards then refused at plan time */
            fputs("  <forward mode='nat'/>\n", f);
        else if (s->type == VMNET_NAT)
            fputs("  <forward mode='open'/>\n", f);
        fputs("  <bridge name='", f);
        text_put_xml_escaped(f, s->bridge);
        fputs("' stp='off' delay='0'/>\n", f);
        /* a fixed bridge MAC, or libvirt invents one and a re-created network differs */
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "bridge:%s", s->key) < 0) {
            fclose(f);
            return error_set(err, -ENOMEM, "Out of memory");
        }
        MacAddr m = addr_mac_derive(s->lab, what, 0);
        fprintf(f, "  <mac address='%s'/>\n", addr_mac_format(&m, mac));
    }

    if (s->dhcp) {
        fputs("  <domain name='", f);
        text_put_xml_escaped(f, s->domain);
        fputs("' localOnly='yes'/>\n", f);
        bool any = false;
        for (size_t i = 0; i < s->n_hosts; i++) {
            if (!s->hosts[i].name)
                continue;
            if (!any)
                fputs("  <dns>\n", f);
            any = true;
            dns_host_write(f, &s->hosts[i], s->domain, 2);
        }
        if (any)
            fputs("  </dns>\n", f);
        ip_write(f, s);
    }
    fputs("</network>\n", f);

    char *out = memstream_finish(f, &buf, false);
    if (!out)
        return error_set(err, -ENOMEM, "Out of memory");
    *ret = out;
    return 0;
}

/* Clear the owner's fields. Accepts NULL. */
void vmnet_owner_clear(VmnetOwner *o)
{
    if (!o)
        return;
    free(o->lab);
    free(o->key);
    free(o->hash);
    free(o->spec);
    *o = (VmnetOwner){0};
}

/*
 * Find <metadata>/<lab> in the kvmlab namespace under the document's root and copy its name,
 * key, hash and spec. The namespace is matched by URI: libvirt re-serialises metadata and may
 * choose another prefix (or a default namespace). *ret is written only on success.
 */
int vmnet_owner_parse(const char *xml, VmnetOwner *ret, Error *err)
{
    _cleanup_(xmlFreeParserCtxtp) xmlParserCtxtPtr ctxt = NULL;
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
    VmnetOwner o = {0};
    int r = 0;

    if (!xml)
        return error_set(err, -EINVAL, "Cannot parse the XML document: it is empty");
    if (!(ctxt = xmlNewParserCtxt()))
        return error_set(err, -ENOMEM, "Out of memory");
    /* library code never prints: keep libxml2's messages in the context */
    doc = xmlCtxtReadMemory(ctxt, xml, (int)strlen(xml), "object.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc || !xmlDocGetRootElement(doc)) {
        const char *msg = ctxt->lastError.message ? ctxt->lastError.message : "no root element";
        size_t n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            n--;
        return error_set(err, -EINVAL, "Cannot parse the XML document: %.*s (line %d)", (int)n, msg,
                         ctxt->lastError.line);
    }

    for (xmlNode *md = xmlDocGetRootElement(doc)->children; md; md = md->next) {
        if (!xml_node_is(md, NULL, "metadata"))
            continue;
        for (xmlNode *lab = md->children; lab; lab = lab->next) {
            if (!xml_node_is(lab, KVMLAB_XMLNS, "lab"))
                continue;
            for (xmlNode *c = lab->children; c && r == 0; c = c->next) {
                if (xml_node_is(c, KVMLAB_XMLNS, "name"))
                    r = xml_text_dup(c, &o.lab, err);
                else if (xml_node_is(c, KVMLAB_XMLNS, "key"))
                    r = xml_text_dup(c, &o.key, err);
                else if (xml_node_is(c, KVMLAB_XMLNS, "hash"))
                    r = xml_text_dup(c, &o.hash, err);
                else if (xml_node_is(c, KVMLAB_XMLNS, "spec"))
                    r = xml_text_dup(c, &o.spec, err);
            }
        }
    }
    if (r < 0) {
        vmnet_owner_clear(&o);
        return r;
    }
    *ret = o;
    return 0;
}
