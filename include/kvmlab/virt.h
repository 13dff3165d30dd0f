/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/error.h"

/* Install the silent libvirt error handler (once per process; libvirt then never prints). */
void virt_init(void);

/* error_set() with libvirt's last error message appended (": <message>"). */
int virt_error(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Open @uri read-write. 0 or a negative errno with @err set. */
int virt_connect(const char *uri, virConnectPtr *ret, Error *err);

static inline void virt_conn_closep(virConnectPtr *p)
{
    if (*p)
        virConnectClose(*p);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(virNetworkPtr, virNetworkFree)
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree)
#define _cleanup_conn_    _cleanup_(virt_conn_closep)
#define _cleanup_network_ _cleanup_(virNetworkFreep)
#define _cleanup_domain_  _cleanup_(virDomainFreep)
