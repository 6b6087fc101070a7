#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32

struct parser {
	const char *s;
	const char *err;
	size_t errpos;
	const char *start;
};

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);
	if (!p)
		abort();
	return p;
}

static bool fail(struct parser *p, const char *msg)
{
	if (!p->err) {
		p->err = msg;
		p->errpos = (size_t)(p->s - p->start);
	}
	return false;
}

static void skip_ws(struct parser *p)
{
	while (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')
		p->s++;
}

static bool parse_value(struct parser *p, struct jnode *n, int depth);

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool parse_u4(struct parser *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p->s[i]);
		if (h < 0)
			return fail(p, "bad \\u escape");
		v = v << 4 | (unsigned)h;
	}
	p->s += 4;
	*out = v;
	return true;
}

static void put_utf8(struct sbuf *b, unsigned cp)
{
	if (cp < 0x80) {
		sb_putc(b, (char)cp);
	} else if (cp < 0x800) {
		sb_putc(b, (char)(0xc0 | cp >> 6));
		sb_putc(b, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		sb_putc(b, (char)(0xe0 | cp >> 12));
		sb_putc(b, (char)(0x80 | (cp >> 6 & 0x3f)));
		sb_putc(b, (char)(0x80 | (cp & 0x3f)));
	} else {
		sb_putc(b, (char)(0xf0 | cp >> 18));
		sb_putc(b, (char)(0x80 | (cp >> 12 & 0x3f)));
		sb_putc(b, (char)(0x80 | (cp >> 6 & 0x3f)));
		sb_putc(b, (char)(0x80 | (cp & 0x3f)));
	}
}

static bool parse_escape(struct parser *p, struct sbuf *b)
{
	char c = *p->s++;
	unsigned cp, lo;
	switch (c) {
	case '"': sb_putc(b, '"'); return true;
	case '\\': sb_putc(b, '\\'); return true;
	case '/': sb_putc(b, '/'); return true;
	case 'b': sb_putc(b, '\b'); return true;
	case 'f': sb_putc(b, '\f'); return true;
	case 'n': sb_putc(b, '\n'); return true;
	case 'r': sb_putc(b, '\r'); return true;
	case 't': sb_putc(b, '\t'); return true;
	case 'u':
		if (!parse_u4(p, &cp))
			return false;
		if (cp >= 0xd800 && cp < 0xdc00 && p->s[0] == '\\' && p->s[1] == 'u') {
			p->s += 2;
			if (!parse_u4(p, &lo))
				return false;
			if (lo < 0xdc00 || lo > 0xdfff)
				return fail(p, "bad surrogate pair");
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		put_utf8(b, cp);
		return true;
	default:
		p->s--;
		return fail(p, "bad escape");
	}
}

static bool parse_string(struct parser *p, char **out, size_t *outlen)
{
	struct sbuf b;
	sb_init(&b);
	p->s++; /* opening quote */
	for (;;) {
		char c = *p->s;
		if (c == '\0') {
			sb_free(&b);
			return fail(p, "unterminated string");
		}
		if ((unsigned char)c < 0x20) {
			sb_free(&b);
			return fail(p, "control character in string");
		}
		p->s++;
		if (c == '"')
			break;
		if (c == '\\') {
			if (!parse_escape(p, &b)) {
				sb_free(&b);
				return false;
			}
			continue;
		}
		sb_putc(&b, c);
	}
	sb_putc(&b, '\0');
	*out = b.p;
	*outlen = b.len - 1;
	return true;
}

static bool parse_number(struct parser *p, struct jnode *n)
{
	const char *q = p->s;
	if (*q == '-')
		q++;
	if (*q < '0' || *q > '9')
		return fail(p, "bad number");
	char *end;
	n->num = strtod(p->s, &end);
	if (end == p->s || !isfinite(n->num))
		return fail(p, "bad number");
	n->type = J_NUM;
	p->s = end;
	return true;
}

static bool parse_literal(struct parser *p, struct jnode *n)
{
	static const struct { const char *word; enum jtype type; bool b; } lits[] = {
		{ "true", J_BOOL, true }, { "false", J_BOOL, false }, { "null", J_NULL, false },
	};
	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		size_t l = strlen(lits[i].word);
		if (strncmp(p->s, lits[i].word, l) == 0) {
			n->type = lits[i].type;
			n->b = lits[i].b;
			p->s += l;
			return true;
		}
	}
	return fail(p, "unexpected token");
}

/* Parses '[...]' or '{...}'; members are chained through ->next. */
static bool parse_container(struct parser *p, struct jnode *n, int depth, bool is_obj)
{
	char close = is_obj ? '}' : ']';
	struct jnode **tail = &n->kids;
	n->type = is_obj ? J_OBJ : J_ARR;
	p->s++;
	skip_ws(p);
	if (*p->s == close) {
		p->s++;
		return true;
	}
	for (;;) {
		struct jnode *kid = xcalloc(1, sizeof(*kid));
		*tail = kid;
		tail = &kid->next;
		n->len++;
		skip_ws(p);
		if (is_obj) {
			size_t klen;
			if (*p->s != '"')
				return fail(p, "expected object key");
			if (!parse_string(p, &kid->key, &klen))
				return false;
			skip_ws(p);
			if (*p->s != ':')
				return fail(p, "expected ':'");
			p->s++;
		}
		if (!parse_value(p, kid, depth + 1))
			return false;
		skip_ws(p);
		if (*p->s == ',') {
			p->s++;
			continue;
		}
		if (*p->s == close) {
			p->s++;
			return true;
		}
		return fail(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static bool parse_value(struct parser *p, struct jnode *n, int depth)
{
	if (depth > MAX_DEPTH)
		return fail(p, "nesting too deep");
	skip_ws(p);
	switch (*p->s) {
	case '{': return parse_container(p, n, depth, true);
	case '[': return parse_container(p, n, depth, false);
	case '"':
		n->type = J_STR;
		return parse_string(p, &n->str, &n->len);
	case '\0': return fail(p, "unexpected end of input");
	default:
		if (*p->s == '-' || (*p->s >= '0' && *p->s <= '9'))
			return parse_number(p, n);
		return parse_literal(p, n);
	}
}

struct jnode *json_parse(const char *text, char *err, size_t errlen)
{
	struct parser p = { .s = text, .start = text };
	struct jnode *root = xcalloc(1, sizeof(*root));
	if (parse_value(&p, root, 0)) {
		skip_ws(&p);
		if (*p.s == '\0')
			return root;
		fail(&p, "trailing characters");
	}
	snprintf(err, errlen, "invalid JSON at byte %zu: %s", p.errpos, p.err);
	json_free(root);
	return NULL;
}

void json_free(struct jnode *n)
{
	while (n) {
		struct jnode *next = n->next;
		json_free(n->kids);
		free(n->str);
		free(n->key);
		free(n);
		n = next;
	}
}

const struct jnode *json_get(const struct jnode *obj, const char *key)
{
	if (!obj || obj->type != J_OBJ)
		return NULL;
	const struct jnode *found = NULL;
	for (const struct jnode *k = obj->kids; k; k = k->next)
		if (strcmp(k->key, key) == 0)
			found = k; /* last duplicate wins, as in JSON.parse */
	return found;
}

const char *json_get_str(const struct jnode *obj, const char *key)
{
	const struct jnode *n = json_get(obj, key);
	return n && n->type == J_STR ? n->str : NULL;
}

bool json_get_num(const struct jnode *obj, const char *key, double *out)
{
	const struct jnode *n = json_get(obj, key);
	if (!n || n->type != J_NUM)
		return false;
	*out = n->num;
	return true;
}

void sb_init(struct sbuf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
}

void sb_free(struct sbuf *b)
{
	free(b->p);
	sb_init(b);
}

static void sb_reserve(struct sbuf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		abort();
	b->p = p;
	b->cap = cap;
}

void sb_putc(struct sbuf *b, char c)
{
	sb_reserve(b, 1);
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

void sb_puts(struct sbuf *b, const char *s)
{
	size_t l = strlen(s);
	sb_reserve(b, l);
	memcpy(b->p + b->len, s, l + 1);
	b->len += l;
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char probe[1];
	va_start(ap, fmt);
	int n = vsnprintf(probe, sizeof(probe), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sb_json_str(struct sbuf *b, const char *s, size_t len)
{
	sb_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			sb_putc(b, '\\');
			sb_putc(b, (char)c);
		} else if (c == '\n') {
			sb_puts(b, "\\n");
		} else if (c < 0x20 || c == 0x7f) {
			sb_printf(b, "\\u%04x", c);
		} else {
			sb_putc(b, (char)c);
		}
	}
	sb_putc(b, '"');
}

void sb_hex(struct sbuf *b, const unsigned char *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	sb_reserve(b, len * 2 + 2);
	b->p[b->len++] = '"';
	for (size_t i = 0; i < len; i++) {
		b->p[b->len++] = digits[p[i] >> 4];
		b->p[b->len++] = digits[p[i] & 15];
	}
	b->p[b->len++] = '"';
	b->p[b->len] = '\0';
}

void sb_num(struct sbuf *b, double v)
{
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		sb_printf(b, "%lld", (long long)v);
	else
		sb_printf(b, "%.17g", v);
}

void sb_json_node(struct sbuf *b, const struct jnode *n)
{
	switch (n->type) {
	case J_NULL: sb_puts(b, "null"); break;
	case J_BOOL: sb_puts(b, n->b ? "true" : "false"); break;
	case J_NUM: sb_num(b, n->num); break;
	case J_STR: sb_json_str(b, n->str, n->len); break;
	case J_ARR:
	case J_OBJ:
		sb_putc(b, n->type == J_ARR ? '[' : '{');
		for (const struct jnode *k = n->kids; k; k = k->next) {
			if (k != n->kids)
				sb_putc(b, ',');
			if (n->type == J_OBJ) {
				sb_json_str(b, k->key, strlen(k->key));
				sb_putc(b, ':');
			}
			sb_json_node(b, k);
		}
		sb_putc(b, n->type == J_ARR ? ']' : '}');
		break;
	}
}
