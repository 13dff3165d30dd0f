/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdio.h>

/* Small text helpers shared by the parsers, the XML writers and the command line. */

/* Longest string text_edit_distance() compares; longer ones are SIZE_MAX apart. */
#define TEXT_EDIT_DISTANCE_MAXLEN 64

/* Optimal string alignment distance (Levenshtein plus adjacent swaps: 'netwroks' is one edit
 * from 'networks'), ASCII case ignored; SIZE_MAX when either is longer than the limit. For
 * did-you-mean suggestions. */
size_t text_edit_distance(const char *a, const char *b);

/* Write @s to @f escaped for XML text and for single- or double-quoted attribute values. */
void text_put_xml_escaped(FILE *f, const char *s);
