/**
 * A bounded tail of a byte stream (a subprocess's or container's output, an error response's
 * body): a chatty source must not grow worker memory, and the end is where the error usually
 * is. Keeps the last `limit` bytes written to it, holding at most about one chunk more, and is
 * decoded once, at the end, so multi-byte characters split across chunks survive.
 */
export class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    if (this.limit === 0) {
      this.truncated ||= chunk.length > 0;
      return;
    }
    if (chunk.length >= this.limit) {
      this.truncated ||= this.size > 0 || chunk.length > this.limit;
      // Copy so the (possibly large) source chunk is not retained through a view.
      this.chunks = [Buffer.from(chunk.subarray(chunk.length - this.limit))];
      this.size = this.limit;
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0].length >= this.limit) {
      this.size -= this.chunks[0].length;
      this.chunks.shift();
      this.truncated = true;
    }
  }

  toString(): string {
    let buf = Buffer.concat(this.chunks, this.size);
    if (buf.length > this.limit) {
      buf = buf.subarray(buf.length - this.limit);
      this.truncated = true;
    }
    if (this.truncated) {
      // The cut may have landed inside a UTF-8 sequence: drop its continuation bytes
      // rather than decode them as U+FFFD.
      let start = 0;
      while (start < buf.length && start < 3 && (buf[start] & 0xc0) === 0x80) start++;
      buf = buf.subarray(start);
    }
    return buf.toString('utf8');
  }
}
