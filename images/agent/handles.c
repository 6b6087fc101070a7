#include "handles.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Grows on demand: a long session opens fds case after case and handles are never reused. */
#define MAX_HANDLES (1 << 20)

struct handle {
	int fd;
	int refs;
	bool used;   /* slot holds an fd we own */
	bool closing; /* close requested while references were held */
};

static struct handle *table;
static int capacity;
static int next_handle = 1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int handle_add(int fd)
{
	int h = -EMFILE;
	pthread_mutex_lock(&lock);
	if (next_handle >= capacity && capacity < MAX_HANDLES) {
		int cap = capacity ? capacity * 2 : 256;
		struct handle *t = realloc(table, (size_t)cap * sizeof(*t));
		if (!t)
			abort();
		memset(t + capacity, 0, (size_t)(cap - capacity) * sizeof(*t));
		table = t;
		capacity = cap;
	}
	if (next_handle < capacity) {
		h = next_handle++;
		table[h] = (struct handle){ .fd = fd, .used = true };
	}
	pthread_mutex_unlock(&lock);
	return h;
}

static struct handle *lookup(int h)
{
	if (h <= 0 || h >= next_handle || !table[h].used || table[h].closing)
		return NULL;
	return &table[h];
}

int handle_get(int h, int *fd)
{
	int err = EBADF;
	pthread_mutex_lock(&lock);
	struct handle *e = lookup(h);
	if (e) {
		e->refs++;
		*fd = e->fd;
		err = 0;
	}
	pthread_mutex_unlock(&lock);
	return err;
}

void handle_put(int h)
{
	int fd = -1;
	pthread_mutex_lock(&lock);
	struct handle *e = &table[h];
	if (--e->refs == 0 && e->closing) {
		fd = e->fd;
		e->used = false;
	}
	pthread_mutex_unlock(&lock);
	if (fd >= 0)
		close(fd);
}

int handle_close(int h, bool *deferred)
{
	int fd = -1;
	*deferred = false;
	pthread_mutex_lock(&lock);
	struct handle *e = lookup(h);
	if (!e) {
		pthread_mutex_unlock(&lock);
		return EBADF;
	}
	e->closing = true;
	if (e->refs == 0) {
		fd = e->fd;
		e->used = false;
	} else {
		*deferred = true;
	}
	pthread_mutex_unlock(&lock);
	if (fd >= 0 && close(fd) < 0)
		return errno;
	return 0;
}

void handles_close_all(void)
{
	pthread_mutex_lock(&lock);
	for (int h = 1; h < next_handle; h++) {
		if (table[h].used) {
			close(table[h].fd);
			table[h].used = false;
		}
	}
	pthread_mutex_unlock(&lock);
}
