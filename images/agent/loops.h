/* In-flight loops: a thread repeating one fd operation until stopped, counting
 * results by key (OK, EOF, TIMEOUT, poll revents, errno names) and recording
 * when the result changed, so a timeline shows e.g. OK until 812 ms, then ENODEV. */
#ifndef HUCI_LOOPS_H
#define HUCI_LOOPS_H

#include "json.h"

/* Takes ownership of req (the spawn request: {handle, loop:{op,...}, intervalMs?}).
 * Returns 0 and the loop id, or EINVAL/EBADF/EAGAIN with err filled. */
int loop_spawn(struct jnode *req, int *id, char *err, size_t errlen);

/* Stops a loop: flags it and sends SIGUSR1 until its thread leaves a blocked
 * call, waiting at most timeout_ms. Writes the loop's fields into out.
 * Returns 0 or EINVAL (no such loop). A loop stuck in the kernel is reported
 * with "stuck":true and stays listed; stop may be called again. */
int loop_stop(int id, double timeout_ms, struct sbuf *out, char *err, size_t errlen);

/* Writes ",\"loops\":[...]" with every loop's current counts. */
void loops_list(struct sbuf *out);

/* At exit: stops every loop, waiting at most timeout_ms in total. */
void loops_stop_all(double timeout_ms);

double now_ms(void);

#endif
