/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure: what kvmlab needs to know about any libvirt network, read from its XML. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

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
