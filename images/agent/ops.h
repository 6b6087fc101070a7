/* The operations that act on an fd, shared by one-shot requests and loops. */
#ifndef HUCI_OPS_H
#define HUCI_OPS_H

#include <stdbool.h>

#include "json.h"

#define RESULT_KEY_MAX 128

struct op_result {
	struct sbuf fields; /* reply fields, each ",\"key\":value" */
	char error[160];    /* set when the agent refused the arguments (no syscall made) */
	char key[RESULT_KEY_MAX]; /* how a loop counts this result: OK, EOF, TIMEOUT, POLLIN|POLLHUP, or the errno name */
};

bool fd_op_known(const char *op);

/* Runs op ("read", "write", "pread", "poll", "ioctl", "mmap") with the arguments in args.
 * Returns 0 or a positive errno. In a loop, results are counted rather than
 * returned: data is not hex-encoded and fds an ioctl returns are closed at once. */
int fd_op(const char *op, const struct jnode *args, int fd, struct op_result *res, bool in_loop);

/* SIGBUS/SIGSEGV during an mmap probe's touch become its result; anywhere else they stay fatal. */
void ops_install_fault_handlers(void);

/* Parses a flags array of O_* names. Returns false and fills err on an unknown name. */
bool open_flags(const struct jnode *arr, int *flags, char *err, size_t errlen);

#endif
