/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Golden files: compare generated text with tests/data/<flow>/<case>.out. With
 * KVMLAB_REGENERATE=1 in the environment the file is rewritten instead (then review the diff).
 * Returns 0 when equal (or regenerated); otherwise prints a unified-ish first difference to stderr
 * and returns -1.
 */
int golden_check(const char *relpath, const char *actual);

/* Read tests/data/<relpath> into a new string (NULL when missing). */
char *golden_read(const char *relpath);

/* Absolute path of tests/data/<relpath> in a new string. */
char *golden_path(const char *relpath);
