/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "golden.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

char *golden_path(const char *relpath)
{
    char *p = NULL;
    if (asprintf(&p, "%s/tests/data/%s", KVMLAB_SOURCE_ROOT, relpath) < 0)
        return NULL;
    return p;
}

char *golden_read(const char *relpath)
{
    char *path = golden_path(relpath);
    FILE *f = path ? fopen(path, "re") : NULL;
    free(path);
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    return buf;
}

int golden_check(const char *relpath, const char *actual)
{
    const char *regen = getenv("KVMLAB_REGENERATE");
    if (regen && strcmp(regen, "1") == 0) {
        char *path = golden_path(relpath);
        FILE *f = path ? fopen(path, "we") : NULL;
        if (!f) {
            fprintf(stderr, "cannot write golden file '%s': %s\n", path, strerror(errno));
            free(path);
            return -1;
        }
        fputs(actual, f);
        fclose(f);
        free(path);
        return 0;
    }
    char *expected = golden_read(relpath);
    if (!expected) {
        fprintf(stderr, "golden file 'tests/data/%s' is missing; run with KVMLAB_REGENERATE=1\n",
                relpath);
        return -1;
    }
    if (strcmp(expected, actual) == 0) {
        free(expected);
        return 0;
    }
    /* show the first differing line */
    const char *e = expected, *a = actual;
    int line = 1;
    while (*e && *e == *a) {
        if (*e == '\n')
            line++;
        e++;
        a++;
    }
    const char *el = e, *al = a;
    while (el > expected && el[-1] != '\n')
        el--;
    while (al > actual && al[-1] != '\n')
        al--;
    fprintf(stderr,
            "golden mismatch in tests/data/%s at line %d\n  expected: %.*s\n  actual:   %.*s\n",
            relpath, line, (int)strcspn(el, "\n"), el, (int)strcspn(al, "\n"), al);
    fprintf(stderr, "---- actual output ----\n%s-----------------------\n", actual);
    free(expected);
    return -1;
}
