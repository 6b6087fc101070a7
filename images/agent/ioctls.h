/* Named ioctls: each entry knows how to build its argument from the request's
 * JSON fields and how to decode the kernel's answer into reply fields. */
#ifndef HUCI_IOCTLS_H
#define HUCI_IOCTLS_H

#include "json.h"

struct ioctl_call {
	int fd;
	const struct jnode *req; /* the whole request: named args sit beside "request" */
	struct sbuf *out;        /* reply fields, each written as ",\"key\":value" */
	int newfd;               /* an fd the ioctl returned (line request…), else -1 */
	char error[160];         /* why the agent refused the arguments (EINVAL before any syscall) */
};

/* Runs the ioctl the request names ("request": NAME | {raw, arg?|hex?|size?}).
 * Returns 0 or a positive errno; argument errors return EINVAL with call->error set. */
int ioctl_run(struct ioctl_call *call);

/* Decodes lowercase/uppercase hex into a malloc'd buffer. */
bool hex_decode(const char *hex, unsigned char **out, size_t *len);

#endif
