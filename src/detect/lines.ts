// Splits a byte/char stream into lines with bounded memory: an over-long line (binary junk, a
// console without newlines) is cut at maxLineChars and the rest of it dropped.
export class LineSplitter {
  private partial = '';
  private dropping = false;

  constructor(private readonly maxLineChars = 65536) {}

  push(chunk: string): string[] {
    const lines: string[] = [];
    let pos = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', pos);
      if (nl === -1) break;
      this.append(chunk.slice(pos, nl));
      lines.push(this.partial);
      this.partial = '';
      this.dropping = false;
      pos = nl + 1;
    }
    this.append(chunk.slice(pos));
    return lines;
  }

  /** The last line if the stream did not end with a newline. */
  end(): string[] {
    const rest = this.partial;
    this.partial = '';
    this.dropping = false;
    return rest === '' ? [] : [rest];
  }

  private append(s: string): void {
    if (this.dropping || s === '') return;
    const room = this.maxLineChars - this.partial.length;
    if (s.length > room) {
      this.partial += s.slice(0, room);
      this.dropping = true;
    } else this.partial += s;
  }
}
