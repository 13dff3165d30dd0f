/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/virt.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <libvirt/virterror.h>

static void silent_handler(void *userdata, virErrorPtr error)
{
    (void)userdata;
    (void)error;
}

static void virt_init_once(void)
{
    virInitialize();
    virSetErrorFunc(NULL, silent_handler);
}

void virt_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, virt_init_once);
}

int virt_error(Error *err, const char *fmt, ...)
{
    if (!err || err->message)
        return -EIO;
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (r < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    int code = -EIO;
    virErrorPtr e = virGetLastError();
    if (e && e->code == VIR_ERR_NO_NETWORK)
        code = -ENOENT;
    else if (e && e->code == VIR_ERR_NO_DOMAIN)
        code = -ENOENT;
    else if (e && e->code == VIR_ERR_OPERATION_INVALID)
        code = -EBUSY;
    r = error_set(err, code, "%s: %s", msg, virGetLastErrorMessage());
    free(msg);
    return r;
}

int virt_connect(const char *uri, virConnectPtr *ret, Error *err)
{
    virt_init();
    virConnectPtr c = virConnectOpen(uri);
    if (!c)
        return virt_error(err, "Cannot connect to libvirt at '%s'", uri);
    *ret = c;
    return 0;
}
