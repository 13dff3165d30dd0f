/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "kvmlab/error.h"

/*
 * Private to vmnet/: running code inside a named network namespace. setns() moves only the
 * calling thread, so a short-lived thread enters /run/netns/NETNS while the rest of the process
 * stays where it is.
 */

/* Call @fn(@data) on a thread inside network namespace @netns (NULL: this one). 0 once @fn has
 * run, or a negative errno when the thread could not start (-errno of pthread_create) or enter
 * the namespace (*ret_setns_failed is then true). @fn reports through @data. */
int netns_call(const char *netns, void (*fn)(void *data), void *data, int *ret_setns_failed);

/*
 * Run the nft commands @cmd through libnftables in @netns (NULL: this one), with the output
 * flags @output_flags (NFT_CTX_OUTPUT_*, 0 for nft's defaults); the output in *ret_out (new
 * string; may be NULL). 0, or a negative errno with @err set: "Cannot WHAT: ...".
 */
int nft_run_in_netns(const char *netns, const char *cmd, unsigned output_flags, char **ret_out,
                     const char *what, Error *err);
