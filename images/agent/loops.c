#define _GNU_SOURCE
#include "loops.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errnames.h"
#include "handles.h"
#include "ops.h"

#define MAX_LOOPS 65536
#define MAX_KEYS 32
#define MAX_TRANSITIONS 32

struct count {
	char key[RESULT_KEY_MAX];
	unsigned long long n;
};

struct transition {
	char key[RESULT_KEY_MAX];
	unsigned long long iteration;
	double ms; /* since the loop started */
};

struct loop {
	int id, handle;
	struct jnode *req;
	const struct jnode *spec; /* req.loop */
	const char *op;
	int open_flags; /* reopen loops */
	double interval_ms, started_ms, ended_ms;
	pthread_t thread;
	atomic_bool stop, done, interrupted;
	pthread_mutex_t stop_lock; /* one stopper at a time: pthread_join must run once */
	bool joined;
	pthread_mutex_t lock; /* guards everything below */
	unsigned long long iterations;
	struct count counts[MAX_KEYS];
	int ncounts;
	struct transition transitions[MAX_TRANSITIONS];
	int ntransitions;
	unsigned long long transitions_dropped;
	char error[160]; /* the agent refused the loop's arguments; the loop ended */
};

static struct loop **loops; /* grows; a loop never moves, the array of pointers may */
static int nloops, loops_cap;
static pthread_mutex_t loops_lock = PTHREAD_MUTEX_INITIALIZER;

double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1e3), .tv_nsec = (long)(fmod(ms, 1e3) * 1e6) };
	nanosleep(&ts, NULL);
}

static void count(struct loop *l, const char *key)
{
	pthread_mutex_lock(&l->lock);
	l->iterations++;
	int i = 0;
	while (i < l->ncounts && strcmp(l->counts[i].key, key) != 0)
		i++;
	if (i == l->ncounts && l->ncounts < MAX_KEYS)
		snprintf(l->counts[l->ncounts++].key, sizeof(l->counts[0].key), "%s", key);
	if (i < MAX_KEYS)
		l->counts[i].n++;
	bool changed = l->ntransitions == 0 || strcmp(l->transitions[l->ntransitions - 1].key, key) != 0;
	if (changed) {
		/* when full, the last slot keeps the latest change: the one after a removal matters most */
		if (l->ntransitions == MAX_TRANSITIONS)
			l->transitions_dropped++;
		else
			l->ntransitions++;
		struct transition *t = &l->transitions[l->ntransitions - 1];
		snprintf(t->key, sizeof(t->key), "%s", key);
		t->iteration = l->iterations;
		t->ms = now_ms() - l->started_ms;
	}
	pthread_mutex_unlock(&l->lock);
}

/* One open(2) and close(2) of the loop's path: the node's open path racing its removal. */
static int reopen_once(struct loop *l, struct op_result *res)
{
	char buf[32];
	int fd = open(json_get_str(l->spec, "path"), l->open_flags | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		snprintf(res->key, sizeof(res->key), "%s", errno_name(err, buf, sizeof(buf)));
		return err;
	}
	close(fd);
	snprintf(res->key, sizeof(res->key), "OK");
	return 0;
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	bool reopen = strcmp(l->op, "reopen") == 0;
	while (!atomic_load(&l->stop)) {
		struct op_result res;
		int fd, err;
		sb_init(&res.fields);
		res.error[0] = '\0';
		if (reopen) {
			err = reopen_once(l, &res);
		} else if ((err = handle_get(l->handle, &fd))) {
			res.error[0] = '\0';
			snprintf(res.key, sizeof(res.key), "EBADF");
		} else {
			err = fd_op(l->op, l->spec, fd, &res, true);
			handle_put(l->handle);
		}
		sb_free(&res.fields);
		if (res.error[0]) {
			pthread_mutex_lock(&l->lock);
			snprintf(l->error, sizeof(l->error), "%s", res.error);
			pthread_mutex_unlock(&l->lock);
			break;
		}
		if (err == EINTR && atomic_load(&l->stop)) {
			atomic_store(&l->interrupted, true); /* our own SIGUSR1: not a result of the device */
			break;
		}
		count(l, res.key);
		if (l->interval_ms > 0)
			sleep_ms(l->interval_ms);
	}
	l->ended_ms = now_ms();
	atomic_store(&l->done, true);
	return NULL;
}

static int spawn_error(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return EINVAL;
}

int loop_spawn(struct jnode *req, int *id, char *err, size_t errlen)
{
	double handle, interval = 0;
	const struct jnode *spec = json_get(req, "loop");
	const char *op = json_get_str(spec, "op");
	int fd;
	if (!json_get_num(req, "handle", &handle))
		return spawn_error(err, errlen, "spawn needs a numeric handle");
	int oflags = 0;
	if (op && strcmp(op, "reopen") == 0) {
		if (!json_get_str(spec, "path"))
			return spawn_error(err, errlen, "a reopen loop needs loop.path");
		if (!open_flags(json_get(spec, "flags"), &oflags, err, errlen))
			return EINVAL;
	} else if (!op || !fd_op_known(op)) {
		return spawn_error(err, errlen, "loop.op must be read, write, pread, poll, ioctl, mmap or reopen");
	}
	json_get_num(req, "intervalMs", &interval);
	if (interval < 0 || interval > 60000)
		return spawn_error(err, errlen, "intervalMs must be from 0 to 60000");
	if (handle_get((int)handle, &fd) != 0) {
		snprintf(err, errlen, "no open handle %d", (int)handle);
		return EBADF;
	}
	handle_put((int)handle);

	struct loop *l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	l->handle = (int)handle;
	l->req = req;
	l->spec = spec;
	l->op = op;
	l->open_flags = oflags;
	l->interval_ms = interval;
	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->stop_lock, NULL);
	pthread_mutex_lock(&loops_lock);
	if (nloops == MAX_LOOPS) {
		pthread_mutex_unlock(&loops_lock);
		free(l);
		snprintf(err, errlen, "too many loops (%d)", MAX_LOOPS);
		return EAGAIN;
	}
	if (nloops == loops_cap) {
		loops_cap = loops_cap ? loops_cap * 2 : 64;
		loops = realloc(loops, (size_t)loops_cap * sizeof(*loops));
		if (!loops)
			abort();
	}
	l->id = nloops + 1;
	l->started_ms = now_ms();
	int rc = pthread_create(&l->thread, NULL, loop_main, l);
	if (rc) {
		pthread_mutex_unlock(&loops_lock);
		free(l);
		snprintf(err, errlen, "pthread_create failed");
		return rc;
	}
	loops[nloops++] = l;
	pthread_mutex_unlock(&loops_lock);
	*id = l->id;
	return 0;
}

static struct loop *find(int id)
{
	pthread_mutex_lock(&loops_lock);
	struct loop *l = id >= 1 && id <= nloops ? loops[id - 1] : NULL;
	pthread_mutex_unlock(&loops_lock);
	return l;
}

static void put_loop(struct sbuf *b, struct loop *l)
{
	bool done = atomic_load(&l->done);
	pthread_mutex_lock(&l->lock);
	sb_printf(b, "\"loop\":%d,\"handle\":%d,\"op\":\"%s\",\"running\":%s,\"iterations\":%llu,\"counts\":{", l->id,
		  l->handle, l->op, done ? "false" : "true", l->iterations);
	for (int i = 0; i < l->ncounts; i++)
		sb_printf(b, "%s\"%s\":%llu", i ? "," : "", l->counts[i].key, l->counts[i].n);
	sb_puts(b, "},\"transitions\":[");
	for (int i = 0; i < l->ntransitions; i++)
		sb_printf(b, "%s{\"key\":\"%s\",\"iteration\":%llu,\"ms\":%.3f}", i ? "," : "", l->transitions[i].key,
			  l->transitions[i].iteration, l->transitions[i].ms);
	sb_printf(b, "],\"transitionsDropped\":%llu,\"elapsedMs\":%.3f", l->transitions_dropped,
		  (done ? l->ended_ms : now_ms()) - l->started_ms);
	if (l->error[0]) {
		sb_puts(b, ",\"error\":");
		sb_json_str(b, l->error, strlen(l->error));
	}
	pthread_mutex_unlock(&l->lock);
}

/* Signals until the thread is out of its blocking call; the signal is resent
 * because it can land between the stop check and the next syscall. */
static bool wait_done(struct loop *l, double deadline)
{
	while (!atomic_load(&l->done)) {
		if (now_ms() >= deadline)
			return false;
		pthread_kill(l->thread, SIGUSR1);
		sleep_ms(2);
	}
	if (!l->joined) {
		pthread_join(l->thread, NULL);
		l->joined = true;
	}
	return true;
}

int loop_stop(int id, double timeout_ms, struct sbuf *out, char *err, size_t errlen)
{
	struct loop *l = find(id);
	if (!l) {
		snprintf(err, errlen, "no loop %d", id);
		return EINVAL;
	}
	atomic_store(&l->stop, true);
	pthread_mutex_lock(&l->stop_lock);
	bool done = wait_done(l, now_ms() + timeout_ms);
	pthread_mutex_unlock(&l->stop_lock);
	sb_putc(out, ',');
	put_loop(out, l);
	sb_printf(out, ",\"interrupted\":%s,\"stuck\":%s", atomic_load(&l->interrupted) ? "true" : "false",
		  done ? "false" : "true");
	return 0;
}

/* The loops that exist now; the caller frees the array (the loops stay). */
static struct loop **snapshot(int *n)
{
	pthread_mutex_lock(&loops_lock);
	*n = nloops;
	struct loop **copy = malloc((size_t)(nloops ? nloops : 1) * sizeof(*copy));
	if (!copy)
		abort();
	if (nloops)
		memcpy(copy, loops, (size_t)nloops * sizeof(*copy));
	pthread_mutex_unlock(&loops_lock);
	return copy;
}

void loops_list(struct sbuf *out)
{
	int n;
	struct loop **all = snapshot(&n);
	sb_puts(out, ",\"loops\":[");
	for (int i = 0; i < n; i++) {
		sb_puts(out, i ? ",{" : "{");
		put_loop(out, all[i]);
		sb_putc(out, '}');
	}
	sb_putc(out, ']');
	free(all);
}

void loops_stop_all(double timeout_ms)
{
	double deadline = now_ms() + timeout_ms;
	int n;
	struct loop **all = snapshot(&n);
	for (int i = 0; i < n; i++)
		atomic_store(&all[i]->stop, true);
	for (int i = 0; i < n; i++) {
		pthread_mutex_lock(&all[i]->stop_lock);
		wait_done(all[i], deadline);
		pthread_mutex_unlock(&all[i]->stop_lock);
	}
	free(all);
}
