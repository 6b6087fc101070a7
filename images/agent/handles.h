/* Handle table: the agent's names for the fds it holds. Handles are never
 * reused, and an fd is closed only when no request is still using it, so a
 * late close can never make a blocked call land on a recycled fd number. */
#ifndef HUCI_HANDLES_H
#define HUCI_HANDLES_H

#include <stdbool.h>

int handle_add(int fd);                       /* returns the new handle, or -EMFILE */
int handle_get(int handle, int *fd);          /* takes a reference; 0 or EBADF */
void handle_put(int handle);                  /* drops it; performs a deferred close */
int handle_close(int handle, bool *deferred); /* 0, EBADF, or close()'s errno */
void handles_close_all(void);

#endif
