/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/xmlread.h"
#include "kvmlab/node.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/text.h"
#include "kvmlab/xmlns.h"

/*
 * The libvirt domain XML of a node, and what kvmlab reads back from a live domain. Written by
 * hand like the network XML (vmnet/netxml.c): single quotes, two-space steps and the element
 * order of libvirt's own dump (virDomainDefFormat), so a golden file reads like `virsh dumpxml`
 * and the disks from storage_disks_xml() drop in at their indentation (four spaces).
 */

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlParserCtxtPtr, xmlFreeParserCtxt)

/* The emulator of every node: Debian's QEMU for x86_64 guests. */
#define NODE_EMULATOR "/usr/bin/qemu-system-x86_64"

static void indent(FILE *f, int level)
{
    for (int i = 0; i < level; i++)
        fputs("  ", f);
}

/* <name>text</name> on a line of its own at @level; @prefix: the element's namespace prefix. */
static void text_element(FILE *f, int level, const char *prefix, const char *name, const char *text)
{
    indent(f, level);
    if (prefix)
        fprintf(f, "<%s:%s>", prefix, name);
    else
        fprintf(f, "<%s>", name);
    text_put_xml_escaped(f, text);
    if (prefix)
        fprintf(f, "</%s:%s>\n", prefix, name);
    else
        fprintf(f, "</%s>\n", name);
}

/* The attribute ` name='value'`, escaped. */
static void attr(FILE *f, const char *name, const char *value)
{
    fprintf(f, " %s='", name);
    text_put_xml_escaped(f, value);
    fputc('\'', f);
}

static void metadata_write(FILE *f, const DomainSpec *s)
{
    const char *p = KVMLAB_XMLNS_PREFIX;

    fputs("  <metadata>\n", f);
    fprintf(f, "    <%s:lab xmlns:%s='%s'>\n", p, p, KVMLAB_XMLNS);
    text_element(f, 3, p, "name", s->lab);
    text_element(f, 3, p, "key", s->key);
    text_element(f, 3, p, "hash", s->hash);
    text_element(f, 3, p, "spec", s->spec);
    if (s->accel_fallback)
        text_element(f, 3, p, "accel-fallback", s->accel_fallback);
    fprintf(f, "    </%s:lab>\n", p);
    fputs("  </metadata>\n", f);
}

static void os_write(FILE *f, const DomainSpec *s)
{
    fputs(s->efi ? "  <os firmware='efi'>\n" : "  <os>\n", f);
    fputs("    <type arch='x86_64'", f);
    if (s->machine)
        attr(f, "machine", s->machine);
    fputs(">hvm</type>\n", f);
    if (s->efi) {
        /* said either way: with no wish libvirt would pick the first descriptor, which on
         * Debian is the secure-boot build with enrolled keys */
        fputs("    <firmware>\n", f);
        if (s->secure_boot) {
            fputs("      <feature enabled='yes' name='secure-boot'/>\n", f);
            fputs("      <feature enabled='yes' name='enrolled-keys'/>\n", f);
        } else {
            fputs("      <feature enabled='no' name='secure-boot'/>\n", f);
        }
        fputs("    </firmware>\n", f);
    }
    if (s->kernel) {
        text_element(f, 2, NULL, "kernel", s->kernel);
        if (s->initrd)
            text_element(f, 2, NULL, "initrd", s->initrd);
        if (s->cmdline)
            text_element(f, 2, NULL, "cmdline", s->cmdline);
    } else {
        /* the first disk in storage_disks_xml() order is the root disk */
        fputs("    <boot dev='hd'/>\n", f);
    }
    fputs("  </os>\n", f);
}

static void nic_write(FILE *f, const DomainNic *n)
{
    char mac[MAC_STRLEN];

    fprintf(f, "    <interface type='%s'>\n", n->network ? "network" : "bridge");
    fprintf(f, "      <mac address='%s'/>\n", addr_mac_format(&n->mac, mac));
    fputs("      <source", f);
    if (n->network)
        attr(f, "network", n->network);
    else
        attr(f, "bridge", n->bridge);
    fputs("/>\n", f);
    fputs("      <model", f);
    attr(f, "type", n->model);
    fputs("/>\n", f);
    fputs("    </interface>\n", f);
}

/*
 * The serial console is a pty, so `kvmlab console` (virsh console) can attach to it, and QEMU
 * logs everything it prints to a file whether anyone is attached or not (the in-guest report is
 * read from that log). append='off': each start truncates the log, so it holds the current boot
 * only. The <console> is libvirt's alias of the first serial port.
 */
static void console_write(FILE *f, const char *log)
{
    fputs("    <serial type='pty'>\n", f);
    fputs("      <log", f);
    attr(f, "file", log);
    fputs(" append='off'/>\n", f);
    fputs("      <target port='0'/>\n", f);
    fputs("    </serial>\n", f);
    fputs("    <console type='pty'>\n", f);
    fputs("      <log", f);
    attr(f, "file", log);
    fputs(" append='off'/>\n", f);
    fputs("      <target type='serial' port='0'/>\n", f);
    fputs("    </console>\n", f);
}

static int spec_check(const DomainSpec *s, Error *err)
{
    if (!s->name || !s->name[0])
        return error_set(err, -EINVAL, "A domain needs a name");
    if (!s->lab || !s->key || !s->hash || !s->spec)
        return error_set(err, -EINVAL,
                         "Domain '%s' lacks its kvmlab metadata (lab, key, hash and spec)",
                         s->name);
    if (s->cpus == 0)
        return error_set(err, -EINVAL, "Domain '%s' has no vCPUs", s->name);
    if (s->memory_mib == 0)
        return error_set(err, -EINVAL, "Domain '%s' has no memory", s->name);
    if (!s->console_log || !s->console_log[0])
        return error_set(err, -EINVAL, "Domain '%s' has no console log file", s->name);
    if (!s->kernel && (s->initrd || s->cmdline))
        return error_set(err, -EINVAL,
                         "Domain '%s' has an initrd or kernel command line but no kernel", s->name);
    for (size_t i = 0; i < s->n_nics; i++) {
        const DomainNic *n = &s->nics[i];
        if (!n->network == !n->bridge)
            return error_set(err, -EINVAL,
                             "NIC %zu of domain '%s' needs either a network or a bridge", i,
                             s->name);
        if (!n->model || !n->model[0])
            return error_set(err, -EINVAL, "NIC %zu of domain '%s' has no model", i, s->name);
    }
    return 0;
}

/*
 * The domain XML of @s: kvmlab metadata, direct kernel boot or boot from the first disk,
 * host-passthrough CPU under KVM (TCG emulates its default model: no <cpu>), the disks as
 * given, one NIC per entry, the serial console in a file, a guest agent channel, a virtio RNG
 * (entropy for cloud-init's SSH host keys without waiting), no USB and no balloon. New string
 * in *ret; 0, -EINVAL with @err set for a spec that cannot be, or -ENOMEM.
 */
int node_domain_xml(const DomainSpec *s, char **ret, Error *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    FILE *f;
    int r;

    if ((r = spec_check(s, err)) < 0)
        return r;
    if (!(f = open_memstream(&buf, &len)))
        return error_set(err, -ENOMEM, "Out of memory");

    fprintf(f, "<domain type='%s'>\n", s->kvm ? "kvm" : "qemu");
    text_element(f, 1, NULL, "name", s->name);
    if (s->uuid)
        text_element(f, 1, NULL, "uuid", s->uuid);
    metadata_write(f, s);
    fprintf(f, "  <memory unit='MiB'>%" PRIu64 "</memory>\n", s->memory_mib);
    fprintf(f, "  <vcpu placement='static'>%u</vcpu>\n", s->cpus);
    os_write(f, s);
    fputs("  <features>\n", f);
    fputs("    <acpi/>\n", f);
    fputs("    <apic/>\n", f);
    /* secure boot's firmware keeps its variables safe from the guest in SMM */
    if (s->efi && s->secure_boot)
        fputs("    <smm state='on'/>\n", f);
    fputs("  </features>\n", f);
    if (s->kvm)
        fputs("  <cpu mode='host-passthrough'/>\n", f);
    /* no HPET: under TCG a guest that finds its TSC unstable falls back to the HPET, which is
     * slow to emulate (measured in bench/RESULTS.md: 1.21x on boot to ready); the rtc and pit
     * policies are virt-install's */
    fputs("  <clock offset='utc'>\n", f);
    fputs("    <timer name='rtc' tickpolicy='catchup'/>\n", f);
    fputs("    <timer name='pit' tickpolicy='delay'/>\n", f);
    fputs("    <timer name='hpet' present='no'/>\n", f);
    fputs("  </clock>\n", f);
    fputs("  <on_poweroff>destroy</on_poweroff>\n", f);
    fputs("  <on_reboot>restart</on_reboot>\n", f);
    /* a crashed node stays down (a panic=-1 kernel reboots itself) */
    fputs("  <on_crash>destroy</on_crash>\n", f);
    fputs("  <devices>\n", f);
    fputs("    <emulator>" NODE_EMULATOR "</emulator>\n", f);
    if (s->disks_xml)
        fputs(s->disks_xml, f);
    /* nodes have no USB devices: without this QEMU gets a USB controller and tablet */
    fputs("    <controller type='usb' model='none'/>\n", f);
    for (size_t i = 0; i < s->n_nics; i++)
        nic_write(f, &s->nics[i]);
    console_write(f, s->console_log);
    /* libvirt's QEMU driver picks the socket's path itself */
    fputs("    <channel type='unix'>\n", f);
    fputs("      <target type='virtio' name='org.qemu.guest_agent.0'/>\n", f);
    fputs("    </channel>\n", f);
    /* memory is fixed: no balloon to inflate behind the guest's back */
    fputs("    <memballoon model='none'/>\n", f);
    fputs("    <rng model='virtio'>\n", f);
    fputs("      <backend model='random'>/dev/urandom</backend>\n", f);
    fputs("    </rng>\n", f);
    fputs("  </devices>\n", f);
    fputs("</domain>\n", f);

    if (fclose(f) != 0)
        return error_set(err, -ENOMEM, "Out of memory");
    *ret = steal_pointer(&buf);
    return 0;
}

/* ---- reading back ---------------------------------------------------------------------- */

/* Attribute @name of @n in a new string in *ret (NULL when absent). */
static int attr_dup(const xmlNode *n, const char *name, char **ret, Error *err)
{
    xmlChar *c = xmlGetNoNsProp(n, BAD_CAST name);
    *ret = NULL;
    if (!c)
        return 0;
    *ret = strdup((const char *)c);
    xmlFree(c);
    return *ret ? 0 : error_set(err, -ENOMEM, "Out of memory");
}

/* A decimal number in element @n's text; @what names it in errors. */
static int number_parse(const xmlNode *n, const char *what, uint64_t *ret, Error *err)
{
    _cleanup_free_ char *text = NULL;
    int r = xml_text_dup(n, &text, err);
    if (r < 0)
        return r;
    const char *p = text + strspn(text, " \t\n");
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    end += strspn(end, " \t\n");
    if (*p < '0' || *p > '9' || *end || errno != 0)
        return error_set(err, -EINVAL, "The domain's %s '%s' is not a number", what, text);
    *ret = v;
    return 0;
}

/* Bytes per unit of libvirt's memory units (virScaleInteger: KB, MB... are powers of 1000,
 * k, KiB, M, MiB... of 1024); NULL means KiB, libvirt's default. 0 for an unknown unit. */
static uint64_t memory_unit_bytes(const char *unit)
{
    static const struct {
        const char *name;
        uint64_t bytes;
    } units[] = {
            {"b", 1},          {"bytes", 1},        {"KB", 1000ULL},
            {"k", 1ULL << 10}, {"KiB", 1ULL << 10}, {"MB", 1000000ULL},
            {"M", 1ULL << 20}, {"MiB", 1ULL << 20}, {"GB", 1000000000ULL},
            {"G", 1ULL << 30}, {"GiB", 1ULL << 30}, {"TB", 1000000000000ULL},
            {"T", 1ULL << 40}, {"TiB", 1ULL << 40},
    };
    if (!unit)
        return 1ULL << 10;
    for (size_t i = 0; i < ELEMENTSOF(units); i++)
        if (strcmp(units[i].name, unit) == 0)
            return units[i].bytes;
    return 0;
}

/* <memory unit='KiB'>N</memory> in MiB (libvirt writes KiB back whatever it was given). */
static int memory_parse(const xmlNode *n, uint64_t *ret, Error *err)
{
    _cleanup_free_ char *unit = NULL;
    uint64_t v, scale;
    int r;

    if ((r = attr_dup(n, "unit", &unit, err)) < 0 || (r = number_parse(n, "memory", &v, err)) < 0)
        return r;
    if (!(scale = memory_unit_bytes(unit)))
        return error_set(err, -EINVAL, "The domain's memory has unknown unit '%s'", unit);
    if (v > UINT64_MAX / scale)
        return error_set(err, -EINVAL, "The domain's memory '%" PRIu64 " %s' is too large", v,
                         unit);
    *ret = v * scale / (1ULL << 20);
    return 0;
}

static int metadata_parse(const xmlNode *md, DomainLive *d, Error *err)
{
    int r = 0;
    for (xmlNode *lab = md->children; lab; lab = lab->next) {
        if (!xml_node_is(lab, KVMLAB_XMLNS, "lab"))
            continue;
        for (xmlNode *c = lab->children; c && r == 0; c = c->next) {
            if (xml_node_is(c, KVMLAB_XMLNS, "name"))
                r = xml_text_dup(c, &d->lab, err);
            else if (xml_node_is(c, KVMLAB_XMLNS, "key"))
                r = xml_text_dup(c, &d->key, err);
            else if (xml_node_is(c, KVMLAB_XMLNS, "hash"))
                r = xml_text_dup(c, &d->hash, err);
            else if (xml_node_is(c, KVMLAB_XMLNS, "spec"))
                r = xml_text_dup(c, &d->spec, err);
            else if (xml_node_is(c, KVMLAB_XMLNS, "accel-fallback"))
                r = xml_text_dup(c, &d->accel_fallback, err);
        }
    }
    return r;
}

static int interface_parse(const xmlNode *iface, DomainLive *d, Error *err)
{
    for (xmlNode *c = iface->children; c; c = c->next) {
        if (!xml_node_is(c, NULL, "mac"))
            continue;
        _cleanup_free_ char *addr = NULL;
        int r = attr_dup(c, "address", &addr, err);
        if (r < 0)
            return r;
        MacAddr m;
        if (!addr || addr_mac_parse(addr, &m) < 0)
            return error_set(err, -EINVAL, "The domain has an interface with MAC address '%s'",
                             addr ? addr : "");
        char **macs = reallocarray(d->macs, d->n_macs + 1, sizeof(*macs));
        if (!macs)
            return error_set(err, -ENOMEM, "Out of memory");
        d->macs = macs;
        char buf[MAC_STRLEN];
        if (!(d->macs[d->n_macs] = strdup(addr_mac_format(&m, buf))))
            return error_set(err, -ENOMEM, "Out of memory");
        d->n_macs++;
        return 0;
    }
    return 0; /* libvirt always writes one back; a hand-made document may lack it */
}

/* The first serial port's log file (the console kvmlab reads). */
static int serial_parse(const xmlNode *serial, DomainLive *d, Error *err)
{
    _cleanup_free_ char *type = NULL;
    int r;

    if (d->console_log)
        return 0;
    if ((r = attr_dup(serial, "type", &type, err)) < 0)
        return r;
    /* a pty logged to a file (what kvmlab makes), or a plain file */
    for (xmlNode *c = serial->children; c; c = c->next) {
        if (xml_node_is(c, NULL, "log"))
            return attr_dup(c, "file", &d->console_log, err);
        if (type && strcmp(type, "file") == 0 && xml_node_is(c, NULL, "source"))
            return attr_dup(c, "path", &d->console_log, err);
    }
    return 0;
}

/* Clear the fields of @d. Accepts NULL. */
void domain_live_clear(DomainLive *d)
{
    if (!d)
        return;
    free(d->lab);
    free(d->key);
    free(d->hash);
    free(d->spec);
    free(d->accel_fallback);
    for (size_t i = 0; i < d->n_macs; i++)
        free(d->macs[i]);
    free(d->macs);
    free(d->console_log);
    *d = (DomainLive){0};
}

/*
 * What kvmlab reads back from domain XML @xml (as virDomainGetXMLDesc gives it): the kvmlab
 * metadata (matched by namespace URI: libvirt may re-serialise it with another prefix), the
 * domain type, vCPUs, memory in MiB, the interfaces' MACs in document order (lower case) and
 * the serial console's log file. Fills *ret only on success; 0, -EINVAL with @err set for a
 * document that is not a domain or holds a number that is not one, or -ENOMEM.
 */
int node_domain_parse(const char *xml, DomainLive *ret, Error *err)
{
    _cleanup_(xmlFreeParserCtxtp) xmlParserCtxtPtr ctxt = NULL;
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
    _cleanup_free_ char *type = NULL;
    DomainLive d = {0};
    xmlNode *root;
    int r = 0;

    if (!xml)
        return error_set(err, -EINVAL, "Cannot parse the domain XML: it is empty");
    if (!(ctxt = xmlNewParserCtxt()))
        return error_set(err, -ENOMEM, "Out of memory");
    /* library code never prints: keep libxml2's messages in the context */
    doc = xmlCtxtReadMemory(ctxt, xml, (int)strlen(xml), "domain.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc || !(root = xmlDocGetRootElement(doc))) {
        const char *msg = ctxt->lastError.message ? ctxt->lastError.message : "no root element";
        size_t n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            n--;
        return error_set(err, -EINVAL, "Cannot parse the domain XML: %.*s (line %d)", (int)n, msg,
                         ctxt->lastError.line);
    }
    if (!xml_node_is(root, NULL, "domain"))
        return error_set(err, -EINVAL,
                         "Cannot parse the domain XML: its root is <%s>, not <domain>",
                         (const char *)root->name);

    if ((r = attr_dup(root, "type", &type, err)) < 0)
        return r;
    d.kvm = type && strcmp(type, "kvm") == 0;
    for (xmlNode *n = root->children; n && r == 0; n = n->next) {
        if (xml_node_is(n, NULL, "metadata")) {
            r = metadata_parse(n, &d, err);
        } else if (xml_node_is(n, NULL, "vcpu")) {
            uint64_t v;
            if ((r = number_parse(n, "vCPU count", &v, err)) == 0 && v > UINT32_MAX)
                r = error_set(err, -EINVAL, "The domain's vCPU count %" PRIu64 " is too large", v);
            d.cpus = (unsigned)v;
        } else if (xml_node_is(n, NULL, "memory")) {
            r = memory_parse(n, &d.memory_mib, err);
        } else if (xml_node_is(n, NULL, "devices")) {
            for (xmlNode *c = n->children; c && r == 0; c = c->next) {
                if (xml_node_is(c, NULL, "interface"))
                    r = interface_parse(c, &d, err);
                else if (xml_node_is(c, NULL, "serial"))
                    r = serial_parse(c, &d, err);
            }
        }
    }
    if (r < 0) {
        domain_live_clear(&d);
        return r;
    }
    *ret = d;
    return 0;
}

/* ---- the SMBIOS uuid ------------------------------------------------------------------- */

/*
 * The namespace of node uuids: uuid5(NAMESPACE_URL, "https://kvmlab.dev/xmlns/node/1"),
 * bca6b84f-e780-560f-a6dc-50f37e348cd6. Fixed forever: a node's uuid (its product_uuid, which
 * kubeadm wants unique) must not change between kvmlab versions.
 */
static const unsigned char node_uuid_ns[16] = {0xbc, 0xa6, 0xb8, 0x4f, 0xe7, 0x80, 0x56, 0x0f,
                                               0xa6, 0xdc, 0x50, 0xf3, 0x7e, 0x34, 0x8c, 0xd6};

/*
 * RFC 4122 version 5: SHA-1 over the namespace's bytes and the name "<lab>/<node>" (neither
 * holds a '/'), the first 16 bytes with the version (5) and variant (10) bits set, formatted
 * 8-4-4-4-12 in lower case. New string, NULL on ENOMEM.
 */
char *node_uuid(const char *lab, const char *node)
{
    _cleanup_free_ char *name = NULL;
    unsigned char md[EVP_MAX_MD_SIZE], in[16];
    unsigned md_len = 0;
    char *out;
    int n;

    if ((n = asprintf(&name, "%s/%s", lab, node)) < 0)
        return NULL;
    size_t total = sizeof(node_uuid_ns) + (size_t)n;
    _cleanup_free_ unsigned char *data = malloc(total);
    if (!data)
        return NULL;
    memcpy(data, node_uuid_ns, sizeof(node_uuid_ns));
    memcpy(data + sizeof(node_uuid_ns), name, (size_t)n);
    if (!EVP_Digest(data, total, md, &md_len, EVP_sha1(), NULL) || md_len < sizeof(in))
        return NULL;
    memcpy(in, md, sizeof(in));
    in[6] = (unsigned char)((in[6] & 0x0f) | 0x50);
    in[8] = (unsigned char)((in[8] & 0x3f) | 0x80);
    if (asprintf(&out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], in[8], in[9], in[10],
                 in[11], in[12], in[13], in[14], in[15]) < 0)
        return NULL;
    return out;
}
