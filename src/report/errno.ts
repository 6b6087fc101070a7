// errno names → what they mean, for people reading probe results (Linux x86-64 strerror texts).
const ERRNO: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  E2BIG: 'Argument list too long',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ENOTTY: 'Inappropriate ioctl for device',
  ENOSPC: 'No space left on device',
  ESPIPE: 'Illegal seek',
  EPIPE: 'Broken pipe',
  ERANGE: 'Numerical result out of range',
  EDEADLK: 'Resource deadlock avoided',
  ENOSYS: 'Function not implemented',
  ENODATA: 'No data available',
  ETIME: 'Timer expired',
  ENOLINK: 'Link has been severed',
  EPROTO: 'Protocol error',
  EOVERFLOW: 'Value too large for defined data type',
  EOPNOTSUPP: 'Operation not supported',
  ENOTCONN: 'Transport endpoint is not connected',
  ESHUTDOWN: 'Cannot send after transport endpoint shutdown',
  ETIMEDOUT: 'Connection timed out',
  EHOSTDOWN: 'Host is down',
  EALREADY: 'Operation already in progress',
  EINPROGRESS: 'Operation now in progress',
  ECANCELED: 'Operation canceled',
  ENOMEDIUM: 'No medium found',
  EREMOTEIO: 'Remote I/O error',
  ETIMEDOUT_HARNESS: 'the harness gave up waiting for the call (it may still be blocked in the kernel)',
};

/** "ENODEV (No such device)"; unknown names are returned as they are. */
export function describeErrno(name: string): string {
  const d = ERRNO[name];
  return d === undefined ? name : `${name} (${d})`;
}

export function errnoMeaning(name: string): string | undefined {
  return ERRNO[name];
}
