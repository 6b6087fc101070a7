/* huci-agent: holds fds inside the guest and calls into them on request.
 *
 * Line-delimited JSON on stdin, one JSON reply line per request on stdout
 * (protocol in README.md). Each request runs on its own thread, so a call
 * blocked in the kernel on a removed device never delays the others; replies
 * are written whole under one mutex and may come out of order (match by id).
 * fds stay open across device removal: paths are never reopened. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "errnames.h"
#include "files.h"
#include "handles.h"
#include "ioctls.h"
#include "json.h"
#include "loops.h"
#include "ops.h"
#include "shell.h"
#include "tasks.h"

#define PROTOCOL_VERSION 11
#define STOP_TIMEOUT_MS 2000.0

struct request {
	struct jnode *root;  /* owned; NULL once a loop took it */
	const struct jnode *id;
	double t0;
	struct sbuf fields;  /* reply fields, each ",\"key\":value" */
	char error[200];     /* human-readable reason for a failure */
};

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

/* Request threads still running, so EOF can interrupt them and let them reply before exit. */
#define MAX_INFLIGHT 1024
static pthread_t inflight[MAX_INFLIGHT];
static bool inflight_used[MAX_INFLIGHT];
static int ninflight;
static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;

/* Counted by the main thread before the thread exists, so EOF right after a request still waits for it. */
static void inflight_reserve(int delta)
{
	pthread_mutex_lock(&inflight_lock);
	ninflight += delta;
	pthread_mutex_unlock(&inflight_lock);
}

static int inflight_enter(void)
{
	int slot = -1;
	pthread_mutex_lock(&inflight_lock);
	for (int i = 0; i < MAX_INFLIGHT && slot < 0; i++) {
		if (!inflight_used[i]) {
			slot = i;
			inflight_used[i] = true;
			inflight[i] = pthread_self();
		}
	}
	pthread_mutex_unlock(&inflight_lock);
	return slot;
}

static void inflight_leave(int slot)
{
	pthread_mutex_lock(&inflight_lock);
	if (slot >= 0)
		inflight_used[slot] = false;
	ninflight--;
	pthread_mutex_unlock(&inflight_lock);
}

/* Signals every running request (a blocked call returns EINTR and is answered) until none is
 * left or the deadline passes; a call stuck uninterruptibly in the kernel is left behind. */
static void inflight_drain(double timeout_ms)
{
	double deadline = now_ms() + timeout_ms;
	for (;;) {
		pthread_mutex_lock(&inflight_lock);
		int left = ninflight;
		for (int i = 0; i < MAX_INFLIGHT; i++)
			if (inflight_used[i])
				pthread_kill(inflight[i], SIGUSR1);
		pthread_mutex_unlock(&inflight_lock);
		if (left == 0 || now_ms() >= deadline)
			return;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static void write_all(const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1); /* nobody is listening any more */
		p += n;
		len -= (size_t)n;
	}
}

/* ,"ok","errno" of an outcome; ,"error" goes after the fields (outcome_error) */
static void outcome_head(struct sbuf *b, int err)
{
	char buf[16];
	if (err) {
		sb_puts(b, ",\"ok\":false,\"errno\":");
		const char *name = errno_name(err, buf, sizeof(buf));
		sb_json_str(b, name, strlen(name));
	} else {
		sb_puts(b, ",\"ok\":true,\"errno\":null");
	}
}

static void outcome_error(struct sbuf *b, int err, const char *msg)
{
	char ebuf[128];
	if (!err)
		return;
	if (!msg || !msg[0])
		msg = strerror_r(err, ebuf, sizeof(ebuf));
	sb_puts(b, ",\"error\":");
	sb_json_str(b, msg, strlen(msg));
}

static void reply(struct request *r, int err)
{
	struct sbuf b;
	sb_init(&b);
	sb_puts(&b, "{\"id\":");
	if (r->id)
		sb_json_node(&b, r->id);
	else
		sb_puts(&b, "null");
	outcome_head(&b, err);
	sb_printf(&b, ",\"ms\":%.3f", now_ms() - r->t0);
	if (r->fields.p)
		sb_puts(&b, r->fields.p);
	outcome_error(&b, err, r->error);
	sb_puts(&b, "}\n");
	pthread_mutex_lock(&out_lock);
	write_all(b.p, b.len);
	pthread_mutex_unlock(&out_lock);
	sb_free(&b);
}

static int refuse(struct request *r, const char *msg)
{
	snprintf(r->error, sizeof(r->error), "%s", msg);
	return EINVAL;
}

static bool get_int(struct request *r, const char *key, int *out)
{
	double v;
	if (!json_get_num(r->root, key, &v) || v != floor(v) || v < 0 || v > 2147483647.0)
		return false;
	*out = (int)v;
	return true;
}

static int op_ping(struct request *r)
{
	sb_printf(&r->fields, ",\"pid\":%d,\"protocol\":%d", (int)getpid(), PROTOCOL_VERSION);
	return 0;
}

/* A new fd becomes a handle in the reply (closed again when the table is full). */
static int hand_out(struct request *r, int fd)
{
	int h = handle_add(fd);
	if (h < 0) {
		close(fd);
		return refuse(r, "handle table full");
	}
	sb_printf(&r->fields, ",\"handle\":%d,\"fd\":%d", h, fd);
	return 0;
}

static int op_open(struct request *r)
{
	const char *path = json_get_str(r->root, "path");
	int flags, mode = 0644;
	if (!path)
		return refuse(r, "open needs a path");
	if (!open_flags(json_get(r->root, "flags"), &flags, r->error, sizeof(r->error)))
		return EINVAL;
	if (json_get(r->root, "mode") && !get_int(r, "mode", &mode))
		return refuse(r, "mode must be a non-negative integer");
	int fd = open(path, flags | O_CLOEXEC, mode);
	if (fd < 0)
		return errno;
	return hand_out(r, fd);
}

/* A socket(2) and the calls that set it up, each on host-encoded bytes (a sockaddr, an option
 * value): {domain, type, protocol, calls: [{call: bind|connect, hex} | {call: setsockopt, level,
 * name, hex}]}. The first failing call fails the op (its name in "error"); the socket is closed. */
static int socket_call(int fd, const struct jnode *c, char *error, size_t errlen)
{
	const char *call = json_get_str(c, "call"), *hex = json_get_str(c, "hex");
	unsigned char *buf = NULL;
	size_t len = 0;
	double level = 0, name = 0;
	int rc;
	if (!call || !hex || !hex_decode(hex, &buf, &len)) {
		snprintf(error, errlen, "a socket call needs call and an even-length hex");
		return EINVAL;
	}
	if (strcmp(call, "bind") == 0)
		rc = bind(fd, (const struct sockaddr *)buf, (socklen_t)len);
	else if (strcmp(call, "connect") == 0)
		rc = connect(fd, (const struct sockaddr *)buf, (socklen_t)len);
	else if (strcmp(call, "setsockopt") == 0 && json_get_num(c, "level", &level) && json_get_num(c, "name", &name))
		rc = setsockopt(fd, (int)level, (int)name, buf, (socklen_t)len);
	else {
		free(buf);
		snprintf(error, errlen, "unknown socket call %.32s (bind, connect, setsockopt with level and name)", call);
		return EINVAL;
	}
	int err = rc < 0 ? errno : 0;
	if (err)
		snprintf(error, errlen, "%s", call);
	free(buf);
	return err;
}

static int op_socket(struct request *r)
{
	int domain, type, protocol;
	if (!get_int(r, "domain", &domain) || !get_int(r, "type", &type) || !get_int(r, "protocol", &protocol))
		return refuse(r, "socket needs numeric domain, type and protocol");
	int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
	if (fd < 0) {
		snprintf(r->error, sizeof(r->error), "socket");
		return errno;
	}
	const struct jnode *calls = json_get(r->root, "calls");
	for (const struct jnode *c = calls && calls->type == J_ARR ? calls->kids : NULL; c; c = c->next) {
		int err = socket_call(fd, c, r->error, sizeof(r->error));
		if (err) {
			close(fd);
			return err;
		}
	}
	return hand_out(r, fd);
}

static int op_close(struct request *r)
{
	int h;
	bool deferred;
	if (!get_int(r, "handle", &h))
		return refuse(r, "close needs a numeric handle");
	int err = handle_close(h, &deferred);
	if (err == EBADF)
		snprintf(r->error, sizeof(r->error), "no open handle %d", h);
	if (!err)
		sb_printf(&r->fields, ",\"deferred\":%s", deferred ? "true" : "false");
	return err;
}

/* read, write, pread, poll, ioctl: the request itself carries the arguments. */
static int op_fd(struct request *r, const char *op)
{
	int h, fd;
	if (!get_int(r, "handle", &h))
		return refuse(r, "this op needs a numeric handle");
	if (handle_get(h, &fd) != 0) {
		snprintf(r->error, sizeof(r->error), "no open handle %d", h);
		return EBADF;
	}
	struct op_result res;
	res.fields = r->fields;
	int err = fd_op(op, r->root, fd, &res, false);
	handle_put(h);
	r->fields = res.fields;
	if (res.error[0])
		snprintf(r->error, sizeof(r->error), "%s", res.error);
	return err;
}

static int op_spawn(struct request *r)
{
	int id;
	int err = loop_spawn(r->root, &id, r->error, sizeof(r->error));
	if (!err) {
		r->root = NULL; /* the loop owns the request now; r->id stays valid inside it */
		sb_printf(&r->fields, ",\"loop\":%d", id);
	}
	return err;
}

static int op_stop(struct request *r)
{
	int id;
	double timeout = STOP_TIMEOUT_MS;
	if (!get_int(r, "loop", &id))
		return refuse(r, "stop needs a numeric loop");
	json_get_num(r->root, "timeoutMs", &timeout);
	return loop_stop(id, timeout, &r->fields, r->error, sizeof(r->error));
}

static int op_loops(struct request *r)
{
	loops_list(&r->fields);
	return 0;
}

static int op_tasks(struct request *r)
{
	return tasks_list(&r->fields);
}

static int op_sh(struct request *r)
{
	const char *command = json_get_str(r->root, "command");
	double timeout = 60000;
	if (!command)
		return refuse(r, "sh needs a string command");
	if (json_get(r->root, "timeoutMs") && (!json_get_num(r->root, "timeoutMs", &timeout) || timeout < 0))
		return refuse(r, "timeoutMs must be a non-negative number");
	return shell_run(command, timeout, &r->fields, NULL, r->error, sizeof(r->error));
}

static int op_file(struct request *r)
{
	return file_op(json_get_str(r->root, "op"), r->root, &r->fields, r->error, sizeof(r->error));
}

#define SEQ_MAX 16

/* A seq step: sh (its command) or a file op (its fields); the reason it cannot run, or NULL. */
static const char *seq_step_invalid(const struct jnode *s)
{
	double t;
	if (s->type != J_OBJ)
		return "each seq step is an object";
	const char *op = json_get_str(s, "op");
	const struct jnode *stop = json_get(s, "stopOnFailure");
	if (!op || (strcmp(op, "sh") != 0 && !file_op_known(op)))
		return "a seq step's op is sh, writefile, mkdir, rmdir, find, klog or refresh";
	if (strcmp(op, "sh") == 0 && !json_get_str(s, "command"))
		return "a seq sh step needs a string command";
	if (json_get(s, "timeoutMs") && (!json_get_num(s, "timeoutMs", &t) || t < 0))
		return "a seq step's timeoutMs must be a non-negative number";
	if (stop && stop->type != J_BOOL)
		return "a seq step's stopOnFailure must be a boolean";
	return NULL;
}

/* seq (protocol 8; file ops since 9): steps one after the other in one request, so the host's
 * set-up steps cost one round trip, not one each. Each result is the step's op, its own `ms` and
 * outcome and its fields. It stops after a step that failed (a file op's errno; a command that
 * could not start, exited non-zero, was killed or timed out) and says stopOnFailure. */
static int op_seq(struct request *r)
{
	const struct jnode *steps = json_get(r->root, "steps");
	if (!steps || steps->type != J_ARR || steps->len == 0 || steps->len > SEQ_MAX)
		return refuse(r, "seq needs steps: an array of 1 to 16 steps");
	for (const struct jnode *s = steps->kids; s; s = s->next) {
		const char *why = seq_step_invalid(s);
		if (why)
			return refuse(r, why);
	}
	sb_puts(&r->fields, ",\"results\":[");
	for (const struct jnode *s = steps->kids; s; s = s->next) {
		const char *op = json_get_str(s, "op");
		const struct jnode *stop = json_get(s, "stopOnFailure");
		double timeout = 60000, t0 = now_ms();
		bool succeeded = false;
		char why[200] = "";
		struct sbuf fields;
		sb_init(&fields);
		json_get_num(s, "timeoutMs", &timeout);
		int err = strcmp(op, "sh") == 0 ? shell_run(json_get_str(s, "command"), timeout, &fields, &succeeded, why, sizeof(why))
						: file_op(op, s, &fields, why, sizeof(why));
		if (err)
			succeeded = false;
		else if (strcmp(op, "sh") != 0)
			succeeded = true;
		sb_puts(&r->fields, s == steps->kids ? "{\"op\":" : ",{\"op\":");
		sb_json_str(&r->fields, op, strlen(op));
		sb_printf(&r->fields, ",\"ms\":%.3f", now_ms() - t0);
		outcome_head(&r->fields, err);
		if (fields.p)
			sb_puts(&r->fields, fields.p);
		outcome_error(&r->fields, err, why);
		sb_putc(&r->fields, '}');
		sb_free(&fields);
		if (!succeeded && stop && stop->b)
			break;
	}
	sb_putc(&r->fields, ']');
	return 0;
}

static const struct op {
	const char *name;
	int (*run)(struct request *r);
} ops[] = {
	{ "ping", op_ping }, { "open", op_open }, { "socket", op_socket }, { "close", op_close },
	{ "spawn", op_spawn }, { "stop", op_stop }, { "loops", op_loops },
	{ "sh", op_sh }, { "seq", op_seq }, { "tasks", op_tasks },
};

static int dispatch(struct request *r)
{
	const char *op = json_get_str(r->root, "op");
	if (!op)
		return refuse(r, "request needs a string op");
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, op) == 0)
			return ops[i].run(r);
	if (fd_op_known(op))
		return op_fd(r, op);
	if (file_op_known(op))
		return op_file(r);
	snprintf(r->error, sizeof(r->error), "unknown op %.64s", op);
	return EINVAL;
}

static void *request_main(void *arg)
{
	struct request *r = arg;
	int slot = inflight_enter();
	int err = r->error[0] ? EINVAL : dispatch(r); /* refused before dispatch: not an object, no thread */
	reply(r, err);
	json_free(r->root);
	sb_free(&r->fields);
	free(r);
	inflight_leave(slot);
	return NULL;
}

static void start_request(struct jnode *root, double t0)
{
	static pthread_attr_t attr;
	static bool attr_ready;
	struct request *r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->root = root;
	r->t0 = t0;
	r->id = json_get(root, "id");
	if (root->type != J_OBJ) {
		refuse(r, "request must be a JSON object");
		inflight_reserve(1);
		request_main(r);
		return;
	}
	if (!attr_ready) { /* only the main thread gets here */
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		attr_ready = true;
	}
	pthread_t t;
	inflight_reserve(1);
	if (pthread_create(&t, &attr, request_main, r) != 0) {
		refuse(r, "cannot start a thread for this request");
		request_main(r); /* its inflight_leave undoes the reservation */
	}
}

static void on_sigusr1(int sig)
{
	(void)sig; /* only here to make blocking calls return EINTR */
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1; /* no SA_RESTART: stop must break a blocked read */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* writes to a FIFO without reader must fail with EPIPE */
	ops_install_fault_handlers();
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	install_signals();
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		double t0 = now_ms();
		char err[128];
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		struct jnode *root = json_parse(line, err, sizeof(err));
		if (!root) {
			struct request r = { .t0 = t0 };
			snprintf(r.error, sizeof(r.error), "%s", err);
			reply(&r, EINVAL);
			continue;
		}
		start_request(root, t0);
	}
	free(line);
	inflight_drain(STOP_TIMEOUT_MS);
	loops_stop_all(STOP_TIMEOUT_MS);
	handles_close_all();
	return 0;
}
