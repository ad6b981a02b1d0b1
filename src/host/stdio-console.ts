/**
 * The console on the host's stdio: guest output to stdout, host keystrokes or
 * piped input to the guest. On a terminal it switches to raw mode and
 * understands QEMU's escapes (Ctrl-A X quits, Ctrl-A Ctrl-A sends Ctrl-A,
 * Ctrl-A H lists them); the terminal is restored on every exit path.
 */
const CTRL_A = 0x01;

export interface ConsoleEvents {
  /** Bytes typed or piped in, for the guest. */
  onInput(bytes: Uint8Array): void;
  /** The user asked to quit (Ctrl-A X). */
  onQuit(): void;
  /** Input ended (pipe closed). */
  onEnd?(): void;
  /** Output can no longer be written (the reader of a pipe went: EPIPE; a full disk). */
  onOutputError?(why: string): void;
}

export class StdioConsole {
  private rawMode = false;
  private escape = false;
  private outBuf = new Uint8Array(65536);
  private outLen = 0;
  private readonly restoreOnExit = () => this.restore();
  private readonly onData = (chunk: Buffer) => this.handle(chunk);
  private readonly onEndOfInput = () => this.events.onEnd?.();
  /** Set once output failed: later output is dropped, and said once. */
  private outputError: string | undefined;
  private readonly onOutputFailure = (e: NodeJS.ErrnoException) => {
    if (this.outputError) return;
    this.outputError = e.code ?? e.message;
    this.events.onOutputError?.(this.outputError);
  };

  constructor(
    private readonly events: ConsoleEvents,
    private readonly input: NodeJS.ReadStream = process.stdin,
    private readonly output: NodeJS.WriteStream = process.stdout,
  ) {}

  start(): void {
    if (this.input.isTTY) {
      this.input.setRawMode(true);
      this.rawMode = true;
      process.on('exit', this.restoreOnExit);
    }
    this.input.on('data', this.onData);
    this.input.on('end', this.onEndOfInput);
    this.input.resume();
    // Kept after stop(): a write still in flight may fail later, and must not throw.
    if (!this.output.listeners('error').includes(this.onOutputFailure))
      this.output.on('error', this.onOutputFailure);
  }

  /** Guest output: buffered and written in batches (call flush at slice ends). */
  write(byte: number): void {
    if (this.outLen === this.outBuf.length) this.flush();
    this.outBuf[this.outLen++] = byte;
  }

  writeBytes(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.write(bytes[i]);
  }

  flush(): void {
    if (this.outLen === 0) return;
    if (!this.outputError) this.output.write(this.outBuf.slice(0, this.outLen));
    this.outLen = 0;
  }

  stop(): void {
    this.flush();
    this.input.off('data', this.onData);
    this.input.off('end', this.onEndOfInput);
    this.input.pause();
    this.restore();
    process.off('exit', this.restoreOnExit);
  }

  private restore(): void {
    if (this.rawMode) {
      this.rawMode = false;
      try {
        this.input.setRawMode(false);
      } catch {
        // the terminal may already be gone
      }
    }
  }

  private handle(chunk: Buffer): void {
    if (!this.rawMode) {
      this.events.onInput(new Uint8Array(chunk));
      return;
    }
    const out: number[] = [];
    for (const b of chunk) {
      if (this.escape) {
        this.escape = false;
        if (b === 0x78 || b === 0x58) {
          if (out.length) this.events.onInput(Uint8Array.from(out));
          this.events.onQuit();
          return;
        } else if (b === CTRL_A) out.push(CTRL_A);
        else if (b === 0x68 || b === 0x48) {
          this.output.write(
            '\r\nC-a x    exit vmrs\r\nC-a C-a  send C-a\r\nC-a h    this help\r\n',
          );
        }
        continue;
      }
      if (b === CTRL_A) this.escape = true;
      else out.push(b);
    }
    if (out.length) this.events.onInput(Uint8Array.from(out));
  }
}
