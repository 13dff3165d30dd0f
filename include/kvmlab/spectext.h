/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/*
 * Canonical spec texts: "key=value" lines, one fact each, keys may repeat (one line per host).
 * They are stored in every object's metadata and compared by the engine's diff.
 */

/* The value of the first "KEY=" line, as a new string; NULL when there is none. */
char *spec_text_get(const char *spec, const char *key);

/* Every value of "KEY=" lines in order, as a new array of new strings (free with
 * spec_text_values_free()). Returns the count. */
size_t spec_text_values(const char *spec, const char *key, char ***ret);
void spec_text_values_free(char **v, size_t n);
