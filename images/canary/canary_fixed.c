// SPDX-License-Identifier: GPL-2.0
/* canary_fixed.ko: canary.c with refcounted state (-ENODEV after unbind). */
#include "canary.c"
