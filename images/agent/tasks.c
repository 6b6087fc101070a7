/* The tasks op: a removal that waits in the kernel shows as its task asleep in the same kernel
 * function sample after sample; the host decides "blocked" from that rather than from a timeout. */
#include "tasks.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STACK_FRAMES 8

static ssize_t read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return n;
}

/* "[<0>] i2c_del_adapter+0x1c4/0x3a0" lines → "i2c_del_adapter,..." (top STACK_FRAMES). */
static void stack_of(const char *pid, struct sbuf *out)
{
	char path[300], buf[4096], frames[1024] = "";
	snprintf(path, sizeof(path), "/proc/%s/stack", pid);
	if (read_file(path, buf, sizeof(buf)) <= 0) {
		sb_json_str(out, "", 0);
		return;
	}
	int kept = 0;
	for (char *line = strtok(buf, "\n"); line && kept < STACK_FRAMES; line = strtok(NULL, "\n")) {
		char *f = strchr(line, ']');
		if (!f)
			continue;
		f++;
		while (*f == ' ')
			f++;
		size_t n = strcspn(f, "+ ");
		if (n == 0)
			continue;
		size_t used = strlen(frames);
		snprintf(frames + used, sizeof(frames) - used, "%s%.*s", kept ? "," : "", (int)n, f);
		kept++;
	}
	sb_json_str(out, frames, strlen(frames));
}

int tasks_list(struct sbuf *out)
{
	pid_t self = getpid();
	DIR *d = opendir("/proc");
	sb_puts(out, ",\"tasks\":[");
	int first = 1;
	for (struct dirent *e; d && (e = readdir(d));) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		char path[300], stat[1024], wchan[128] = "";
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (read_file(path, stat, sizeof(stat)) <= 0)
			continue;
		/* pid (comm) state ppid ...: comm may hold spaces and parentheses */
		char *open_paren = strchr(stat, '('), *close_paren = strrchr(stat, ')');
		if (!open_paren || !close_paren || close_paren[1] != ' ')
			continue;
		char state = close_paren[2];
		int ppid = atoi(close_paren + 4);
		if (state != 'D' && ppid != self)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/wchan", e->d_name);
		if (read_file(path, wchan, sizeof(wchan)) < 0)
			wchan[0] = 0;
		sb_printf(out, "%s{\"pid\":%s,\"ppid\":%d,\"state\":\"%c\",\"comm\":", first ? "" : ",", e->d_name, ppid, state);
		sb_json_str(out, open_paren + 1, (size_t)(close_paren - open_paren - 1));
		sb_puts(out, ",\"wchan\":");
		sb_json_str(out, wchan, strlen(wchan));
		sb_puts(out, ",\"stack\":");
		stack_of(e->d_name, out);
		sb_putc(out, '}');
		first = 0;
	}
	if (d)
		closedir(d);
	sb_putc(out, ']');
	return 0;
}
