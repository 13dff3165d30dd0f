/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pure: what a hypervisor offers for one machine type, read from libvirt's domain capabilities
 * (virConnectGetDomainCapabilities, `virsh domcapabilities`). libvirt 9.0 lists the disk buses
 * (devices/disk/enum[@name='bus']: "ide" only for pc machines) but no SCSI controller models:
 * its domaincaps schema has no <controller> element, so HvCaps.scsi_models stays NULL and only
 * virtio-scsi is assumed (see tests/data/domcaps/).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/storage.h"

static const char *const bus_names[DISK_BUS_MAX] = {
        [DISK_BUS_VIRTIO] = "virtio",
        [DISK_BUS_SCSI] = "scsi",
        [DISK_BUS_SATA] = "sata",
        [DISK_BUS_IDE] = "ide",
};

const char *disk_bus_to_string(DiskBus b)
{
    return (unsigned)b < DISK_BUS_MAX ? bus_names[b] : NULL;
}

int disk_bus_from_string(const char *s)
{
    for (int i = 0; s && i < DISK_BUS_MAX; i++)
        if (strcmp(s, bus_names[i]) == 0)
            return i;
    return -1;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathContextPtr, xmlXPathFreeContext)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathObjectPtr, xmlXPathFreeObject)

/* The nodes @expr selects, or NULL when none (or out of memory). */
static xmlXPathObjectPtr xpath_nodes(xmlXPathContextPtr ctx, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    if (o && (o->type != XPATH_NODESET || !o->nodesetval || o->nodesetval->nodeNr == 0)) {
        xmlXPathFreeObject(o);
        return NULL;
    }
    return o;
}

/* The text of node @i of @o, trimmed. New string or NULL (out of memory). */
static char *node_text(xmlXPathObjectPtr o, int i)
{
    xmlChar *v = xmlNodeGetContent(o->nodesetval->nodeTab[i]);
    if (!v)
        return NULL;
    const char *s = (const char *)v;
    s += strspn(s, " \t\r\n");
    size_t len = strlen(s);
    while (len > 0 && strchr(" \t\r\n", s[len - 1]))
        len--;
    char *r = strndup(s, len);
    xmlFree(v);
    return r;
}

int hv_caps_parse(const char *xml, const char *requested_machine, HvCaps *ret, Error *err)
{
    HvCaps c = {0};
    _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr machine = NULL;
    _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr buses = NULL;

    if (!xml)
        return error_set(err, -EINVAL, "No domain capabilities to read");
    _cleanup_(xmlFreeDocp) xmlDocPtr doc =
            xmlReadMemory(xml, (int)strlen(xml), "domcapabilities.xml", NULL,
                          XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return error_set(err, -EINVAL, "The hypervisor's domain capabilities are not XML");
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || strcmp((const char *)root->name, "domainCapabilities") != 0)
        return error_set(err, -EINVAL,
                         "The hypervisor's answer is not a <domainCapabilities> document");
    _cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    if (!ctx)
        return error_set(err, -ENOMEM, "Out of memory");

    machine = xpath_nodes(ctx, "/domainCapabilities/machine");
    if (machine && !(c.machine = node_text(machine, 0)))
        goto oom;
    if (requested_machine && !(c.requested = strdup(requested_machine)))
        goto oom;

    /* a disk element with supported='no' offers no bus at all */
    buses = xpath_nodes(
            ctx, "/domainCapabilities/devices/disk[@supported='yes']/enum[@name='bus']/value");
    for (int i = 0; buses && i < buses->nodesetval->nodeNr; i++) {
        _cleanup_free_ char *v = node_text(buses, i);
        if (!v)
            goto oom;
        int b = disk_bus_from_string(v);
        if (b >= 0)
            c.buses[b] = true; /* fdc, usb, xen, ...: not buses kvmlab chooses */
    }
    *ret = c;
    return 0;

oom:
    hv_caps_clear(&c);
    return error_set(err, -ENOMEM, "Out of memory");
}

void hv_caps_clear(HvCaps *c)
{
    if (!c)
        return;
    free(c->machine);
    free(c->requested);
    for (size_t i = 0; i < c->n_scsi_models; i++)
        free(c->scsi_models[i]);
    free(c->scsi_models);
    *c = (HvCaps){0};
}

bool hv_caps_has_scsi_model(const HvCaps *c, const char *model)
{
    if (!c || !model || !c->buses[DISK_BUS_SCSI])
        return false;
    if (!c->scsi_models)
        /* the answer names no models: only virtio-scsi is assumed. The emulated HBAs are
         * build options a distribution may leave out, and even this QEMU's are traps
         * (TESTING.md: buslogic does not exist, lsisas1068 shows no disks). */
        return strcmp(model, "virtio-scsi") == 0;
    for (size_t i = 0; i < c->n_scsi_models; i++)
        if (strcmp(c->scsi_models[i], model) == 0)
            return true;
    return false;
}
