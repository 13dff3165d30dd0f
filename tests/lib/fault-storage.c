/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Failure injection for the storage integration test (STYLE: --wrap only to inject failures):
 * linked into a second kvmlab binary with -Wl,--wrap=virStorageVolCreateXML. The Nth volume
 * creation (KVMLAB_FAULT_VOLUME_CREATE=N) fails as libvirt would; every other call goes through.
 */
#include <stdlib.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

virStorageVolPtr __real_virStorageVolCreateXML(virStoragePoolPtr pool, const char *xml,
                                               unsigned int flags);
virStorageVolPtr __wrap_virStorageVolCreateXML(virStoragePoolPtr pool, const char *xml,
                                               unsigned int flags);

virStorageVolPtr __wrap_virStorageVolCreateXML(virStoragePoolPtr pool, const char *xml,
                                               unsigned int flags)
{
    static int calls;
    const char *n = getenv("KVMLAB_FAULT_VOLUME_CREATE");
    if (n && atoi(n) == ++calls) {
        virResetLastError();
        /* a real libvirt error of the kind a full disk gives: a lookup that fails sets one */
        virStoragePoolLookupByName(virStoragePoolGetConnect(pool), "kvmlab-injected-failure");
        return NULL;
    }
    return __real_virStorageVolCreateXML(pool, xml, flags);
}
