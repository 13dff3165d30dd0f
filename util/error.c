/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int error_vset(Error *err, int code, const char *suffix, const char *fmt, va_list ap)
{
    if (code >= 0)
        code = -EIO;
    if (!err || err->message)
        return code;

    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    if (msg && suffix) {
        char *full = NULL;
        if (asprintf(&full, "%s: %s", msg, suffix) >= 0) {
            free(msg);
            msg = full;
        }
    }
    err->code = code;
    err->message = msg ? msg : strdup("Out of memory");
    return code;
}

int error_set(Error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = error_vset(err, code, NULL, fmt, ap);
    va_end(ap);
    return r;
}

int error_set_errno(Error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = error_vset(err, code, strerror(code < 0 ? -code : EIO), fmt, ap);
    va_end(ap);
    return r;
}

void error_prefix(Error *err, const char *fmt, ...)
{
    if (!err || !err->message)
        return;
    char *pre = NULL, *full = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&pre, fmt, ap);
    va_end(ap);
    if (r < 0)
        return;
    if (asprintf(&full, "%s: %s", pre, err->message) >= 0) {
        free(err->message);
        err->message = full;
    }
    free(pre);
}

void error_append(Error *err, const char *fmt, ...)
{
    if (!err || !err->message)
        return;
    char *post = NULL, *full = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&post, fmt, ap);
    va_end(ap);
    if (r < 0)
        return;
    if (asprintf(&full, "%s; %s", err->message, post) >= 0) {
        free(err->message);
        err->message = full;
    }
    free(post);
}

void error_clear(Error *err)
{
    if (!err)
        return;
    free(err->message);
    err->message = NULL;
    err->code = 0;
}
