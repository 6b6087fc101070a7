#include "ioctls.h"

#include <errno.h>
#include <linux/gpio.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

struct flag {
	const char *name;
	uint64_t bit;
};

static const struct flag gpio_v2_flags[] = {
	{ "USED", GPIO_V2_LINE_FLAG_USED },
	{ "ACTIVE_LOW", GPIO_V2_LINE_FLAG_ACTIVE_LOW },
	{ "INPUT", GPIO_V2_LINE_FLAG_INPUT },
	{ "OUTPUT", GPIO_V2_LINE_FLAG_OUTPUT },
	{ "EDGE_RISING", GPIO_V2_LINE_FLAG_EDGE_RISING },
	{ "EDGE_FALLING", GPIO_V2_LINE_FLAG_EDGE_FALLING },
	{ "OPEN_DRAIN", GPIO_V2_LINE_FLAG_OPEN_DRAIN },
	{ "OPEN_SOURCE", GPIO_V2_LINE_FLAG_OPEN_SOURCE },
	{ "BIAS_PULL_UP", GPIO_V2_LINE_FLAG_BIAS_PULL_UP },
	{ "BIAS_PULL_DOWN", GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN },
	{ "BIAS_DISABLED", GPIO_V2_LINE_FLAG_BIAS_DISABLED },
	{ "EVENT_CLOCK_REALTIME", GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME },
	{ "EVENT_CLOCK_HTE", GPIO_V2_LINE_FLAG_EVENT_CLOCK_HTE },
	{ NULL, 0 },
};

static const struct flag gpio_v1_handle_flags[] = {
	{ "INPUT", GPIOHANDLE_REQUEST_INPUT },
	{ "OUTPUT", GPIOHANDLE_REQUEST_OUTPUT },
	{ "ACTIVE_LOW", GPIOHANDLE_REQUEST_ACTIVE_LOW },
	{ "OPEN_DRAIN", GPIOHANDLE_REQUEST_OPEN_DRAIN },
	{ "OPEN_SOURCE", GPIOHANDLE_REQUEST_OPEN_SOURCE },
	{ "BIAS_PULL_UP", GPIOHANDLE_REQUEST_BIAS_PULL_UP },
	{ "BIAS_PULL_DOWN", GPIOHANDLE_REQUEST_BIAS_PULL_DOWN },
	{ "BIAS_DISABLE", GPIOHANDLE_REQUEST_BIAS_DISABLE },
	{ NULL, 0 },
};

/* v1 spells edges RISING_EDGE; the v2 spelling is accepted too so suites can use one vocabulary. */
static const struct flag gpio_v1_event_flags[] = {
	{ "RISING_EDGE", GPIOEVENT_REQUEST_RISING_EDGE },
	{ "FALLING_EDGE", GPIOEVENT_REQUEST_FALLING_EDGE },
	{ "BOTH_EDGES", GPIOEVENT_REQUEST_BOTH_EDGES },
	{ "EDGE_RISING", GPIOEVENT_REQUEST_RISING_EDGE },
	{ "EDGE_FALLING", GPIOEVENT_REQUEST_FALLING_EDGE },
	{ NULL, 0 },
};

static const struct flag gpio_v1_line_flags[] = {
	{ "KERNEL", GPIOLINE_FLAG_KERNEL },
	{ "IS_OUT", GPIOLINE_FLAG_IS_OUT },
	{ "ACTIVE_LOW", GPIOLINE_FLAG_ACTIVE_LOW },
	{ "OPEN_DRAIN", GPIOLINE_FLAG_OPEN_DRAIN },
	{ "OPEN_SOURCE", GPIOLINE_FLAG_OPEN_SOURCE },
	{ "BIAS_PULL_UP", GPIOLINE_FLAG_BIAS_PULL_UP },
	{ "BIAS_PULL_DOWN", GPIOLINE_FLAG_BIAS_PULL_DOWN },
	{ "BIAS_DISABLE", GPIOLINE_FLAG_BIAS_DISABLE },
	{ NULL, 0 },
};

static int arg_error(struct ioctl_call *c, const char *fmt, const char *what)
{
	snprintf(c->error, sizeof(c->error), fmt, what);
	return EINVAL;
}

static int get_flags(struct ioctl_call *c, const char *key, const struct flag *table, uint64_t *out)
{
	const struct jnode *arr = json_get(c->req, key);
	*out = 0;
	if (!arr)
		return 0;
	if (arr->type != J_ARR)
		return arg_error(c, "%s must be an array of flag names", key);
	for (const struct jnode *k = arr->kids; k; k = k->next) {
		const struct flag *f = table;
		if (k->type != J_STR)
			return arg_error(c, "%s must be an array of flag names", key);
		while (f->name && strcmp(f->name, k->str) != 0)
			f++;
		if (!f->name) {
			snprintf(c->error, sizeof(c->error), "unknown flag %.64s in %s", k->str, key);
			return EINVAL;
		}
		*out |= f->bit;
	}
	return 0;
}

static void put_flags(struct sbuf *b, const char *key, const struct flag *table, uint64_t v)
{
	bool first = true;
	sb_printf(b, ",\"%s\":[", key);
	for (const struct flag *f = table; f->name; f++) {
		if (!(v & f->bit) || (f->bit & (f->bit - 1)))
			continue; /* skip unset bits and multi-bit aliases */
		sb_printf(b, "%s\"%s\"", first ? "" : ",", f->name);
		first = false;
	}
	sb_putc(b, ']');
}

static bool is_uint(const struct jnode *n, double max)
{
	return n && n->type == J_NUM && n->num >= 0 && n->num <= max && n->num == floor(n->num);
}

/* Optional unsigned integer argument; *out keeps its default when absent. */
static int get_uint(struct ioctl_call *c, const char *key, double max, uint64_t *out, bool required)
{
	const struct jnode *n = json_get(c->req, key);
	if (!n) {
		if (required)
			return arg_error(c, "missing argument %s", key);
		return 0;
	}
	if (!is_uint(n, max))
		return arg_error(c, "%s must be an unsigned integer in range", key);
	*out = (uint64_t)n->num;
	return 0;
}

/* Array of u32 (offsets, values) up to max entries. */
static int get_u32_array(struct ioctl_call *c, const char *key, __u32 *dst, size_t max, size_t *count, bool required)
{
	const struct jnode *arr = json_get(c->req, key);
	*count = 0;
	if (!arr)
		return required ? arg_error(c, "missing argument %s", key) : 0;
	if (arr->type != J_ARR || arr->len > max)
		return arg_error(c, "%s must be an array of at most 64 unsigned integers", key);
	for (const struct jnode *k = arr->kids; k; k = k->next) {
		if (!is_uint(k, 4294967295.0))
			return arg_error(c, "%s must be an array of at most 64 unsigned integers", key);
		dst[(*count)++] = (__u32)k->num;
	}
	return 0;
}

static void get_consumer(struct ioctl_call *c, char *dst, size_t len)
{
	const char *s = json_get_str(c->req, "consumer");
	snprintf(dst, len, "%s", s ? s : "huci-agent");
}

static void put_cstr(struct sbuf *b, const char *key, const char *s, size_t max)
{
	sb_printf(b, ",\"%s\":", key);
	sb_json_str(b, s, strnlen(s, max));
}

static int do_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? errno : 0;
}

static int gpio_chipinfo(struct ioctl_call *c)
{
	struct gpiochip_info info;
	memset(&info, 0, sizeof(info));
	int err = do_ioctl(c->fd, GPIO_GET_CHIPINFO_IOCTL, &info);
	if (err)
		return err;
	put_cstr(c->out, "name", info.name, sizeof(info.name));
	put_cstr(c->out, "label", info.label, sizeof(info.label));
	sb_printf(c->out, ",\"lines\":%u", info.lines);
	return 0;
}

static int gpio_v2_lineinfo(struct ioctl_call *c)
{
	struct gpio_v2_line_info info;
	uint64_t offset = 0;
	memset(&info, 0, sizeof(info));
	int err = get_uint(c, "offset", 4294967295.0, &offset, true);
	if (err)
		return err;
	info.offset = (__u32)offset;
	err = do_ioctl(c->fd, GPIO_V2_GET_LINEINFO_IOCTL, &info);
	if (err)
		return err;
	put_cstr(c->out, "name", info.name, sizeof(info.name));
	put_cstr(c->out, "consumer", info.consumer, sizeof(info.consumer));
	sb_printf(c->out, ",\"offset\":%u", info.offset);
	put_flags(c->out, "flags", gpio_v2_flags, info.flags);
	return 0;
}

static int gpio_v2_get_line(struct ioctl_call *c)
{
	struct gpio_v2_line_request r;
	__u32 values[GPIO_V2_LINES_MAX];
	size_t nvalues, noffsets;
	uint64_t bufsize = 0, flags = 0;
	memset(&r, 0, sizeof(r));
	int err = get_u32_array(c, "offsets", r.offsets, GPIO_V2_LINES_MAX, &noffsets, true);
	if (!err)
		err = get_flags(c, "flags", gpio_v2_flags, &flags);
	if (!err)
		err = get_u32_array(c, "values", values, GPIO_V2_LINES_MAX, &nvalues, false);
	if (!err)
		err = get_uint(c, "eventBufferSize", 4294967295.0, &bufsize, false);
	if (err)
		return err;
	if (noffsets == 0)
		return arg_error(c, "%s must not be empty", "offsets");
	r.num_lines = (__u32)noffsets;
	r.config.flags = flags;
	r.event_buffer_size = (__u32)bufsize;
	get_consumer(c, r.consumer, sizeof(r.consumer));
	if (nvalues) {
		/* initial output values apply to all requested lines, one bit per offset index */
		struct gpio_v2_line_config_attribute *a = &r.config.attrs[r.config.num_attrs++];
		a->attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;
		for (size_t i = 0; i < nvalues && i < noffsets; i++) {
			a->mask |= 1ULL << i;
			if (values[i])
				a->attr.values |= 1ULL << i;
		}
	}
	err = do_ioctl(c->fd, GPIO_V2_GET_LINE_IOCTL, &r);
	if (err)
		return err;
	c->newfd = r.fd;
	return 0;
}

static int gpio_v2_get_values(struct ioctl_call *c)
{
	struct gpio_v2_line_values v;
	uint64_t mask = UINT64_MAX;
	memset(&v, 0, sizeof(v));
	int err = get_uint(c, "mask", 9007199254740991.0, &mask, false);
	if (err)
		return err;
	v.mask = mask;
	err = do_ioctl(c->fd, GPIO_V2_LINE_GET_VALUES_IOCTL, &v);
	if (err)
		return err;
	sb_printf(c->out, ",\"bits\":%llu", (unsigned long long)(v.bits & ((1ULL << 53) - 1)));
	return 0;
}

/* "values": one 0/1 per requested line, by index; only those lines are set. */
static int gpio_v2_set_values(struct ioctl_call *c)
{
	__u32 values[GPIO_V2_LINES_MAX];
	size_t n;
	struct gpio_v2_line_values v;
	memset(&v, 0, sizeof(v));
	int err = get_u32_array(c, "values", values, GPIO_V2_LINES_MAX, &n, true);
	if (err)
		return err;
	if (n == 0)
		return arg_error(c, "%s must not be empty", "values");
	for (size_t i = 0; i < n; i++) {
		v.mask |= 1ULL << i;
		if (values[i])
			v.bits |= 1ULL << i;
	}
	return do_ioctl(c->fd, GPIO_V2_LINE_SET_VALUES_IOCTL, &v);
}

/* Watching a line makes the chip fd readable with line-info-changed events. */
static int gpio_v2_lineinfo_watch(struct ioctl_call *c)
{
	struct gpio_v2_line_info info;
	uint64_t offset = 0;
	memset(&info, 0, sizeof(info));
	int err = get_uint(c, "offset", 4294967295.0, &offset, true);
	if (err)
		return err;
	info.offset = (__u32)offset;
	err = do_ioctl(c->fd, GPIO_V2_GET_LINEINFO_WATCH_IOCTL, &info);
	if (err)
		return err;
	put_cstr(c->out, "name", info.name, sizeof(info.name));
	put_cstr(c->out, "consumer", info.consumer, sizeof(info.consumer));
	sb_printf(c->out, ",\"offset\":%u", info.offset);
	put_flags(c->out, "flags", gpio_v2_flags, info.flags);
	return 0;
}

static int gpio_lineinfo_unwatch(struct ioctl_call *c)
{
	uint64_t offset = 0;
	int err = get_uint(c, "offset", 4294967295.0, &offset, true);
	if (err)
		return err;
	__u32 off = (__u32)offset;
	return do_ioctl(c->fd, GPIO_GET_LINEINFO_UNWATCH_IOCTL, &off);
}

static int gpio_v1_linehandle(struct ioctl_call *c)
{
	struct gpiohandle_request r;
	__u32 values[GPIOHANDLES_MAX];
	size_t nvalues, noffsets;
	uint64_t flags;
	memset(&r, 0, sizeof(r));
	int err = get_u32_array(c, "offsets", r.lineoffsets, GPIOHANDLES_MAX, &noffsets, true);
	if (!err)
		err = get_flags(c, "flags", gpio_v1_handle_flags, &flags);
	if (!err)
		err = get_u32_array(c, "values", values, GPIOHANDLES_MAX, &nvalues, false);
	if (err)
		return err;
	if (noffsets == 0)
		return arg_error(c, "%s must not be empty", "offsets");
	r.lines = (__u32)noffsets;
	r.flags = (__u32)flags;
	for (size_t i = 0; i < nvalues; i++)
		r.default_values[i] = values[i] ? 1 : 0;
	get_consumer(c, r.consumer_label, sizeof(r.consumer_label));
	err = do_ioctl(c->fd, GPIO_GET_LINEHANDLE_IOCTL, &r);
	if (err)
		return err;
	c->newfd = r.fd;
	return 0;
}

static int gpio_v1_get_values(struct ioctl_call *c)
{
	struct gpiohandle_data d;
	uint64_t count = GPIOHANDLES_MAX;
	memset(&d, 0, sizeof(d));
	int err = get_uint(c, "count", GPIOHANDLES_MAX, &count, false);
	if (err)
		return err;
	err = do_ioctl(c->fd, GPIOHANDLE_GET_LINE_VALUES_IOCTL, &d);
	if (err)
		return err;
	sb_puts(c->out, ",\"values\":[");
	for (uint64_t i = 0; i < count; i++)
		sb_printf(c->out, "%s%u", i ? "," : "", d.values[i]);
	sb_putc(c->out, ']');
	return 0;
}

static int gpio_v1_set_values(struct ioctl_call *c)
{
	__u32 values[GPIOHANDLES_MAX];
	size_t n;
	struct gpiohandle_data d;
	memset(&d, 0, sizeof(d));
	int err = get_u32_array(c, "values", values, GPIOHANDLES_MAX, &n, true);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++)
		d.values[i] = values[i] ? 1 : 0;
	return do_ioctl(c->fd, GPIOHANDLE_SET_LINE_VALUES_IOCTL, &d);
}

static int gpio_v1_lineevent(struct ioctl_call *c)
{
	struct gpioevent_request r;
	uint64_t offset = 0, hflags, eflags;
	memset(&r, 0, sizeof(r));
	int err = get_uint(c, "offset", 4294967295.0, &offset, true);
	if (!err)
		err = get_flags(c, "flags", gpio_v1_handle_flags, &hflags);
	if (!err)
		err = get_flags(c, "eventFlags", gpio_v1_event_flags, &eflags);
	if (err)
		return err;
	r.lineoffset = (__u32)offset;
	r.handleflags = (__u32)(hflags ? hflags : GPIOHANDLE_REQUEST_INPUT);
	r.eventflags = (__u32)(eflags ? eflags : GPIOEVENT_REQUEST_BOTH_EDGES);
	get_consumer(c, r.consumer_label, sizeof(r.consumer_label));
	err = do_ioctl(c->fd, GPIO_GET_LINEEVENT_IOCTL, &r);
	if (err)
		return err;
	c->newfd = r.fd;
	return 0;
}

static int gpio_v1_lineinfo(struct ioctl_call *c)
{
	struct gpioline_info info;
	uint64_t offset = 0;
	memset(&info, 0, sizeof(info));
	int err = get_uint(c, "offset", 4294967295.0, &offset, true);
	if (err)
		return err;
	info.line_offset = (__u32)offset;
	err = do_ioctl(c->fd, GPIO_GET_LINEINFO_IOCTL, &info);
	if (err)
		return err;
	put_cstr(c->out, "name", info.name, sizeof(info.name));
	put_cstr(c->out, "consumer", info.consumer, sizeof(info.consumer));
	sb_printf(c->out, ",\"offset\":%u", info.line_offset);
	put_flags(c->out, "flags", gpio_v1_line_flags, info.flags);
	return 0;
}

/* Selects the client address, then one SMBus read (byte, or byte data when "command" is given). */
static int i2c_smbus_read_byte(struct ioctl_call *c)
{
	uint64_t addr = 0, command = 0;
	const struct jnode *force = json_get(c->req, "force");
	const struct jnode *cmd = json_get(c->req, "command");
	int err = get_uint(c, "addr", 0x3ff, &addr, true);
	if (!err)
		err = get_uint(c, "command", 255, &command, false);
	if (err)
		return err;
	bool forced = force && force->type == J_BOOL && force->b;
	if (ioctl(c->fd, forced ? I2C_SLAVE_FORCE : I2C_SLAVE, (unsigned long)addr) < 0) {
		err = errno;
		sb_printf(c->out, ",\"stage\":\"%s\"", forced ? "I2C_SLAVE_FORCE" : "I2C_SLAVE");
		return err;
	}
	union i2c_smbus_data data;
	struct i2c_smbus_ioctl_data args = {
		.read_write = I2C_SMBUS_READ,
		.command = (__u8)command,
		.size = cmd ? I2C_SMBUS_BYTE_DATA : I2C_SMBUS_BYTE,
		.data = &data,
	};
	memset(&data, 0, sizeof(data));
	err = do_ioctl(c->fd, I2C_SMBUS, &args);
	if (err) {
		sb_puts(c->out, ",\"stage\":\"I2C_SMBUS\"");
		return err;
	}
	sb_printf(c->out, ",\"value\":%u", data.byte);
	return 0;
}

static int i2c_funcs(struct ioctl_call *c)
{
	unsigned long funcs = 0;
	int err = do_ioctl(c->fd, I2C_FUNCS, &funcs);
	if (err)
		return err;
	sb_printf(c->out, ",\"funcs\":%lu", funcs);
	return 0;
}

/* The kernel's struct termios (not glibc's, which is larger): four u32 flag words first. */
static int tcgets(struct ioctl_call *c)
{
	unsigned char buf[128];
	__u32 w[4];
	memset(buf, 0, sizeof(buf));
	int err = do_ioctl(c->fd, TCGETS, buf);
	if (err)
		return err;
	memcpy(w, buf, sizeof(w));
	sb_printf(c->out, ",\"iflag\":%u,\"oflag\":%u,\"cflag\":%u,\"lflag\":%u", w[0], w[1], w[2], w[3]);
	return 0;
}

static const struct named_ioctl {
	const char *name;
	int (*run)(struct ioctl_call *c);
} named[] = {
	{ "GPIO_GET_CHIPINFO_IOCTL", gpio_chipinfo },
	{ "GPIO_V2_GET_LINEINFO_IOCTL", gpio_v2_lineinfo },
	{ "GPIO_V2_GET_LINE_IOCTL", gpio_v2_get_line },
	{ "GPIO_V2_LINE_GET_VALUES_IOCTL", gpio_v2_get_values },
	{ "GPIO_V2_LINE_SET_VALUES_IOCTL", gpio_v2_set_values },
	{ "GPIO_V2_GET_LINEINFO_WATCH_IOCTL", gpio_v2_lineinfo_watch },
	{ "GPIO_GET_LINEINFO_UNWATCH_IOCTL", gpio_lineinfo_unwatch },
	{ "GPIO_GET_LINEHANDLE_IOCTL", gpio_v1_linehandle },
	{ "GPIOHANDLE_GET_LINE_VALUES_IOCTL", gpio_v1_get_values },
	{ "GPIOHANDLE_SET_LINE_VALUES_IOCTL", gpio_v1_set_values },
	{ "GPIO_GET_LINEEVENT_IOCTL", gpio_v1_lineevent },
	{ "GPIO_GET_LINEINFO_IOCTL", gpio_v1_lineinfo },
	{ "I2C_SMBUS_READ_BYTE", i2c_smbus_read_byte },
	{ "I2C_FUNCS", i2c_funcs },
	{ "TCGETS", tcgets },
};

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

/* {raw: N} passes "arg" as an integer; with "hex" or "size" it passes a buffer and returns it. */
static int raw_ioctl(struct ioctl_call *c, const struct jnode *r)
{
	const struct jnode *num = json_get(r, "raw"), *arg = json_get(r, "arg"), *size = json_get(r, "size");
	const char *hex = json_get_str(r, "hex");
	unsigned char *buf = NULL;
	size_t len = 0;
	if (!is_uint(num, 4294967295.0))
		return arg_error(c, "%s must be an unsigned 32-bit integer", "request.raw");
	if (hex && !hex_decode(hex, &buf, &len))
		return arg_error(c, "%s must be an even-length hex string", "request.hex");
	if (!hex && size) {
		if (!is_uint(size, 1 << 20))
			return arg_error(c, "%s must be an integer up to 1 MiB", "request.size");
		len = (size_t)size->num;
		buf = calloc(1, len + 1);
	}
	if (!buf && arg && !is_uint(arg, 18446744073709551615.0))
		return arg_error(c, "%s must be an unsigned integer", "request.arg");
	unsigned long a = buf ? (unsigned long)buf : arg ? (unsigned long)arg->num : 0;
	int ret = ioctl(c->fd, (unsigned long)num->num, a);
	int err = ret < 0 ? errno : 0;
	if (!err) {
		sb_printf(c->out, ",\"ret\":%d", ret);
		if (buf) {
			sb_puts(c->out, ",\"hex\":");
			sb_hex(c->out, buf, len);
		}
	}
	free(buf);
	return err;
}

int ioctl_run(struct ioctl_call *c)
{
	const struct jnode *r = json_get(c->req, "request");
	c->newfd = -1;
	c->error[0] = '\0';
	if (r && r->type == J_OBJ)
		return raw_ioctl(c, r);
	if (!r || r->type != J_STR)
		return arg_error(c, "%s must be an ioctl name or {raw: number}", "request");
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strcmp(named[i].name, r->str) == 0)
			return named[i].run(c);
	snprintf(c->error, sizeof(c->error), "unknown ioctl %.64s", r->str);
	return EINVAL;
}
