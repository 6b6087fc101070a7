/* The sh op: one shell command in the guest, its exit status and output. */
#ifndef HUCI_SHELL_H
#define HUCI_SHELL_H

#include "json.h"

/* Runs /bin/sh -c command (stdin /dev/null, no inherited fds beyond 0-2, its own process
 * group) and appends ,"code","signal","stdout","stderr","timedOut","truncated" to out.
 * Returns 0 when the command ran (whatever its exit status) or a positive errno when it
 * could not be started; err gets the reason for a refusal (EINVAL). *succeeded (when not
 * NULL): it exited 0 within its time. */
int shell_run(const char *command, double timeout_ms, struct sbuf *out, bool *succeeded, char *err, size_t errlen);

#endif
