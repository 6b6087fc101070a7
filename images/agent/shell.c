/* The sh op. The harness used to open an SSH exec channel per guest command (module loads,
 * sysfs writes, dmesg): a dozen per case, each costing the host far more than one request on
 * the agent's channel that is open anyway. The command runs in a child with nothing of ours
 * but stdout/stderr pipes: the fds the agent holds are O_CLOEXEC and closefrom(3) is applied
 * too, so a command never holds a device open on the agent's behalf. */
#define _GNU_SOURCE
#include "shell.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errnames.h"
#include "loops.h"

#define OUTPUT_MAX (8 << 20) /* per stream; the rest is read and dropped */

extern char **environ;

struct capture {
	int fd;
	struct sbuf buf;
	bool truncated;
};

/* Reads what is there; false at EOF or on error. */
static bool drain(struct capture *c)
{
	char chunk[16384];
	ssize_t n = read(c->fd, chunk, sizeof(chunk));
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	size_t room = c->buf.len < OUTPUT_MAX ? OUTPUT_MAX - c->buf.len : 0;
	size_t keep = (size_t)n < room ? (size_t)n : room;
	for (size_t i = 0; i < keep; i++)
		sb_putc(&c->buf, chunk[i]);
	if (keep < (size_t)n)
		c->truncated = true;
	return true;
}

/* A child killed at its deadline may sit in the kernel (a removal that blocks in D state) long
 * after the reply went out: it is reaped by a thread of its own so it never turns zombie. */
static void *reap_main(void *arg)
{
	pid_t pid = (pid_t)(long)arg;
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return NULL;
}

static void reap_later(pid_t pid)
{
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	if (pthread_create(&t, &attr, reap_main, (void *)(long)pid) != 0)
		reap_main((void *)(long)pid); /* no thread: wait here rather than leak a zombie */
	pthread_attr_destroy(&attr);
}

static int spawn_shell(const char *command, int out_w, int err_w, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	int rc;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, err_w, STDERR_FILENO);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&defaults); /* SIGPIPE is ignored and SIGUSR1 caught here: not in the command */
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setpgroup(&attr, 0); /* its own group: a deadline kills the whole pipeline */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	char *const argv[] = { "sh", "-c", (char *)command, NULL };
	rc = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return rc;
}

int shell_run(const char *command, double timeout_ms, struct sbuf *out, bool *succeeded, char *err, size_t errlen)
{
	if (succeeded)
		*succeeded = false;
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) < 0)
		return errno;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		int e = errno;
		close(po[0]);
		close(po[1]);
		return e;
	}
	pid_t pid;
	int rc = spawn_shell(command, po[1], pe[1], &pid);
	close(po[1]);
	close(pe[1]);
	if (rc != 0) {
		close(po[0]);
		close(pe[0]);
		snprintf(err, errlen, "cannot start /bin/sh: %s", strerror(rc));
		return rc;
	}

	struct capture cap[2] = { { .fd = po[0] }, { .fd = pe[0] } };
	sb_init(&cap[0].buf);
	sb_init(&cap[1].buf);
	bool open_[2] = { true, true };
	bool timed_out = false, interrupted = false, reaped = false;
	int status = 0;
	/* the shell's exit is polled with the pipes: a command that closed its output early still
	 * gets its deadline, and one whose background children keep the pipes open ends with it */
	int pidfd = pidfd_open(pid, 0);
	double deadline = now_ms() + timeout_ms;
	while (open_[0] || open_[1] || !reaped) {
		double left = deadline - now_ms();
		if (left <= 0) {
			timed_out = !reaped;
			break;
		}
		struct pollfd p[3];
		int n = 0, idx[3];
		for (int i = 0; i < 2; i++)
			if (open_[i]) {
				p[n] = (struct pollfd){ .fd = cap[i].fd, .events = POLLIN };
				idx[n++] = i;
			}
		if (!reaped && pidfd >= 0) {
			p[n] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
			idx[n++] = 2;
		}
		/* without a pidfd (an old kernel) the exit is checked every 10 ms */
		int wait = left > 2147483647.0 ? 2147483647 : (int)left + 1;
		if (!reaped && pidfd < 0 && wait > 10)
			wait = 10;
		int r = poll(p, (nfds_t)n, wait);
		if (r < 0 && errno == EINTR) {
			interrupted = true; /* the agent is shutting down (SIGUSR1) */
			break;
		}
		if (r < 0)
			break;
		for (int k = 0; k < n; k++)
			if (idx[k] < 2 && p[k].revents && !drain(&cap[idx[k]]))
				open_[idx[k]] = false;
		if (!reaped && waitpid(pid, &status, WNOHANG) == pid) {
			reaped = true;
			/* output still buffered in the pipes is read; a background child holding them
			 * open is not waited for */
			double grace = now_ms() + 100;
			if (grace < deadline)
				deadline = grace;
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	if (!reaped) {
		kill(-pid, SIGKILL);
		reaped = waitpid(pid, &status, WNOHANG) == pid;
		if (!reaped)
			reap_later(pid);
	} else if (open_[0] || open_[1]) {
		kill(-pid, SIGKILL); /* the group's leftovers */
	}
	close(po[0]);
	close(pe[0]);

	if (reaped && WIFEXITED(status)) {
		sb_printf(out, ",\"code\":%d,\"signal\":null", WEXITSTATUS(status));
		if (succeeded)
			*succeeded = WEXITSTATUS(status) == 0 && !timed_out && !interrupted;
	} else if (reaped && WIFSIGNALED(status)) {
		/* named as SSH names exit signals: KILL, TERM, ... (a number when unnamed) */
		const char *name = sigabbrev_np(WTERMSIG(status));
		if (name)
			sb_printf(out, ",\"code\":null,\"signal\":\"%s\"", name);
		else
			sb_printf(out, ",\"code\":null,\"signal\":\"%d\"", WTERMSIG(status));
	} else {
		sb_puts(out, ",\"code\":null,\"signal\":null");
	}
	sb_puts(out, ",\"stdout\":");
	sb_json_str(out, cap[0].buf.p ? cap[0].buf.p : "", cap[0].buf.len);
	sb_puts(out, ",\"stderr\":");
	sb_json_str(out, cap[1].buf.p ? cap[1].buf.p : "", cap[1].buf.len);
	sb_printf(out, ",\"timedOut\":%s,\"truncated\":%s", timed_out || interrupted ? "true" : "false",
		  cap[0].truncated || cap[1].truncated ? "true" : "false");
	sb_free(&cap[0].buf);
	sb_free(&cap[1].buf);
	return 0;
}
