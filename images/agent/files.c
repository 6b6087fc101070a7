/* A set-up step that writes a sysfs file, makes a configfs directory or finds a device's name,
 * and the marker that delimits a case in the kernel log, were each a /bin/sh the agent started:
 * under TCG a fork and exec of busybox costs the guest more than the operation itself, and a case
 * ran a dozen. These do the same in the agent's request thread. A removal's own operations still
 * run as shell commands (the host's choice): their task is what the blocked evidence watches. */
#define _GNU_SOURCE
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ioctls.h"
#include "loops.h"

#define FIND_POLL_MS 20
#define CONTENT_MAX (64 << 10)

static int fail(int e, char *err, size_t errlen, const char *what, const char *path)
{
	char buf[128];
	snprintf(err, errlen, "%s %.120s: %s", what, path, strerror_r(e, buf, sizeof(buf)));
	return e;
}

static int refuse(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return EINVAL;
}

static int write_all_fd(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* As `echo text > path` does it: created if absent, truncated, the text and a newline in one write. */
static int op_writefile(const struct jnode *a, char *err, size_t errlen)
{
	const char *path = json_get_str(a, "path"), *text = json_get_str(a, "text");
	if (!path || !*path || !text)
		return refuse(err, errlen, "writefile needs a path and a text");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		return fail(errno, err, errlen, "open", path);
	const struct jnode *t = json_get(a, "text");
	struct sbuf line;
	sb_init(&line);
	for (size_t i = 0; i < t->len; i++)
		sb_putc(&line, t->str[i]);
	sb_putc(&line, '\n');
	int e = write_all_fd(fd, line.p, line.len);
	sb_free(&line);
	if (close(fd) < 0 && !e && errno != EINTR)
		e = errno;
	return e ? fail(e, err, errlen, "write", path) : 0;
}

static int op_dir(const char *op, const struct jnode *a, char *err, size_t errlen)
{
	const char *path = json_get_str(a, "path");
	if (!path || !*path)
		return refuse(err, errlen, "mkdir and rmdir need a path");
	int rc = op[0] == 'm' ? mkdir(path, 0777) : rmdir(path);
	return rc < 0 ? fail(errno, err, errlen, op, path) : 0;
}

/* The file's content, as $(cat file) gives it: trailing newlines dropped. */
static bool content_of(const char *path, struct sbuf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	char buf[4096];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || out->len + (size_t)n > CONTENT_MAX)
			break;
		for (ssize_t i = 0; i < n; i++)
			sb_putc(out, buf[i]);
	}
	close(fd);
	while (out->len && out->p[out->len - 1] == '\n')
		out->p[--out->len] = 0;
	return true;
}

/* One look: the file's content, or the first match of the glob (sorted, existing; with
 * contentEquals, the directory of the first whose content equals it). */
static bool find_once(const struct jnode *a, struct sbuf *found)
{
	const char *file = json_get_str(a, "file"), *pattern = json_get_str(a, "glob"), *want = json_get_str(a, "contentEquals");
	struct stat st;
	if (file)
		return stat(file, &st) == 0 && content_of(file, found);
	glob_t g;
	bool hit = false;
	/* as the shell did it: only * ? [ ] are special, a backslash is itself */
	if (glob(pattern, GLOB_NOESCAPE, NULL, &g) != 0)
		return false;
	for (size_t i = 0; i < g.gl_pathc && !hit; i++) {
		const char *p = g.gl_pathv[i];
		if (stat(p, &st) != 0)
			continue;
		if (want) {
			struct sbuf c;
			sb_init(&c);
			bool same = content_of(p, &c) && strcmp(c.p ? c.p : "", want) == 0;
			sb_free(&c);
			if (!same)
				continue;
			const char *slash = strrchr(p, '/');
			size_t n = slash ? (slash == p ? 1 : (size_t)(slash - p)) : 1;
			for (size_t k = 0; k < n; k++)
				sb_putc(found, slash ? p[k] : '.');
		} else {
			sb_puts(found, p);
		}
		hit = true;
	}
	globfree(&g);
	return hit;
}

/* With `node`: the found name (a match's basename, or the file's content) as a device node in that
 * directory. A device's sysfs directory appears before devtmpfs makes its node (device_add), so a
 * name found in sysfs is not yet a node to open. */
static bool node_exists(const char *dir, const struct sbuf *found, struct sbuf *node)
{
	const char *name = found->p ? found->p : "";
	const char *slash = strrchr(name, '/');
	struct stat st;
	node->len = 0;
	sb_puts(node, dir);
	sb_putc(node, '/');
	sb_puts(node, slash ? slash + 1 : name);
	return stat(node->p, &st) == 0;
}

/* Device nodes and sysfs entries come and go asynchronously: looks again until waitMs. */
static int op_find(const struct jnode *a, struct sbuf *out, char *err, size_t errlen)
{
	const char *file = json_get_str(a, "file"), *pattern = json_get_str(a, "glob"), *dir = json_get_str(a, "node");
	double wait = 0;
	if ((file != NULL) == (pattern != NULL) || (file && !*file) || (pattern && !*pattern))
		return refuse(err, errlen, "find needs exactly one of glob and file");
	if (json_get(a, "contentEquals") && (!pattern || !json_get_str(a, "contentEquals")))
		return refuse(err, errlen, "find's contentEquals is a string and needs a glob");
	if (json_get(a, "node") && (!dir || !*dir))
		return refuse(err, errlen, "find's node is a directory");
	if (json_get(a, "waitMs") && (!json_get_num(a, "waitMs", &wait) || wait < 0))
		return refuse(err, errlen, "find's waitMs must be a non-negative number");
	double deadline = now_ms() + wait;
	struct sbuf node;
	sb_init(&node);
	for (;;) {
		struct sbuf found;
		sb_init(&found);
		bool hit = find_once(a, &found);
		if (hit && (!dir || node_exists(dir, &found, &node))) {
			sb_puts(out, ",\"found\":");
			sb_json_str(out, found.p ? found.p : "", found.len);
			sb_free(&found);
			sb_free(&node);
			return 0;
		}
		sb_free(&found);
		if (now_ms() >= deadline) {
			if (hit)
				snprintf(err, errlen, "%.150s matched but its node %.150s did not appear within %.0f ms", file ? file : pattern, node.p, wait);
			else
				snprintf(err, errlen, "nothing matched %.150s within %.0f ms", file ? file : pattern, wait);
			sb_free(&node);
			return ENOENT;
		}
		struct timespec ts = { .tv_sec = 0, .tv_nsec = FIND_POLL_MS * 1000 * 1000 };
		if (nanosleep(&ts, NULL) < 0 && errno == EINTR)
			return EINTR; /* the agent is ending */
	}
}

/* The kernel log as dmesg prints it (klogctl, the <level> of each line dropped), from the last
 * line containing `from` on; empty when no line does. */
static int klog_from(const char *from, struct sbuf *out, char *err, size_t errlen)
{
	int size = klogctl(10, NULL, 0); /* SYSLOG_ACTION_SIZE_BUFFER */
	if (size < 16384)
		size = 16384;
	char *buf = malloc((size_t)size);
	if (!buf)
		return fail(ENOMEM, err, errlen, "read", "the kernel log");
	int n = klogctl(3, buf, size); /* SYSLOG_ACTION_READ_ALL */
	if (n < 0) {
		int e = errno;
		free(buf);
		return fail(e, err, errlen, "read", "the kernel log");
	}
	struct sbuf log;
	sb_init(&log);
	size_t keep = 0, flen = strlen(from);
	bool found = false;
	for (int i = 0; i < n;) {
		if (buf[i] == '<') {
			while (i < n && buf[i] != '>')
				i++;
			i++;
		}
		size_t start = log.len;
		while (i < n && buf[i] != '\n')
			sb_putc(&log, buf[i++]);
		if (log.len - start >= flen && memmem(log.p + start, log.len - start, from, flen)) {
			keep = start;
			found = true;
		}
		sb_putc(&log, '\n');
		i++;
	}
	free(buf);
	sb_puts(out, ",\"log\":");
	if (found)
		sb_json_str(out, log.p + keep, log.len - keep);
	else
		sb_json_str(out, "", 0);
	sb_free(&log);
	return 0;
}

/* mark: a line in the kernel log (one write to /dev/kmsg is one record); from: then the log from
 * the last line containing it on, read in the same request (a case's end). */
static int op_klog(const struct jnode *a, struct sbuf *out, char *err, size_t errlen)
{
	const char *mark = json_get_str(a, "mark"), *from = json_get_str(a, "from");
	if ((json_get(a, "mark") && !mark) || (json_get(a, "from") && !from) || (!mark && !from))
		return refuse(err, errlen, "klog needs a string mark, a string from, or both");
	if (mark) {
		int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return fail(errno, err, errlen, "open", "/dev/kmsg");
		struct sbuf line;
		sb_init(&line);
		sb_puts(&line, mark);
		sb_putc(&line, '\n');
		int e = write_all_fd(fd, line.p, line.len);
		sb_free(&line);
		close(fd);
		if (e)
			return fail(e, err, errlen, "write", "/dev/kmsg");
	}
	return from ? klog_from(from, out, err, errlen) : 0;
}

/* What a guest restored from a saved state must not keep from the guest that was saved: the wall
 * clock (`unixMs`: it stood still while the state was on disk) and the CRNG's key (`seedHex`:
 * bytes mixed into the input pool, then a reseed now — every guest restored from one state would
 * draw the same numbers). It was a shell's `date -s` and four requests on /dev/urandom: a fork and
 * exec in a guest whose translated code is cold. */
static int op_refresh(const struct jnode *a, char *err, size_t errlen)
{
	double ms = 0;
	const char *seed = json_get_str(a, "seedHex");
	if (json_get(a, "unixMs") && (!json_get_num(a, "unixMs", &ms) || ms < 0))
		return refuse(err, errlen, "refresh's unixMs must be a non-negative number");
	if (json_get(a, "seedHex") && !seed)
		return refuse(err, errlen, "refresh's seedHex must be a hex string");
	if (!json_get(a, "unixMs") && !seed)
		return refuse(err, errlen, "refresh needs unixMs, seedHex or both");
	unsigned char *bytes = NULL;
	size_t n = 0;
	if (seed && !hex_decode(seed, &bytes, &n))
		return refuse(err, errlen, "refresh's seedHex must be a hex string");
	if (json_get(a, "unixMs")) {
		struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6) };
		if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
			free(bytes);
			return fail(errno, err, errlen, "clock_settime", "CLOCK_REALTIME");
		}
	}
	if (!seed)
		return 0;
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		free(bytes);
		return fail(errno, err, errlen, "open", "/dev/urandom");
	}
	int e = write_all_fd(fd, (const char *)bytes, n);
	free(bytes);
	if (e) {
		close(fd);
		return fail(e, err, errlen, "write", "/dev/urandom");
	}
	if (ioctl(fd, RNDRESEEDCRNG, 0) < 0) {
		e = errno;
		close(fd);
		return fail(e, err, errlen, "ioctl RNDRESEEDCRNG", "/dev/urandom");
	}
	close(fd);
	return 0;
}

static const char *const names[] = { "writefile", "mkdir", "rmdir", "find", "klog", "refresh" };

bool file_op_known(const char *op)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(op, names[i]) == 0)
			return true;
	return false;
}

int file_op(const char *op, const struct jnode *args, struct sbuf *out, char *err, size_t errlen)
{
	if (strcmp(op, "writefile") == 0)
		return op_writefile(args, err, errlen);
	if (strcmp(op, "mkdir") == 0 || strcmp(op, "rmdir") == 0)
		return op_dir(op, args, err, errlen);
	if (strcmp(op, "find") == 0)
		return op_find(args, out, err, errlen);
	if (strcmp(op, "klog") == 0)
		return op_klog(args, out, err, errlen);
	if (strcmp(op, "refresh") == 0)
		return op_refresh(args, err, errlen);
	return refuse(err, errlen, "unknown file op");
}
