/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

/*
 * The error object: the first function that sees a failure fills it with a whole sentence (user
 * values in single quotes) and returns a negative errno. Callers pass it up untouched; only cli/
 * prints it, once. A later error_set() on an already filled Error keeps the first message, so a
 * rollback never hides the failure that caused it.
 */
typedef struct Error {
    int code;      /* negative errno of the first failure, 0 when clear */
    char *message; /* owned, NULL when clear */
} Error;

#define ERROR_INIT                                                                                 \
    {                                                                                              \
        0, NULL                                                                                    \
    }

/* Fill @err (when non-NULL and still clear) with the formatted sentence. Returns @code, which is
 * forced negative (a zero or positive code becomes -EIO). */
int error_set(Error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* As error_set(), and appends ": " plus strerror(-code). */
int error_set_errno(Error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Prefix an already set message with "PREFIX: " (context added on the way up). */
void error_prefix(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Add "; <text>" after the message of an error that is set (what happened after it). */
void error_append(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Free the message and reset to clear. Accepts NULL. */
void error_clear(Error *err);

/* Whether @err holds an error. */
static inline int error_is_set(const Error *err)
{
    return err && err->message;
}
