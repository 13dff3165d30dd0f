/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/spectext.h"

#include <stdlib.h>
#include <string.h>

size_t spec_text_values(const char *spec, const char *key, char ***ret)
{
    size_t n = 0, klen = strlen(key);
    char **v = NULL;
    for (const char *p = spec ? spec : ""; *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (l > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            char **nv = realloc(v, (n + 1) * sizeof(*v));
            char *val = strndup(p + klen + 1, l - klen - 1);
            if (!nv || !val) {
                free(val);
                if (nv)
                    v = nv;
                break;
            }
            v = nv;
            v[n++] = val;
        }
        p += l + (nl ? 1 : 0);
    }
    *ret = v;
    return n;
}

void spec_text_values_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

char *spec_text_get(const char *spec, const char *key)
{
    char **v = NULL;
    size_t n = spec_text_values(spec, key, &v);
    char *first = n ? v[0] : NULL;
    for (size_t i = 1; i < n; i++)
        free(v[i]);
    free(v);
    return first;
}
