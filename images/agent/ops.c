#define _GNU_SOURCE
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "errnames.h"
#include "handles.h"
#include "ioctls.h"

#define MAX_IO (1 << 20)

struct name_bit {
	const char *name;
	int bit;
};

static const struct name_bit open_flag_names[] = {
	{ "O_RDONLY", O_RDONLY }, { "O_WRONLY", O_WRONLY }, { "O_RDWR", O_RDWR },
	{ "O_NONBLOCK", O_NONBLOCK }, { "O_NDELAY", O_NDELAY }, { "O_NOCTTY", O_NOCTTY },
	{ "O_APPEND", O_APPEND }, { "O_CREAT", O_CREAT }, { "O_TRUNC", O_TRUNC },
	{ "O_EXCL", O_EXCL }, { "O_SYNC", O_SYNC }, { "O_DSYNC", O_DSYNC },
	{ "O_DIRECT", O_DIRECT }, { "O_CLOEXEC", O_CLOEXEC }, { "O_PATH", O_PATH },
	{ "O_DIRECTORY", O_DIRECTORY }, { "O_NOFOLLOW", O_NOFOLLOW }, { "O_NOATIME", O_NOATIME },
	{ NULL, 0 },
};

static const struct name_bit poll_names[] = {
	{ "POLLIN", POLLIN }, { "POLLPRI", POLLPRI }, { "POLLOUT", POLLOUT },
	{ "POLLERR", POLLERR }, { "POLLHUP", POLLHUP }, { "POLLNVAL", POLLNVAL },
	{ "POLLRDNORM", POLLRDNORM }, { "POLLRDBAND", POLLRDBAND }, { "POLLWRNORM", POLLWRNORM },
	{ "POLLWRBAND", POLLWRBAND }, { "POLLMSG", POLLMSG }, { "POLLRDHUP", POLLRDHUP },
	{ NULL, 0 },
};

static bool names_to_bits(const struct jnode *arr, const struct name_bit *table, int *out, char *err, size_t errlen,
			  const char *what)
{
	*out = 0;
	if (arr->type != J_ARR) {
		snprintf(err, errlen, "%s must be an array of names", what);
		return false;
	}
	for (const struct jnode *k = arr->kids; k; k = k->next) {
		const struct name_bit *n = table;
		while (n->name && !(k->type == J_STR && strcmp(n->name, k->str) == 0))
			n++;
		if (!n->name) {
			snprintf(err, errlen, "unknown name in %s: %.64s", what, k->type == J_STR ? k->str : "(not a string)");
			return false;
		}
		*out |= n->bit;
	}
	return true;
}

bool open_flags(const struct jnode *arr, int *flags, char *err, size_t errlen)
{
	if (!arr) {
		*flags = O_RDONLY;
		return true;
	}
	return names_to_bits(arr, open_flag_names, flags, err, errlen, "flags");
}

/* Joins the names of set bits with '|' ("POLLIN|POLLHUP"); POLLRDNORM etc. are listed too. */
static void revents_key(int revents, char *buf, size_t len)
{
	buf[0] = '\0';
	for (const struct name_bit *n = poll_names; n->name; n++)
		if (revents & n->bit)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? "|" : "", n->name);
}

static int refuse(struct op_result *res, const char *msg)
{
	snprintf(res->error, sizeof(res->error), "%s", msg);
	return EINVAL;
}

static bool get_size(const struct jnode *args, const char *key, double dflt, double max, double *out)
{
	const struct jnode *n = json_get(args, key);
	*out = dflt;
	if (!n)
		return true;
	if (n->type != J_NUM || n->num < 0 || n->num > max || n->num != floor(n->num))
		return false;
	*out = n->num;
	return true;
}

/* read and pread share everything but the offset. */
static int do_read(const struct jnode *args, int fd, struct op_result *res, bool in_loop, bool positional)
{
	double size, offset = 0;
	if (!get_size(args, "size", 4096, MAX_IO, &size))
		return refuse(res, "size must be an integer from 0 to 1048576");
	if (positional && (!json_get(args, "offset") || !get_size(args, "offset", 0, 9007199254740991.0, &offset)))
		return refuse(res, "offset must be a non-negative integer");
	unsigned char *buf = malloc((size_t)size + 1);
	if (!buf)
		abort();
	ssize_t n = positional ? pread(fd, buf, (size_t)size, (off_t)offset) : read(fd, buf, (size_t)size);
	int err = n < 0 ? errno : 0;
	if (!err) {
		sb_printf(&res->fields, ",\"n\":%zd", n);
		if (!in_loop) {
			sb_puts(&res->fields, ",\"hex\":");
			sb_hex(&res->fields, buf, (size_t)n);
		}
		snprintf(res->key, sizeof(res->key), "%s", n == 0 && size > 0 ? "EOF" : "OK");
	}
	free(buf);
	return err;
}

static int do_write(const struct jnode *args, int fd, struct op_result *res)
{
	const char *hex = json_get_str(args, "hex");
	const struct jnode *text = json_get(args, "text");
	unsigned char *buf = NULL;
	size_t len = 0;
	if (hex && !hex_decode(hex, &buf, &len))
		return refuse(res, "hex must be an even-length hex string");
	if (!hex && text && text->type == J_STR) {
		len = text->len;
		buf = malloc(len + 1);
		if (!buf)
			abort();
		memcpy(buf, text->str, len);
	}
	if (!buf)
		return refuse(res, "write needs hex or text");
	ssize_t n = write(fd, buf, len);
	int err = n < 0 ? errno : 0;
	free(buf);
	if (!err) {
		sb_printf(&res->fields, ",\"n\":%zd", n);
		snprintf(res->key, sizeof(res->key), "OK");
	}
	return err;
}

static int do_poll(const struct jnode *args, int fd, struct op_result *res)
{
	const struct jnode *events = json_get(args, "events");
	double timeout;
	int mask = POLLIN;
	if (events && !names_to_bits(events, poll_names, &mask, res->error, sizeof(res->error), "events"))
		return EINVAL;
	if (!get_size(args, "timeoutMs", 0, 2147483647.0, &timeout))
		return refuse(res, "timeoutMs must be a non-negative integer");
	struct pollfd p = { .fd = fd, .events = (short)mask };
	int n = poll(&p, 1, (int)timeout);
	if (n < 0)
		return errno;
	char names[RESULT_KEY_MAX];
	revents_key(n > 0 ? p.revents : 0, names, sizeof(names));
	sb_printf(&res->fields, ",\"ready\":%d,\"revents\":[", n);
	for (char *s = names, *tok; (tok = strsep(&s, "|")) && *tok;)
		sb_printf(&res->fields, "%s\"%s\"", tok == names ? "" : ",", tok);
	sb_putc(&res->fields, ']');
	snprintf(res->key, sizeof(res->key), "%s", n == 0 ? "TIMEOUT" : names);
	return 0;
}

/* A mapping of a removed device may succeed and then fault on first touch: the kernel's answer is
 * a signal, not an errno. The touch runs under a per-thread jump so loops can fault too. */
static __thread sigjmp_buf touch_jump;
static __thread volatile sig_atomic_t touching;

static void on_fault(int sig)
{
	if (touching)
		siglongjmp(touch_jump, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

void ops_install_fault_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

static int do_mmap(const struct jnode *args, int fd, struct op_result *res)
{
	double size, offset;
	if (!get_size(args, "size", 4096, MAX_IO, &size) || size == 0)
		return refuse(res, "size must be an integer from 1 to 1048576");
	if (!get_size(args, "offset", 0, 9007199254740991.0, &offset))
		return refuse(res, "offset must be a non-negative integer");
	void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, (off_t)offset);
	if (p == MAP_FAILED)
		return errno;
	int sig = sigsetjmp(touch_jump, 1);
	if (sig == 0) {
		touching = 1;
		(void)*(volatile unsigned char *)p;
	}
	touching = 0;
	munmap(p, (size_t)size);
	const char *fault = sig == SIGBUS ? "SIGBUS" : sig == SIGSEGV ? "SIGSEGV" : NULL;
	sb_printf(&res->fields, ",\"n\":%.0f,\"fault\":", size);
	if (fault)
		sb_printf(&res->fields, "\"%s\"", fault);
	else
		sb_puts(&res->fields, "null");
	snprintf(res->key, sizeof(res->key), "%s", fault ? fault : "OK");
	return 0;
}

static int do_ioctl(const struct jnode *args, int fd, struct op_result *res, bool in_loop)
{
	struct ioctl_call call = { .fd = fd, .req = args, .out = &res->fields };
	int err = ioctl_run(&call);
	snprintf(res->error, sizeof(res->error), "%s", call.error);
	if (call.newfd >= 0) {
		if (in_loop) {
			close(call.newfd);
		} else {
			int h = handle_add(call.newfd);
			if (h < 0) {
				close(call.newfd);
				return refuse(res, "handle table full");
			}
			sb_printf(&res->fields, ",\"handle\":%d,\"fd\":%d", h, call.newfd);
		}
	}
	if (!err)
		snprintf(res->key, sizeof(res->key), "OK");
	return err;
}

bool fd_op_known(const char *op)
{
	static const char *const ops[] = { "read", "write", "pread", "poll", "ioctl", "mmap" };
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(op, ops[i]) == 0)
			return true;
	return false;
}

int fd_op(const char *op, const struct jnode *args, int fd, struct op_result *res, bool in_loop)
{
	int err;
	res->error[0] = '\0';
	res->key[0] = '\0';
	if (strcmp(op, "read") == 0)
		err = do_read(args, fd, res, in_loop, false);
	else if (strcmp(op, "pread") == 0)
		err = do_read(args, fd, res, in_loop, true);
	else if (strcmp(op, "write") == 0)
		err = do_write(args, fd, res);
	else if (strcmp(op, "poll") == 0)
		err = do_poll(args, fd, res);
	else if (strcmp(op, "ioctl") == 0)
		err = do_ioctl(args, fd, res, in_loop);
	else if (strcmp(op, "mmap") == 0)
		err = do_mmap(args, fd, res);
	else
		err = refuse(res, "unknown fd operation");
	if (err) {
		char buf[16];
		snprintf(res->key, sizeof(res->key), "%s", errno_name(err, buf, sizeof(buf)));
	}
	return err;
}
