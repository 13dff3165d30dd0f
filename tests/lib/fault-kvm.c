/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A host where kvm accepts a guest but never runs it (nested hosts, and the machines this
 * project is built on), for machines that have no /dev/kvm at all: linked into a kvmlab binary
 * with -Wl,--wrap for the three calls below (STYLE: --wrap only to inject failures).
 *   - the hypervisor says it offers kvm (the answer for the default accelerator is returned);
 *   - a domain defined with type 'kvm' is defined as 'qemu' (without the host CPU passed through,
 *     which TCG cannot do), and starting it starts it paused:
 *     QEMU runs, the guest never executes an instruction, its console stays silent, exactly
 *     the symptom accel auto must notice.
 * Everything else goes through untouched.
 */
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>

char *__real_virConnectGetDomainCapabilities(virConnectPtr conn, const char *emulatorbin,
                                             const char *arch, const char *machine,
                                             const char *virttype, unsigned int flags);
char *__wrap_virConnectGetDomainCapabilities(virConnectPtr conn, const char *emulatorbin,
                                             const char *arch, const char *machine,
                                             const char *virttype, unsigned int flags);
virDomainPtr __real_virDomainDefineXML(virConnectPtr conn, const char *xml);
virDomainPtr __wrap_virDomainDefineXML(virConnectPtr conn, const char *xml);
int __real_virDomainCreate(virDomainPtr dom);
int __wrap_virDomainCreate(virDomainPtr dom);

#define KVM_TYPE "<domain type='kvm'"

/* the names of domains defined as kvm guests (a lab has few) */
static char *fake_kvm[64];

char *__wrap_virConnectGetDomainCapabilities(virConnectPtr conn, const char *emulatorbin,
                                             const char *arch, const char *machine,
                                             const char *virttype, unsigned int flags)
{
    if (virttype && strcmp(virttype, "kvm") == 0)
        virttype = NULL;
    return __real_virConnectGetDomainCapabilities(conn, emulatorbin, arch, machine, virttype,
                                                  flags);
}

virDomainPtr __wrap_virDomainDefineXML(virConnectPtr conn, const char *xml)
{
    const char *k = xml ? strstr(xml, KVM_TYPE) : NULL;
    if (!k)
        return __real_virDomainDefineXML(conn, xml);
    size_t len = strlen(xml);
    char *copy = malloc(len + 2);
    if (!copy)
        return NULL;
    size_t at = (size_t)(k - xml);
    memcpy(copy, xml, at);
    memcpy(copy + at, "<domain type='qemu'", strlen("<domain type='qemu'"));
    strcpy(copy + at + strlen("<domain type='qemu'"), k + strlen(KVM_TYPE));
    /* TCG cannot pass the host's CPU through: the kvm guest's <cpu> goes too */
    char *cpu = strstr(copy, "<cpu mode='host-passthrough'/>");
    if (cpu)
        memmove(cpu, cpu + strlen("<cpu mode='host-passthrough'/>"),
                strlen(cpu + strlen("<cpu mode='host-passthrough'/>")) + 1);
    virDomainPtr dom = __real_virDomainDefineXML(conn, copy);
    free(copy);
    for (size_t i = 0; dom && i < sizeof(fake_kvm) / sizeof(fake_kvm[0]); i++) {
        if (!fake_kvm[i]) {
            fake_kvm[i] = strdup(virDomainGetName(dom));
            break;
        }
    }
    return dom;
}

int __wrap_virDomainCreate(virDomainPtr dom)
{
    const char *name = virDomainGetName(dom);
    for (size_t i = 0; name && i < sizeof(fake_kvm) / sizeof(fake_kvm[0]) && fake_kvm[i]; i++)
        if (strcmp(fake_kvm[i], name) == 0) {
            free(fake_kvm[i]);
            fake_kvm[i] = strdup("");
            return virDomainCreateWithFlags(dom, VIR_DOMAIN_START_PAUSED);
        }
    return __real_virDomainCreate(dom);
}
