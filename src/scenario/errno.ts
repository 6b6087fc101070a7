// Linux errno names (asm-generic) the agent may reply with, and the strerror texts shell tools print,
// so a suite's "accept" list can be checked at load time and a failed `echo > sysfs` mapped to a name.

export const ERRNO_NAMES = [
  'EPERM', 'ENOENT', 'ESRCH', 'EINTR', 'EIO', 'ENXIO', 'E2BIG', 'ENOEXEC', 'EBADF', 'ECHILD', 'EAGAIN',
  'ENOMEM', 'EACCES', 'EFAULT', 'ENOTBLK', 'EBUSY', 'EEXIST', 'EXDEV', 'ENODEV', 'ENOTDIR', 'EISDIR',
  'EINVAL', 'ENFILE', 'EMFILE', 'ENOTTY', 'ETXTBSY', 'EFBIG', 'ENOSPC', 'ESPIPE', 'EROFS', 'EMLINK',
  'EPIPE', 'EDOM', 'ERANGE', 'EDEADLK', 'ENAMETOOLONG', 'ENOLCK', 'ENOSYS', 'ENOTEMPTY', 'ELOOP',
  'EWOULDBLOCK', 'ENOMSG', 'EIDRM', 'ENOSTR', 'ENODATA', 'ETIME', 'ENOSR', 'ENOLINK', 'EPROTO',
  'EBADMSG', 'EOVERFLOW', 'EILSEQ', 'EUSERS', 'ENOTSOCK', 'EDESTADDRREQ', 'EMSGSIZE', 'EPROTOTYPE',
  'ENOPROTOOPT', 'EPROTONOSUPPORT', 'EOPNOTSUPP', 'ENOTSUP', 'EAFNOSUPPORT', 'EADDRINUSE',
  'EADDRNOTAVAIL', 'ENETDOWN', 'ENETUNREACH', 'ECONNABORTED', 'ECONNRESET', 'ENOBUFS', 'EISCONN',
  'ENOTCONN', 'ESHUTDOWN', 'ETIMEDOUT', 'ECONNREFUSED', 'EHOSTDOWN', 'EHOSTUNREACH', 'EALREADY',
  'EINPROGRESS', 'ESTALE', 'EDQUOT', 'ECANCELED', 'EOWNERDEAD', 'ENOTRECOVERABLE', 'ENOMEDIUM',
  'EMEDIUMTYPE', 'EREMOTEIO', 'ENOKEY', 'EKEYEXPIRED', 'EKEYREVOKED', 'EKEYREJECTED', 'ERFKILL',
  'EHWPOISON', 'ECOMM', 'ENONET', 'EREMCHG', 'EBADFD', 'ENOTUNIQ', 'ELIBBAD', 'ESTRPIPE', 'EUCLEAN',
] as const;
export type ErrnoName = (typeof ERRNO_NAMES)[number];

const ERRNO_SET: ReadonlySet<string> = new Set(ERRNO_NAMES);
export function isErrnoName(s: string): s is ErrnoName {
  return ERRNO_SET.has(s);
}

// glibc strerror() texts → names, for shell writes that fail ("sh: write error: No such device").
const STRERROR: ReadonlyArray<[string, ErrnoName]> = [
  ['No such device or address', 'ENXIO'],
  ['No such device', 'ENODEV'],
  ['Device or resource busy', 'EBUSY'],
  ['Resource busy', 'EBUSY'],
  ['is in use', 'EBUSY'],
  ['No such file or directory', 'ENOENT'],
  ['Invalid argument', 'EINVAL'],
  ['Input/output error', 'EIO'],
  ['I/O error', 'EIO'],
  ['Operation not permitted', 'EPERM'],
  ['Permission denied', 'EACCES'],
  ['File exists', 'EEXIST'],
  ['Directory not empty', 'ENOTEMPTY'],
  ['Resource temporarily unavailable', 'EAGAIN'],
  ['Broken pipe', 'EPIPE'],
  ['Remote I/O error', 'EREMOTEIO'],
  ['Function not implemented', 'ENOSYS'],
  ['Operation not supported', 'EOPNOTSUPP'],
  ['Inappropriate ioctl for device', 'ENOTTY'],
  ['Cannot send after transport endpoint shutdown', 'ESHUTDOWN'],
  ['Read-only file system', 'EROFS'],
  ['Out of memory', 'ENOMEM'],
  ['Cannot allocate memory', 'ENOMEM'],
  ['not currently loaded', 'ENOENT'],
];

/** Best-effort errno name for a failed shell command's stderr; null when nothing matches. */
export function errnoFromMessage(stderr: string): ErrnoName | null {
  for (const [text, name] of STRERROR) if (stderr.includes(text)) return name;
  return null;
}
