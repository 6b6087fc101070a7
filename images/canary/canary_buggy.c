// SPDX-License-Identifier: GPL-2.0
/* canary_buggy.ko: canary.c with devm_kzalloc()ed state (use-after-free on unbind). */
#define CANARY_BUGGY 1
#include "canary.c"
