/* Generic ioctl(2) on a buffer the host encoded (src/vocabulary); see ioctls.c. */
#ifndef HUCI_IOCTLS_H
#define HUCI_IOCTLS_H

#include "json.h"

struct ioctl_call {
	int fd;
	const struct jnode *req; /* the whole request: "request" holds the step(s) */
	struct sbuf *out;        /* reply fields, each written as ",\"key\":value" */
	int newfd;               /* an fd the call returned (fdAt/fdReturn), else -1 */
	char error[160];         /* why the agent refused the arguments (EINVAL before any syscall) */
};

/* Runs "request": {number, arg?|hex?|size?, relocs?, fdAt?, fdReturn?} or a list of them.
 * Returns 0 or a positive errno; argument errors return EINVAL with call->error set. */
int ioctl_run(struct ioctl_call *call);

/* Decodes lowercase/uppercase hex into a malloc'd buffer. */
bool hex_decode(const char *hex, unsigned char **out, size_t *len);

#endif
