/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure: from VMware's words to the lab's: guestOS to an osinfo id, NIC models, safe names. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/vmware.h"

typedef struct GuestOs {
    const char *vmware; /* guestOS as a .vmx writes it */
    const char *osinfo; /* an osinfo short id present in osinfo-db 20221203 */
} GuestOs;

/*
 * The guestOS values are VMware's documented guest OS identifiers: the `guestOS` key of the
 * .vmx as listed in VMware's "Guest OS Compatibility Guide" / the vSphere API reference
 * (enum VirtualMachineGuestOsIdentifier: windows9_64Guest is written "windows9-64",
 * windows2019srvNext_64Guest "windows2019srvnext-64", ...). One guestOS covers several
 * releases at times (windows8-64: Windows 8 and 8.1, windows8srv-64: Server 2012 and 2012 R2,
 * winnet*: Server 2003 and 2003 R2): the oldest release is taken, whose drivers the newer ones
 * keep. The osinfo ids are those of osinfo-db 20221203 (Debian 12's); where that database
 * lacks the release, the newest one it knows of the same line stands in (noted below). There
 * is no "winserver2008r2": VMware writes windows7srv-64 for Server 2008 R2. macOS (darwin*),
 * ESXi (vmkernel*), NetWare, OS/2 and "other" have no entry: osinfo has nothing a lab can use.
 */
static const GuestOs guest_os_table[] = {
        /* Windows desktops */
        {"win31", "win3.1"},
        {"win95", "win95"},
        {"win98", "win98"},
        {"winme", "winme"},
        {"winnt", "winnt4.0"},
        {"win2000pro", "win2k"},
        {"win2000serv", "win2k"},
        {"win2000advserv", "win2k"},
        {"winxphome", "winxp"},
        {"winxppro", "winxp"},
        {"winxppro-64", "winxp"},
        {"winvista", "winvista"},
        {"winvista-64", "winvista"},
        {"windows7", "win7"},
        {"windows7-64", "win7"},
        {"windows8", "win8"},
        {"windows8-64", "win8"},
        {"windows9", "win10"}, /* VMware's "windows9" is Windows 10 */
        {"windows9-64", "win10"},
        {"windows11-64", "win11"},
        /* Windows servers */
        {"winnetstandard", "win2k3"},
        {"winnetstandard-64", "win2k3"},
        {"winnetenterprise", "win2k3"},
        {"winnetenterprise-64", "win2k3"},
        {"winnetdatacenter", "win2k3"},
        {"winnetdatacenter-64", "win2k3"},
        {"winnetweb", "win2k3"},
        {"winnetbusiness", "win2k3"},
        {"longhorn", "win2k8"}, /* Server 2008 */
        {"longhorn-64", "win2k8"},
        {"windows7srv-64", "win2k8r2"},
        {"windows8srv-64", "win2k12"},
        {"windows9srv-64", "win2k16"},
        {"windows2019srv-64", "win2k19"},
        {"windows2019srvnext-64", "win2k22"}, /* Server 2022 */
        /* Server 2025: osinfo-db 20221203 has no win2k25; its newest server stands in */
        {"windows2022srvnext-64", "win2k22"},
        /* Ubuntu: VMware has one id for every release and osinfo no generic Ubuntu; the newest
         * LTS release osinfo-db 20221203 knows (22.04) stands in, the release most such VMs
         * run or are nearest to */
        {"ubuntu", "ubuntu22.04"},
        {"ubuntu-64", "ubuntu22.04"},
        /* Debian */
        {"debian4", "debian4"},
        {"debian4-64", "debian4"},
        {"debian5", "debian5"},
        {"debian5-64", "debian5"},
        {"debian6", "debian6"},
        {"debian6-64", "debian6"},
        {"debian7", "debian7"},
        {"debian7-64", "debian7"},
        {"debian8", "debian8"},
        {"debian8-64", "debian8"},
        {"debian9", "debian9"},
        {"debian9-64", "debian9"},
        {"debian10", "debian10"},
        {"debian10-64", "debian10"},
        {"debian11", "debian11"},
        {"debian11-64", "debian11"},
        /* osinfo-db 20221203 predates Debian 12: debian11 stands in */
        {"debian12", "debian11"},
        {"debian12-64", "debian11"},
        /* Red Hat: osinfo's rhelN-unknown entries are its answer for "major release N, minor
         * not known"; before RHEL 6 the last minor release stands in */
        {"rhel2", "rhel2.1"},
        {"rhel3", "rhel3.9"},
        {"rhel3-64", "rhel3.9"},
        {"rhel4", "rhel4.9"},
        {"rhel4-64", "rhel4.9"},
        {"rhel5", "rhel5.11"},
        {"rhel5-64", "rhel5.11"},
        {"rhel6", "rhel6-unknown"},
        {"rhel6-64", "rhel6-unknown"},
        {"rhel7", "rhel7-unknown"},
        {"rhel7-64", "rhel7-unknown"},
        {"rhel8-64", "rhel8-unknown"},
        {"rhel9-64", "rhel9-unknown"},
        /* CentOS: the last minor release of 6; 7 and 8 have major-only osinfo ids; VMware's
         * "CentOS 9" is CentOS Stream 9 */
        {"centos6", "centos6.10"},
        {"centos6-64", "centos6.10"},
        {"centos7", "centos7"},
        {"centos7-64", "centos7"},
        {"centos8-64", "centos8"},
        {"centos9-64", "centos-stream9"},
        /* Rocky and Alma Linux: VMware has one id each; the newest osinfo knows stands in */
        {"rockylinux-64", "rocky-unknown"},
        {"almalinux-64", "almalinux9"},
        /* Oracle Linux: the last minor release osinfo-db 20221203 knows */
        {"oraclelinux6", "ol6.10"},
        {"oraclelinux6-64", "ol6.10"},
        {"oraclelinux7-64", "ol7.9"},
        {"oraclelinux8-64", "ol8.5"},
        /* Fedora, openSUSE and SUSE: one id for every release; osinfo's "unknown" entries */
        {"fedora", "fedora-unknown"},
        {"fedora-64", "fedora-unknown"},
        {"opensuse", "opensuse-unknown"},
        {"opensuse-64", "opensuse-unknown"},
        {"sles10", "sles10"},
        {"sles10-64", "sles10"},
        {"sles11", "sles11"},
        {"sles11-64", "sles11"},
        {"sles12", "sles12"},
        {"sles12-64", "sles12"},
        {"sles15-64", "sle15"},
        /* Other Linux, by kernel: osinfo's generic linuxYYYY entries (the oldest is 2016);
         * kernels 2.4 and 2.6 are older than any of them and have no entry */
        {"other3xlinux", "linux2016"},
        {"other3xlinux-64", "linux2016"},
        {"other4xlinux", "linux2018"},
        {"other4xlinux-64", "linux2018"},
        {"other5xlinux", "linux2020"},
        {"other5xlinux-64", "linux2020"},
        {"other6xlinux", "linux2022"},
        {"other6xlinux-64", "linux2022"},
        {"otherlinux", "linux2016"},
        {"otherlinux-64", "linux2016"},
        /* BSD and Solaris: the last minor release osinfo-db 20221203 knows; FreeBSD 14 is newer
         * than that database, 13.1 stands in */
        {"freebsd11", "freebsd11.4"},
        {"freebsd11-64", "freebsd11.4"},
        {"freebsd12", "freebsd12.3"},
        {"freebsd12-64", "freebsd12.3"},
        {"freebsd13", "freebsd13.1"},
        {"freebsd13-64", "freebsd13.1"},
        {"freebsd14", "freebsd13.1"},
        {"freebsd14-64", "freebsd13.1"},
        {"solaris10", "solaris10"},
        {"solaris10-64", "solaris10"},
        {"solaris11-64", "solaris11"},
        {"dos", "msdos6.22"},
};

const char *vmw_guest_os_osinfo(const char *guest_os)
{
    if (!guest_os)
        return NULL;
    /* VMware reads its keys' values case-insensitively: "Windows9-64" is windows9-64 */
    for (size_t i = 0; i < ELEMENTSOF(guest_os_table); i++)
        if (strcasecmp(guest_os, guest_os_table[i].vmware) == 0)
            return guest_os_table[i].osinfo;
    return NULL;
}

const char *vmw_guest_os_entry(size_t i, const char **ret_osinfo)
{
    if (i >= ELEMENTSOF(guest_os_table))
        return NULL;
    if (ret_osinfo)
        *ret_osinfo = guest_os_table[i].osinfo;
    return guest_os_table[i].vmware;
}

const char *vmw_nic_model(const char *virtual_dev, bool virtio_net)
{
    if (virtio_net)
        return "virtio";
    if (!virtual_dev)
        return "e1000";
    /* vmxnet3 is paravirtual: without virtio drivers the nearest emulated NIC a Windows or
     * recent Linux guest drives out of the box is the e1000e */
    if (strcasecmp(virtual_dev, "e1000e") == 0 || strcasecmp(virtual_dev, "vmxnet3") == 0)
        return "e1000e";
    if (strcasecmp(virtual_dev, "vlance") == 0)
        return "pcnet";
    return "e1000";
}

char *vmw_safe_name(const char *raw, size_t max)
{
    if (max < 2)
        max = 2;
    size_t n = raw ? strlen(raw) : 0;
    /* room for "vm-" in front, the name and its NUL */
    char *out = malloc(n + 4);
    if (!out)
        return NULL;
    size_t k = 3;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            c = '-';
        if (c == '-' && (k == 3 || out[k - 1] == '-'))
            continue; /* none in front, runs squeezed */
        out[k++] = (char)c;
    }
    while (k > 3 && out[k - 1] == '-')
        k--;
    size_t start = 3;
    if (k == 3) {
        memcpy(out, "vm", 2);
        start = 0;
        k = 2;
    } else if (!(out[3] >= 'a' && out[3] <= 'z')) {
        memcpy(out, "vm-", 3);
        start = 0;
    }
    size_t len = k - start;
    if (len > max)
        len = max;
    while (len > 0 && out[start + len - 1] == '-')
        len--;
    memmove(out, out + start, len);
    out[len] = '\0';
    return out;
}
