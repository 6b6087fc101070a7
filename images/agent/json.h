/* Minimal JSON: a recursive-descent parser into a small tree, and a growable
 * string buffer for emitting replies. No external libraries: the agent must
 * run in a guest that has nothing but the kernel. */
#ifndef HUCI_JSON_H
#define HUCI_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jnode {
	enum jtype type;
	bool b;
	double num;
	char *str;          /* J_STR: NUL-terminated, may contain NULs (len) */
	size_t len;         /* J_STR: bytes; J_ARR/J_OBJ: element count */
	char *key;          /* set on object members */
	struct jnode *kids; /* J_ARR/J_OBJ: first child */
	struct jnode *next; /* sibling */
};

/* Parses one JSON document; on error returns NULL and writes a message. */
struct jnode *json_parse(const char *text, char *err, size_t errlen);
void json_free(struct jnode *n);

/* Lookups return NULL when absent or of another type. */
const struct jnode *json_get(const struct jnode *obj, const char *key);
const char *json_get_str(const struct jnode *obj, const char *key);
bool json_get_num(const struct jnode *obj, const char *key, double *out);

/* Growable output buffer. Allocation failure aborts: the agent cannot answer anyway. */
struct sbuf {
	char *p;
	size_t len, cap;
};

void sb_init(struct sbuf *b);
void sb_free(struct sbuf *b);
void sb_putc(struct sbuf *b, char c);
void sb_puts(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_json_str(struct sbuf *b, const char *s, size_t len); /* quoted + escaped */
void sb_hex(struct sbuf *b, const unsigned char *p, size_t len); /* quoted lowercase hex */
void sb_num(struct sbuf *b, double v); /* integers without a fraction */
void sb_json_node(struct sbuf *b, const struct jnode *n); /* re-emits a parsed node */

#endif
