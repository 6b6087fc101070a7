/* File operations of the host's set-up steps and the case markers, done by the agent itself
 * (protocol 9): writefile, mkdir, rmdir, find, klog; refresh (protocol 11): a restored guest's
 * clock and CRNG. */
#ifndef HUCI_FILES_H
#define HUCI_FILES_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"

bool file_op_known(const char *op);

/* Runs op with the arguments in args; appends its reply fields (",\"key\":value") to out.
 * Returns 0 or a positive errno; err gets the reason for a failure (the path and strerror,
 * or why the arguments were refused: EINVAL, nothing done). */
int file_op(const char *op, const struct jnode *args, struct sbuf *out, char *err, size_t errlen);

#endif
