#include "ioctls.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/*
 * Generic ioctl(2): the host encodes the argument (src/vocabulary: struct layouts from
 * suites/vocabulary) and decodes the reply; the agent only runs the calls. A step is
 * {number, arg?} (an integer argument) or {number, hex, relocs?} (a buffer the call gets a
 * pointer to, returned after the call). relocs [[at, to], ...]: the 8 bytes at `at` become the
 * address of byte `to` of the same buffer for the call (a struct holding a pointer, as
 * i2c_smbus_ioctl_data does), and go back to what the host sent before the buffer is returned.
 * fdAt: a 32-bit field of the buffer that holds a new fd afterwards; fdReturn: ioctl(2)'s result
 * is the new fd. A request is one step or a list run in order, stopping at the first that fails
 * ("stage" says which, from 0).
 */

#define MAX_BUF (1u << 20)
#define MAX_RELOCS 16

static int arg_error(struct ioctl_call *c, const char *fmt, const char *what)
{
	snprintf(c->error, sizeof(c->error), fmt, what);
	return EINVAL;
}

static bool is_uint(const struct jnode *n, double max)
{
	return n && n->type == J_NUM && n->num >= 0 && n->num <= max && n->num == floor(n->num);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool hex_decode(const char *hex, unsigned char **out, size_t *len)
{
	size_t n = strlen(hex);
	if (n % 2)
		return false;
	unsigned char *p = malloc(n / 2 + 1);
	if (!p)
		abort();
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(p);
			return false;
		}
		p[i] = (unsigned char)(hi << 4 | lo);
	}
	*out = p;
	*len = n / 2;
	return true;
}

struct reloc {
	size_t at, to;
	unsigned char saved[8];
};

/* One step. Writes ret/hex of this step into c->out when `last` (the reply shows the last call). */
static int run_step(struct ioctl_call *c, const struct jnode *s, bool last)
{
	const struct jnode *num = json_get(s, "number"), *arg = json_get(s, "arg"), *size = json_get(s, "size");
	const struct jnode *relocs = json_get(s, "relocs"), *fd_at = json_get(s, "fdAt"), *fd_ret = json_get(s, "fdReturn");
	const char *hex = json_get_str(s, "hex");
	unsigned char *buf = NULL;
	size_t len = 0;
	struct reloc rel[MAX_RELOCS];
	size_t nrel = 0;

	if (!s || s->type != J_OBJ)
		return arg_error(c, "%s must be an object {number, arg?|hex?}", "request");
	if (!is_uint(num, 4294967295.0))
		return arg_error(c, "%s must be an unsigned 32-bit integer", "request.number");
	if (hex && !hex_decode(hex, &buf, &len))
		return arg_error(c, "%s must be an even-length hex string", "request.hex");
	if (!hex && size) {
		if (!is_uint(size, MAX_BUF))
			return arg_error(c, "%s must be an integer up to 1 MiB", "request.size");
		len = (size_t)size->num;
		buf = calloc(1, len + 1);
		if (!buf)
			abort();
	}
	if (buf && len > MAX_BUF) {
		free(buf);
		return arg_error(c, "%s is larger than 1 MiB", "request.hex");
	}
	if (!buf && arg && !is_uint(arg, 18446744073709551615.0))
		return arg_error(c, "%s must be an unsigned integer", "request.arg");
	if (relocs) {
		if (!buf || relocs->type != J_ARR || relocs->len > MAX_RELOCS)
			goto bad_relocs;
		for (const struct jnode *r = relocs->kids; r; r = r->next) {
			const struct jnode *at = r->type == J_ARR ? r->kids : NULL, *to = at ? at->next : NULL;
			if (!is_uint(at, (double)len) || !is_uint(to, (double)len) || (size_t)at->num + 8 > len)
				goto bad_relocs;
			rel[nrel].at = (size_t)at->num;
			rel[nrel].to = (size_t)to->num;
			memcpy(rel[nrel].saved, buf + rel[nrel].at, 8);
			uintptr_t p = (uintptr_t)(buf + rel[nrel].to);
			memcpy(buf + rel[nrel].at, &p, 8);
			nrel++;
		}
	}
	if (fd_at && (!buf || !is_uint(fd_at, (double)len) || (size_t)fd_at->num + 4 > len)) {
		free(buf);
		return arg_error(c, "%s must be the offset of a 32-bit field of the buffer", "request.fdAt");
	}

	unsigned long a = buf ? (unsigned long)buf : arg ? (unsigned long)arg->num : 0;
	int ret = ioctl(c->fd, (unsigned long)num->num, a);
	int err = ret < 0 ? errno : 0;
	for (size_t i = 0; i < nrel; i++)
		memcpy(buf + rel[i].at, rel[i].saved, 8);
	if (!err) {
		if (fd_ret && fd_ret->type == J_BOOL && fd_ret->b)
			c->newfd = ret;
		else if (fd_at) {
			int32_t fd;
			memcpy(&fd, buf + (size_t)fd_at->num, 4);
			c->newfd = fd;
		}
		if (last) {
			sb_printf(c->out, ",\"ret\":%d", ret);
			if (buf) {
				sb_puts(c->out, ",\"hex\":");
				sb_hex(c->out, buf, len);
			}
		}
	}
	free(buf);
	return err;

bad_relocs:
	free(buf);
	return arg_error(c, "%s must be a list of up to 16 [at, to] offsets inside the buffer", "request.relocs");
}

int ioctl_run(struct ioctl_call *c)
{
	const struct jnode *r = json_get(c->req, "request");
	c->newfd = -1;
	c->error[0] = '\0';
	if (r && r->type == J_ARR) {
		if (r->len == 0 || r->len > 8)
			return arg_error(c, "%s must hold 1 to 8 steps", "request");
		int k = 0;
		for (const struct jnode *s = r->kids; s; s = s->next, k++) {
			if (c->newfd >= 0)
				return arg_error(c, "%s: only the last step may return an fd", "request");
			int err = run_step(c, s, s->next == NULL);
			if (err) {
				sb_printf(c->out, ",\"stage\":%d", k);
				return err;
			}
		}
		return 0;
	}
	return run_step(c, r, true);
}
