/* The tasks op: who is asleep in the kernel, and where. */
#ifndef HUCI_TASKS_H
#define HUCI_TASKS_H

#include "json.h"

/* Appends ,"tasks":[{pid,ppid,comm,state,wchan,stack}] for the tasks in uninterruptible sleep (D)
 * and for the agent's own child processes (its shell commands) in any state; stack is the top of
 * /proc/PID/stack, frames without offsets. Returns 0. */
int tasks_list(struct sbuf *out);

#endif
