// QMP failures are infrastructure failures; each carries the QMP transcript up to the failure.
import { InfraError } from '../../errors.js';

export class QmpError extends InfraError {
  constructor(
    message: string,
    transcript: readonly string[],
    readonly command: string | null,
    options?: { cause?: unknown },
  ) {
    super(message, transcript, options);
  }
}

/** QEMU answered the command with {"error": {class, desc}}. */
export class QmpCommandError extends QmpError {
  constructor(
    command: string,
    readonly qmpClass: string,
    readonly desc: string,
    transcript: readonly string[],
  ) {
    super(`QMP ${command} failed: ${qmpClass}: ${desc}`, transcript, command);
  }
}

/** The connection ended (QEMU exited, socket closed) while something waited on it. */
export class QmpClosedError extends QmpError {}

/** No reply (or no event) within the bound. */
export class QmpTimeoutError extends QmpError {
  constructor(
    message: string,
    readonly timeoutMs: number,
    transcript: readonly string[],
    command: string | null,
  ) {
    super(message, transcript, command);
  }
}

/** QEMU sent something that is not QMP (bad greeting, unparseable line, reply that fails its schema). */
export class QmpProtocolError extends QmpError {}
