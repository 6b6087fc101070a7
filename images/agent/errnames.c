/* errno number -> name. User-space names from <errno.h>; kernel-internal codes
 * (include/linux/errno.h) are listed by number because a buggy driver can
 * leak them to user space (ENOTSUPP 524, ENOIOCTLCMD 515) and we want to see that. */
#include "errnames.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define E(name) { name, #name },
static const struct { int num; const char *name; } table[] = {
	E(EPERM)
	E(ENOENT)
	E(ESRCH)
	E(EINTR)
	E(EIO)
	E(ENXIO)
	E(E2BIG)
	E(ENOEXEC)
	E(EBADF)
	E(ECHILD)
	E(EAGAIN)
	E(ENOMEM)
	E(EACCES)
	E(EFAULT)
	E(ENOTBLK)
	E(EBUSY)
	E(EEXIST)
	E(EXDEV)
	E(ENODEV)
	E(ENOTDIR)
	E(EISDIR)
	E(EINVAL)
	E(ENFILE)
	E(EMFILE)
	E(ENOTTY)
	E(ETXTBSY)
	E(EFBIG)
	E(ENOSPC)
	E(ESPIPE)
	E(EROFS)
	E(EMLINK)
	E(EPIPE)
	E(EDOM)
	E(ERANGE)
	E(EDEADLK)
	E(ENAMETOOLONG)
	E(ENOLCK)
	E(ENOSYS)
	E(ENOTEMPTY)
	E(ELOOP)
	E(ENOMSG)
	E(EIDRM)
	E(ECHRNG)
	E(EL2NSYNC)
	E(EL3HLT)
	E(EL3RST)
	E(ELNRNG)
	E(EUNATCH)
	E(ENOCSI)
	E(EL2HLT)
	E(EBADE)
	E(EBADR)
	E(EXFULL)
	E(ENOANO)
	E(EBADRQC)
	E(EBADSLT)
	E(EBFONT)
	E(ENOSTR)
	E(ENODATA)
	E(ETIME)
	E(ENOSR)
	E(ENONET)
	E(ENOPKG)
	E(EREMOTE)
	E(ENOLINK)
	E(EADV)
	E(ESRMNT)
	E(ECOMM)
	E(EPROTO)
	E(EMULTIHOP)
	E(EDOTDOT)
	E(EBADMSG)
	E(EOVERFLOW)
	E(ENOTUNIQ)
	E(EBADFD)
	E(EREMCHG)
	E(ELIBACC)
	E(ELIBBAD)
	E(ELIBSCN)
	E(ELIBMAX)
	E(ELIBEXEC)
	E(EILSEQ)
	E(ERESTART)
	E(ESTRPIPE)
	E(EUSERS)
	E(ENOTSOCK)
	E(EDESTADDRREQ)
	E(EMSGSIZE)
	E(EPROTOTYPE)
	E(ENOPROTOOPT)
	E(EPROTONOSUPPORT)
	E(ESOCKTNOSUPPORT)
	E(EOPNOTSUPP)
	E(EPFNOSUPPORT)
	E(EAFNOSUPPORT)
	E(EADDRINUSE)
	E(EADDRNOTAVAIL)
	E(ENETDOWN)
	E(ENETUNREACH)
	E(ENETRESET)
	E(ECONNABORTED)
	E(ECONNRESET)
	E(ENOBUFS)
	E(EISCONN)
	E(ENOTCONN)
	E(ESHUTDOWN)
	E(ETOOMANYREFS)
	E(ETIMEDOUT)
	E(ECONNREFUSED)
	E(EHOSTDOWN)
	E(EHOSTUNREACH)
	E(EALREADY)
	E(EINPROGRESS)
	E(ESTALE)
	E(EUCLEAN)
	E(ENOTNAM)
	E(ENAVAIL)
	E(EISNAM)
	E(EREMOTEIO)
	E(EDQUOT)
	E(ENOMEDIUM)
	E(EMEDIUMTYPE)
	E(ECANCELED)
	E(ENOKEY)
	E(EKEYEXPIRED)
	E(EKEYREVOKED)
	E(EKEYREJECTED)
	E(EOWNERDEAD)
	E(ENOTRECOVERABLE)
	E(ERFKILL)
	E(EHWPOISON)
	/* kernel-internal, never meant for user space */
	{ 512, "ERESTARTSYS" },
	{ 513, "ERESTARTNOINTR" },
	{ 514, "ERESTARTNOHAND" },
	{ 515, "ENOIOCTLCMD" },
	{ 516, "ERESTART_RESTARTBLOCK" },
	{ 517, "EPROBE_DEFER" },
	{ 518, "EOPENSTALE" },
	{ 519, "ENOPARAM" },
	{ 521, "EBADHANDLE" },
	{ 522, "ENOTSYNC" },
	{ 523, "EBADCOOKIE" },
	{ 524, "ENOTSUPP" },
	{ 525, "ETOOSMALL" },
	{ 526, "ESERVERFAULT" },
	{ 527, "EBADTYPE" },
	{ 528, "EJUKEBOX" },
	{ 529, "EIOCBQUEUED" },
	{ 530, "ERECALLCONFLICT" },
	{ 531, "ENOGRACE" },
};
#undef E

const char *errno_name(int err, char *buf, size_t buflen)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].num == err)
			return table[i].name;
	snprintf(buf, buflen, "E%d", err);
	return buf;
}
