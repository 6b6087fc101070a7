#ifndef HUCI_ERRNAMES_H
#define HUCI_ERRNAMES_H

#include <stddef.h>

/* Name of an errno value ("ENODEV"); unknown values become "E<number>" in buf. */
const char *errno_name(int err, char *buf, size_t buflen);

#endif
